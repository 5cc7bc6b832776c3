//! The body of the first-party token endpoints (seed 001: `/api/v1/tokens`,
//! `/tokens/refresh`, `/tokens/switch`), in any of the formats the seed lists, read
//! into one typed struct: [`TokenBody<T>`].
//!
//! - `application/json`: a JSON object.
//! - `application/vnd.api+json`: the same object, or a JSON:API document whose
//!   `data.attributes` is that object (`data.type` is not checked).
//! - `application/x-www-form-urlencoded` and `multipart/form-data`: one text value per
//!   field name (a name given twice is refused). Multipart bodies have at most
//!   [`MAX_MULTIPART_FIELDS`] parts and each value must be UTF-8.
//!
//! Anything else is 415. Every body is bounded by `server.body_limit_bytes` (413), is
//! read before it is judged (so a refused request leaves the connection usable), and
//! every problem is a 400 with the seed error body whose cause names the field. Values
//! holding U+0000 are refused as in [`super::extract`].
//!
//! [`token_reply`] is the matching response: JSON, as `application/vnd.api+json` when
//! `Accept` asks for it, never cached (`Cache-Control: no-store`, `Pragma: no-cache`).

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use super::error::ApiError;
use super::extract::{json_kind, nul_in_json, NUL_REFUSED};
use super::AppState;

/// The JSON:API media type (jsonapi.org).
pub const JSON_API: &str = "application/vnd.api+json";

/// Parts a multipart body may have: a token request has a handful of fields.
pub const MAX_MULTIPART_FIELDS: usize = 16;

/// A token endpoint's body, read from whichever accepted format it came in.
#[derive(Debug)]
pub struct TokenBody<T>(pub T);

/// The formats a token body may come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    JsonApi,
    Form,
    Multipart,
}

impl Format {
    /// The format its `Content-Type` names, or `None` (415).
    pub fn of(headers: &HeaderMap) -> Option<Self> {
        let mime = headers
            .get(header::CONTENT_TYPE)?
            .to_str()
            .ok()?
            .parse::<mime::Mime>()
            .ok()?;
        match mime.essence_str() {
            "application/json" => Some(Format::Json),
            JSON_API => Some(Format::JsonApi),
            "application/x-www-form-urlencoded" => Some(Format::Form),
            "multipart/form-data" => Some(Format::Multipart),
            _ => None,
        }
    }
}

type LocalFuture<T> = Pin<Box<dyn Future<Output = Result<T, ApiError>>>>;

impl<T: DeserializeOwned + 'static> FromRequest for TokenBody<T> {
    type Error = ApiError;
    type Future = LocalFuture<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let format = Format::of(req.headers());
        let headers = req.headers().clone();
        let limit = req
            .app_data::<web::Data<AppState>>()
            .map_or(usize::MAX, |state| state.body_limit);
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let bytes = bytes.await.map_err(|error| {
                if error.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge(limit)
                } else {
                    ApiError::bad_request(format!("The request body could not be read: {error}"))
                }
            })?;
            let format = format.ok_or_else(|| {
                ApiError::UnsupportedMediaType(
                    "The body must be application/json, application/vnd.api+json, \
                     application/x-www-form-urlencoded or multipart/form-data."
                        .into(),
                )
            })?;
            if bytes.is_empty() {
                return Err(ApiError::bad_request("A request body is required."));
            }
            let fields = match format {
                Format::Json => json_object(&bytes, false)?,
                Format::JsonApi => json_object(&bytes, true)?,
                Format::Form => form_fields(&bytes)?,
                Format::Multipart => multipart_fields(&headers, bytes).await?,
            };
            typed(fields).map(TokenBody)
        })
    }
}

fn invalid(cause: String) -> ApiError {
    ApiError::invalid(format!("The request body is invalid: {cause}"), vec![cause])
}

/// The object of a JSON body; with `json_api`, a document's `data.attributes`.
fn json_object(bytes: &[u8], json_api: bool) -> Result<Map<String, Value>, ApiError> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|error| invalid(format!("the JSON is invalid: {error}")))?;
    let Value::Object(mut object) = value else {
        return Err(invalid(format!(
            "invalid type: {}, expected an object",
            json_kind(&value)
        )));
    };
    if !json_api || !object.contains_key("data") {
        return Ok(object);
    }
    match object.remove("data") {
        Some(Value::Object(mut data)) => match data.remove("attributes") {
            Some(Value::Object(attributes)) => Ok(attributes),
            Some(other) => Err(invalid(format!(
                "data.attributes: invalid type: {}, expected an object",
                json_kind(&other)
            ))),
            None => Err(invalid(
                "data.attributes: a JSON:API document carries its fields there".into(),
            )),
        },
        Some(other) => Err(invalid(format!(
            "data: invalid type: {}, expected an object",
            json_kind(&other)
        ))),
        None => unreachable!("checked above"),
    }
}

/// Adds one text field, refusing a name given twice.
fn add_field(fields: &mut Map<String, Value>, name: String, value: String) -> Result<(), ApiError> {
    if fields.contains_key(&name) {
        return Err(invalid(format!(
            "{}: given more than once",
            name.escape_debug()
        )));
    }
    fields.insert(name, Value::String(value));
    Ok(())
}

fn form_fields(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let mut fields = Map::new();
    for (name, value) in url::form_urlencoded::parse(bytes) {
        add_field(&mut fields, name.into_owned(), value.into_owned())?;
    }
    Ok(fields)
}

async fn multipart_fields(
    headers: &HeaderMap,
    bytes: web::Bytes,
) -> Result<Map<String, Value>, ApiError> {
    let limit = bytes.len();
    let body =
        futures_util::stream::once(async move { Ok::<_, actix_web::error::PayloadError>(bytes) });
    let mut parts = actix_multipart::Multipart::new(headers, body);
    let mut fields = Map::new();
    let mut count = 0;
    while let Some(part) = parts.next().await {
        let mut part =
            part.map_err(|error| invalid(format!("the multipart body is invalid: {error}")))?;
        count += 1;
        if count > MAX_MULTIPART_FIELDS {
            return Err(invalid(format!(
                "a multipart body has at most {MAX_MULTIPART_FIELDS} parts"
            )));
        }
        let name = part
            .name()
            .map(str::to_owned)
            .ok_or_else(|| invalid("a multipart part has no name".into()))?;
        let value = part
            .bytes(limit)
            .await
            .map_err(|_| invalid(format!("{}: too large", name.escape_debug())))?
            .map_err(|error| invalid(format!("the multipart body is invalid: {error}")))?;
        let value = String::from_utf8(value.to_vec())
            .map_err(|_| invalid(format!("{}: must be UTF-8 text", name.escape_debug())))?;
        add_field(&mut fields, name, value)?;
    }
    Ok(fields)
}

/// The fields as `T`, with the field of the first problem named.
fn typed<T: DeserializeOwned>(fields: Map<String, Value>) -> Result<T, ApiError> {
    let value = Value::Object(fields);
    if let Some(place) = nul_in_json(&value, "") {
        return Err(invalid(format!("{place}: {NUL_REFUSED}")));
    }
    serde_path_to_error::deserialize(value).map_err(|error| {
        let cause = if error.path().iter().next().is_none() {
            error.inner().to_string()
        } else {
            format!("{}: {}", error.path(), error.inner())
        };
        invalid(cause)
    })
}

/// Whether the caller's `Accept` names the JSON:API media type.
fn wants_json_api(req: &HttpRequest) -> bool {
    req.headers()
        .get_all(header::ACCEPT)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|item| {
            item.split(';')
                .next()
                .is_some_and(|media| media.trim().eq_ignore_ascii_case(JSON_API))
        })
}

/// A token endpoint's success: `body` as JSON, never stored by a cache.
pub fn token_reply<T: Serialize>(req: &HttpRequest, body: &T) -> HttpResponse {
    let content_type = if wants_json_api(req) {
        JSON_API
    } else {
        "application/json"
    };
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .insert_header((header::PRAGMA, HeaderValue::from_static("no-cache")))
        .content_type(content_type)
        .json(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct Login {
        username: String,
        password: String,
        tenant_id: Option<String>,
    }

    async fn read(content_type: &str, body: impl Into<web::Bytes>) -> Result<Login, ApiError> {
        let (req, mut payload) = TestRequest::post()
            .insert_header((header::CONTENT_TYPE, content_type))
            .set_payload(body.into())
            .to_http_parts();
        TokenBody::<Login>::from_request(&req, &mut payload)
            .await
            .map(|TokenBody(login)| login)
    }

    fn alice() -> Login {
        Login {
            username: "alice".into(),
            password: "pa ss&=".into(),
            tenant_id: Some("acme".into()),
        }
    }

    fn status(error: ApiError) -> (u16, String) {
        use actix_web::ResponseError;
        (error.status_code().as_u16(), error.to_string())
    }

    #[actix_web::test]
    async fn every_accepted_format_reads_the_same_fields() {
        let json = r#"{"username":"alice","password":"pa ss&=","tenantId":"acme"}"#;
        assert_eq!(read("application/json", json).await.unwrap(), alice());
        assert_eq!(read(JSON_API, json).await.unwrap(), alice());
        let document = format!(r#"{{"data":{{"type":"tokens","attributes":{json}}}}}"#);
        assert_eq!(read(JSON_API, document).await.unwrap(), alice());
        let form = "username=alice&password=pa+ss%26%3D&tenantId=acme";
        assert_eq!(
            read("application/x-www-form-urlencoded", form)
                .await
                .unwrap(),
            alice()
        );
        let multipart = "--XyZ\r\n\
            Content-Disposition: form-data; name=\"username\"\r\n\r\nalice\r\n\
            --XyZ\r\n\
            Content-Disposition: form-data; name=\"password\"\r\n\r\npa ss&=\r\n\
            --XyZ\r\n\
            Content-Disposition: form-data; name=\"tenantId\"\r\n\r\nacme\r\n\
            --XyZ--\r\n";
        assert_eq!(
            read("multipart/form-data; boundary=XyZ", multipart)
                .await
                .unwrap(),
            alice()
        );
    }

    #[actix_web::test]
    async fn other_media_types_are_415_and_bad_bodies_400_naming_the_field() {
        let json = r#"{"username":"alice","password":"x"}"#;
        assert_eq!(status(read("text/plain", json).await.unwrap_err()).0, 415);
        assert_eq!(
            status(read("application/xml", json).await.unwrap_err()).0,
            415
        );
        let (code, text) = status(
            read("application/json", r#"{"username":"alice"}"#)
                .await
                .unwrap_err(),
        );
        assert_eq!(code, 400);
        assert!(text.contains("password"), "{text}");
        let (code, text) = status(
            read("application/json", r#"{"username":1,"password":"x"}"#)
                .await
                .unwrap_err(),
        );
        assert_eq!(code, 400);
        assert!(text.contains("username"), "{text}");
        let (_, text) = status(
            read(
                "application/x-www-form-urlencoded",
                "username=a&password=b&extra=c",
            )
            .await
            .unwrap_err(),
        );
        assert!(text.contains("extra"), "{text}");
        let (_, text) = status(
            read(
                "application/x-www-form-urlencoded",
                "username=a&username=b&password=c",
            )
            .await
            .unwrap_err(),
        );
        assert!(text.contains("username: given more than once"), "{text}");
        let (_, text) = status(
            read(JSON_API, r#"{"data":{"attributes":[]}}"#)
                .await
                .unwrap_err(),
        );
        assert!(text.contains("data.attributes"), "{text}");
        let (_, text) = status(read("application/json", "[]").await.unwrap_err());
        assert!(text.contains("expected an object"), "{text}");
        let (_, text) = status(
            read(
                "application/json",
                "{\"username\":\"a\\u0000\",\"password\":\"b\"}",
            )
            .await
            .unwrap_err(),
        );
        assert!(text.contains("username: must not contain a NUL"), "{text}");
        assert_eq!(
            status(read("application/json", "").await.unwrap_err()).0,
            400
        );
        assert_eq!(
            status(read("multipart/form-data", "--x--").await.unwrap_err()).0,
            400,
            "no boundary"
        );
    }

    #[actix_web::test]
    async fn multipart_bodies_are_bounded_in_parts() {
        let mut body = String::new();
        for index in 0..=MAX_MULTIPART_FIELDS {
            body.push_str(&format!(
                "--b\r\nContent-Disposition: form-data; name=\"f{index}\"\r\n\r\nv\r\n"
            ));
        }
        body.push_str("--b--\r\n");
        let (code, text) = status(
            read("multipart/form-data; boundary=b", body)
                .await
                .unwrap_err(),
        );
        assert_eq!(code, 400);
        assert!(text.contains("at most"), "{text}");
    }

    #[test]
    fn the_reply_is_json_api_when_asked_and_never_cached() {
        let plain = TestRequest::default().to_http_request();
        let reply = token_reply(&plain, &serde_json::json!({"a": 1}));
        assert_eq!(
            reply.headers().get(header::CONTENT_TYPE).unwrap(),
            "application/json"
        );
        assert_eq!(
            reply.headers().get(header::CACHE_CONTROL).unwrap(),
            "no-store"
        );
        assert_eq!(reply.headers().get(header::PRAGMA).unwrap(), "no-cache");
        let asking = TestRequest::default()
            .insert_header((
                header::ACCEPT,
                "application/json;q=0.5, application/vnd.api+json",
            ))
            .to_http_request();
        let reply = token_reply(&asking, &serde_json::json!({"a": 1}));
        assert_eq!(reply.headers().get(header::CONTENT_TYPE).unwrap(), JSON_API);
    }

    mod properties {
        //! No body makes the extractor panic, and each format reads back what it
        //! carried (see `crate::properties` for the other parsers).

        use super::*;
        use proptest::prelude::*;

        fn run<F: std::future::Future>(future: F) -> F::Output {
            actix_web::rt::System::new().block_on(future)
        }

        const FORMATS: &[&str] = &[
            "application/json",
            JSON_API,
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=X",
        ];

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]

            #[test]
            fn no_body_panics(format in 0..FORMATS.len(), body in proptest::collection::vec(any::<u8>(), 0..256)) {
                let _ = run(read(FORMATS[format], body));
            }

            #[test]
            fn no_json_api_document_panics(data in "\\PC{0,60}") {
                let _ = run(read(JSON_API, format!(r#"{{"data":{data}}}"#)));
                let _ = run(read(JSON_API, format!(r#"{{"data":{{"attributes":{data}}}}}"#)));
            }

            #[test]
            fn each_format_reads_back_its_fields(
                username in "[^\u{0}]{1,30}",
                password in "[^\u{0}]{1,30}",
                tenant in proptest::option::of("[a-z0-9-]{1,20}"),
            ) {
                let login = Login { username, password, tenant_id: tenant };
                let mut object = serde_json::json!({
                    "username": login.username,
                    "password": login.password,
                });
                if let Some(tenant) = &login.tenant_id {
                    object["tenantId"] = tenant.clone().into();
                }
                let json = object.to_string();
                prop_assert!(run(read("application/json", json)).unwrap() == login);
                let document = serde_json::json!({"data": {"type": "tokens", "attributes": object}});
                prop_assert!(run(read(JSON_API, document.to_string())).unwrap() == login);
                let mut form = url::form_urlencoded::Serializer::new(String::new());
                form.append_pair("username", &login.username)
                    .append_pair("password", &login.password);
                if let Some(tenant) = &login.tenant_id {
                    form.append_pair("tenantId", tenant);
                }
                let form = form.finish();
                prop_assert!(
                    run(read("application/x-www-form-urlencoded", form)).unwrap() == login
                );
            }
        }
    }
}

//! Extractors for `/api/*`: JSON bodies, query strings, path segments and the caller's
//! credential (a bearer credential, or the portal session's cookie with its CSRF token),
//! failing with [`ApiError`] so every rejection has the documented body.
//!
//! Every string they hand on is free of U+0000: PostgreSQL cannot store it in `TEXT`, so
//! it would otherwise surface as a 500 there while SQLite stored it.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use chrono::Utc;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::{from_store, ApiError};
use super::AppState;
use crate::auth::AuthError;
pub use crate::auth::Caller;
use crate::metrics::AuthFailure;

type LocalFuture<T> = Pin<Box<dyn Future<Output = Result<T, ApiError>>>>;

/// A required JSON body.
pub struct ApiJson<T>(pub T);

/// A JSON body that may be absent (empty); when present it must be valid.
pub struct OptionalJson<T>(pub Option<T>);

impl<T: DeserializeOwned + 'static> FromRequest for ApiJson<T> {
    type Error = ApiError;
    type Future = LocalFuture<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = read_json::<T>(req, payload);
        Box::pin(async move {
            body.await?
                .map(ApiJson)
                .ok_or_else(|| ApiError::bad_request("A JSON request body is required."))
        })
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for OptionalJson<T> {
    type Error = ApiError;
    type Future = LocalFuture<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = read_json::<T>(req, payload);
        Box::pin(async move { body.await.map(OptionalJson) })
    }
}

fn read_json<T: DeserializeOwned + 'static>(
    req: &HttpRequest,
    payload: &mut Payload,
) -> LocalFuture<Option<T>> {
    let content_type_is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<mime::Mime>().ok())
        .is_some_and(|mime| {
            mime.type_() == mime::APPLICATION
                && (mime.subtype() == mime::JSON || mime.suffix() == Some(mime::JSON))
        });
    let limit = req
        .app_data::<web::Data<AppState>>()
        .map_or(usize::MAX, |state| state.body_limit);
    let bytes = web::Bytes::from_request(req, payload);
    Box::pin(async move {
        let bytes = bytes.await.map_err(|error| {
            if error.as_response_error().status_code()
                == actix_web::http::StatusCode::PAYLOAD_TOO_LARGE
            {
                ApiError::PayloadTooLarge(limit)
            } else {
                ApiError::bad_request(format!("The request body could not be read: {error}"))
            }
        })?;
        if bytes.is_empty() {
            return Ok(None);
        }
        if !content_type_is_json {
            return Err(ApiError::UnsupportedMediaType(
                "The request body must be JSON (Content-Type: application/json).".into(),
            ));
        }
        let mut value: Value = serde_json::from_slice(&bytes)
            .map_err(|error| ApiError::bad_request(format!("The JSON body is invalid: {error}")))?;
        integral_numbers_as_integers(&mut value);
        // serde would read `[]` as a struct whose fields all have defaults: an empty
        // upsert. Every `/api/*` body is an object, so anything else is refused here.
        if !value.is_object() {
            return Err(invalid_body(format!(
                "invalid type: {}, expected an object",
                json_kind(&value)
            )));
        }
        if let Some(place) = nul_in_json(&value, "") {
            return Err(invalid_body(format!("{place}: {NUL_REFUSED}")));
        }
        serde_path_to_error::deserialize(value)
            .map(Some)
            .map_err(|error| {
                let cause = if error.path().iter().next().is_none() {
                    error.inner().to_string()
                } else {
                    format!("{}: {}", error.path(), error.inner())
                };
                invalid_body(cause)
            })
    })
}

/// The problem in the message, and as the one cause, for clients that read either.
fn invalid_body(cause: String) -> ApiError {
    ApiError::invalid(format!("The JSON body is invalid: {cause}"), vec![cause])
}

pub(super) fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

pub(super) const NUL_REFUSED: &str = "must not contain a NUL character (U+0000)";

/// Rewrites every number without a fractional part (`300.0`, `3e2`) as the integer it
/// is: JSON, and the JSON Schema of the OpenAPI document, count it as one, while serde
/// would refuse it for an integer field. A fractional number stays as it is (and is
/// refused there, naming the field).
pub(super) fn integral_numbers_as_integers(value: &mut Value) {
    match value {
        Value::Number(number) if number.is_f64() => {
            let float = number.as_f64().unwrap_or(f64::NAN);
            // 2^63 and 2^64, exactly: the ranges of i64 and u64 (casts saturate beyond).
            let integral = float.fract() == 0.0;
            if integral && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&float) {
                *value = Value::from(float as i64);
            } else if integral && (0.0..1.844_674_407_370_955_2e19).contains(&float) {
                *value = Value::from(float as u64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_numbers_as_integers),
        Value::Object(fields) => fields.values_mut().for_each(integral_numbers_as_integers),
        _ => {}
    }
}

/// Where the first string holding U+0000 is in `value`, keys included, as a path like
/// `metadata.team` or `allowedScopes[1]`.
pub(super) fn nul_in_json(value: &Value, at: &str) -> Option<String> {
    match value {
        Value::String(text) if text.contains('\0') => Some(at.to_owned()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(index, item)| nul_in_json(item, &format!("{at}[{index}]"))),
        Value::Object(fields) => fields.iter().find_map(|(key, item)| {
            let here = if at.is_empty() {
                key.escape_debug().to_string()
            } else {
                format!("{at}.{}", key.escape_debug())
            };
            if key.contains('\0') {
                Some(format!("{here} (a key)"))
            } else {
                nul_in_json(item, &here)
            }
        }),
        _ => None,
    }
}

/// The query string, deserialized; unknown parameters are rejected when `T` says so.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned> FromRequest for ApiQuery<T> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let nul = url::form_urlencoded::parse(req.query_string().as_bytes())
            .find(|(name, value)| name.contains('\0') || value.contains('\0'));
        if let Some((name, _)) = nul {
            return std::future::ready(Err(ApiError::invalid(
                "The query string is invalid.",
                vec![format!("{}: {NUL_REFUSED}", name.escape_debug())],
            )));
        }
        std::future::ready(
            web::Query::<T>::from_query(req.query_string())
                .map(|query| ApiQuery(query.into_inner()))
                .map_err(|error| {
                    ApiError::bad_request(format!("The query string is invalid: {error}"))
                }),
        )
    }
}

/// The path's `{placeholders}`, deserialized (a `String`, or a tuple for several).
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned> FromRequest for ApiPath<T> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let segments = req.match_info();
        if let Some((name, _)) = segments.iter().find(|(_, value)| value.contains('\0')) {
            return std::future::ready(Err(ApiError::invalid(
                "The path is invalid.",
                vec![format!("{name}: {NUL_REFUSED}")],
            )));
        }
        std::future::ready(
            segments
                .load::<T>()
                .map(ApiPath)
                .map_err(|error| ApiError::bad_request(format!("The path is invalid: {error}"))),
        )
    }
}

/// The authenticated caller: the admin API key ([`Caller::GlobalAdmin`]) or a tenant
/// admin token ([`Caller::TenantAdmin`]), as a bearer credential or, without an
/// `Authorization` header, as the portal session's cookie with its CSRF token.
impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalFuture<Self>;

    /// Whoever [`crate::auth::Authenticator`] says the bearer credential stands for; an
    /// `Authorization` header always wins over the portal cookie.
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req
            .app_data::<web::Data<AppState>>()
            .expect("AppState is registered")
            .clone();
        let credential = if req.headers().contains_key(header::AUTHORIZATION) {
            bearer_token(req).map(|token| Credential::Bearer(token.to_owned()))
        } else {
            portal_credential(req, &state)
        };
        Box::pin(async move {
            let now = Utc::now();
            // An ended portal session (a tab left open) is no failed admin credential:
            // only a bearer one counts, for the alert on guessed keys.
            let bearer = matches!(credential, Some(Credential::Bearer(_)));
            let authenticated = match credential {
                None => {
                    return Err(ApiError::Unauthorized {
                        token_presented: false,
                    })
                }
                Some(Credential::Bearer(token)) => state.auth.authenticate(&token, now).await,
                Some(Credential::Portal { session, csrf }) => {
                    state
                        .auth
                        .portal_caller(&session, csrf.as_deref(), now)
                        .await
                }
            };
            match authenticated {
                Ok(caller) => Ok(caller),
                Err(AuthError::Invalid) => {
                    if bearer {
                        state.metrics.authentication_failed(AuthFailure::Admin);
                    }
                    Err(ApiError::Unauthorized {
                        token_presented: true,
                    })
                }
                Err(AuthError::CsrfRefused) => Err(ApiError::CsrfRefused),
                Err(AuthError::Unavailable) => Err(ApiError::Unavailable),
                Err(AuthError::Unexpected(error)) => Err(from_store(error)),
            }
        })
    }
}

/// What a call to `/api/*` authenticates with.
enum Credential {
    Bearer(String),
    /// The portal session's cookie, and the `X-CSRF-Token` header sent with it.
    Portal {
        session: String,
        csrf: Option<String>,
    },
}

/// The header the portal page sends its session's CSRF token in.
const CSRF_HEADER: &str = "x-csrf-token";

fn portal_credential(req: &HttpRequest, state: &AppState) -> Option<Credential> {
    let session = req.cookie(super::portal::cookie_name(state))?;
    let csrf = req
        .headers()
        .get(CSRF_HEADER)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    Some(Credential::Portal {
        session: session.value().to_owned(),
        csrf,
    })
}

/// The credential of `Authorization: Bearer <credential>` (scheme case-insensitive).
pub fn bearer_token(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, credential) = value.split_once(' ')?;
    let credential = credential.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !credential.is_empty()).then_some(credential)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{integral_numbers_as_integers, nul_in_json};

    #[test]
    fn integral_numbers_become_integers_and_fractions_stay() {
        let mut value = serde_json::json!({
            "a": 300.0, "b": [1e3, -2.0, 0.5], "c": {"d": -0.0}, "e": 7, "f": 1e300
        });
        integral_numbers_as_integers(&mut value);
        assert_eq!(
            value,
            serde_json::json!({"a": 300, "b": [1000, -2, 0.5], "c": {"d": 0}, "e": 7, "f": 1e300})
        );
        assert!(value["a"].is_u64() && value["b"][1].is_i64());
    }

    #[test]
    fn nul_is_found_in_nested_values_and_keys() {
        let clean = json!({"name": "a", "list": ["b", {"c": 1}], "n": null});
        assert_eq!(nul_in_json(&clean, ""), None);
        let in_value = json!({"list": ["b", {"c": "x\u{0}"}]});
        assert_eq!(nul_in_json(&in_value, "").as_deref(), Some("list[1].c"));
        let in_key = json!({"metadata": {"te\u{0}am": "a"}});
        assert_eq!(
            nul_in_json(&in_key, "").as_deref(),
            Some("metadata.te\\0am (a key)")
        );
    }
}

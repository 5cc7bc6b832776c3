//! The OpenAPI 3.1 description of the API, generated from the handlers' own
//! `#[utoipa::path]` annotations and the `ToSchema` types they read and write, so it
//! cannot drift from them: every operation under `/api/v1`, `/api/v2` and `/oauth`, the
//! server metadata, the JWKS and the probes. Served at `GET /api/v1/openapi.json`
//! (public, built once per process); a copy is kept in `docs/openapi.json`, which
//! `tests/api/openapi.rs` compares with what the server serves.
//!
//! Also here: the error responses every operation shares (one schema per error format:
//! [`super::error`]'s seed 002 body, and RFC 6749 §5.2's on `/oauth/*`), and the
//! security schemes.

use std::sync::LazyLock;

use utoipa::openapi::HttpMethod;

use actix_web::{http::header, web, HttpResponse};
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, RefOr};
use utoipa::{Modify, OpenApi, PartialSchema, ToSchema};

use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};

use super::error::ErrorBody;
use super::oauth::OAuthErrorBody;
use crate::clients::ClientDraft;
use crate::clients::REQUIRED_ON_CREATION;
use crate::ids::MAX_TENANT_ID_LEN;
use crate::users::{UserDraft, CREATION_ONLY};

/// Where the document is served.
pub const OPENAPI_PATH: &str = "/api/v1/openapi.json";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource(OPENAPI_PATH).get(openapi_json));
}

/// The document as served: built on first use, then the same bytes for every request.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    let mut document = serde_json::to_value(build()).expect("the OpenAPI document serialises");
    // The OAuth endpoints' forms are read by their own rules (RFC 6749): a parameter the
    // grant does not use is ignored whatever it holds, and a NUL in one it uses gets
    // that parameter's own error (`invalid_client`, `invalid_scope`, ...).
    let schemas = &mut document["components"]["schemas"];
    let oauth_forms: Vec<_> = OAUTH_FORMS
        .iter()
        .filter_map(|name| Some((*name, schemas.as_object_mut()?.remove(*name)?)))
        .collect();
    refuse_nul(&mut document);
    for (name, form) in oauth_forms {
        document["components"]["schemas"][name] = form;
    }
    serde_json::to_string_pretty(&document).expect("a JSON value serialises")
});

/// The schemas of the OAuth endpoints' form bodies.
const OAUTH_FORMS: [&str; 3] = ["TokenForm", "TokenOperationForm", "SignInForm"];

/// What every string schema that does not constrain its characters already gets.
const NO_NUL: &str = r"^[^\u0000]*$";

/// The extractors of `/api/*` refuse U+0000 in every string (PostgreSQL cannot store
/// it): every string schema of the document says so, as a pattern, unless a pattern or
/// an enumeration of its own already keeps it out. Examples are values, left alone.
fn refuse_nul(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Object(fields) => {
            let is_string = match fields.get("type") {
                Some(Value::String(kind)) => kind == "string",
                Some(Value::Array(kinds)) => kinds.iter().any(|kind| kind == "string"),
                _ => false,
            };
            let constrained = ["pattern", "enum", "const"]
                .iter()
                .any(|key| fields.contains_key(*key));
            if is_string && !constrained {
                fields.insert("pattern".into(), NO_NUL.into());
            }
            for (key, item) in fields.iter_mut() {
                if key != "example" && key != "examples" {
                    refuse_nul(item);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(refuse_nul),
        _ => {}
    }
}

/// The whole document: this module's part with each handler module's merged in.
fn build() -> utoipa::openapi::OpenApi {
    let mut document = ApiDoc::openapi();
    for part in [
        super::health::Api::openapi(),
        super::keys::Api::openapi(),
        super::oauth::Api::openapi(),
        super::authorize::Api::openapi(),
        super::secrets::Api::openapi(),
        super::tenant_tokens::Api::openapi(),
        super::first_party_tokens::Api::openapi(),
        super::tenants::Api::openapi(),
        super::clients::Api::openapi(),
        super::users::Api::openapi(),
        super::members::Api::openapi(),
        super::audit::Api::openapi(),
        super::user_tokens::Api::openapi(),
    ] {
        document.merge(part);
    }
    // The bodies these handlers read with `OptionalJson`: a request may leave them out.
    // `request_body` cannot say so (an `Option` content would allow `null` instead).
    for (path, method) in [
        ("/api/v1/tenants/{tenantId}", HttpMethod::Put),
        ("/api/v1/keys/rotate", HttpMethod::Post),
    ] {
        let body = document
            .paths
            .paths
            .get_mut(path)
            .and_then(|item| match method {
                HttpMethod::Put => item.put.as_mut(),
                _ => item.post.as_mut(),
            })
            .and_then(|operation| operation.request_body.as_mut())
            .unwrap_or_else(|| panic!("{path} has a request body"));
        body.required = Some(utoipa::openapi::Required::False);
    }
    document
}

/// The OpenAPI document, pretty-printed JSON (what `docs/openapi.json` holds).
pub fn document() -> &'static str {
    &DOCUMENT
}

#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "meta",
    operation_id = "getOpenApiDocument",
    responses(
        (status = 200, description = "This document (OpenAPI 3.1).", content_type = "application/json",
            body = Object),
        (status = 429, response = TooManyRequests),
    ),
    security(()),
)]
/// The OpenAPI description of this API
async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .content_type("application/json")
        .body(document())
}

/// Declares the error responses every operation refers to, each a unit type whose
/// [`utoipa::ToResponse`] is one `#/components/responses` entry with the body schema
/// `$body` and the headers listed.
macro_rules! error_responses {
    ($($(#[$doc:meta])* $name:ident: $body:ty, $description:literal
        $(, header $header:literal = $header_description:literal)*;)+) => {
        $(
            $(#[$doc])*
            pub struct $name;

            impl<'r> utoipa::ToResponse<'r> for $name {
                fn response() -> (&'r str, RefOr<Response>) {
                    let content = ContentBuilder::new().schema(Some(schema_ref::<$body>())).build();
                    #[allow(unused_mut)]
                    let mut response = ResponseBuilder::new()
                        .description($description)
                        .content("application/json", content);
                    $(
                        response = response.header(
                            $header,
                            HeaderBuilder::new()
                                .schema(String::schema())
                                .description(Some($header_description))
                                .build(),
                        );
                    )*
                    (stringify!($name), response.build().into())
                }
            }
        )+
    };
}

/// The `$ref` of a schema: what an error response's content points at, so every error
/// response shares the one error body schema.
fn schema_ref<T: ToSchema>() -> RefOr<utoipa::openapi::Schema> {
    RefOr::Ref(utoipa::openapi::Ref::from_schema_name(T::name()))
}

error_responses! {
    BadRequest: ErrorBody,
        "The request is invalid: `causes` names each problem, with the field it concerns.";
    Unauthorized: ErrorBody,
        "No credential, or one that is not (or no longer) valid.",
        header "WWW-Authenticate" = "`Bearer realm=\"tessera\"`, with `error=\"invalid_token\"` \
            when a credential was presented (RFC 6750 §3).";
    Forbidden: ErrorBody,
        "The caller may not do this (a tenant admin calling an operation of the admin API \
         key, or a portal session's call without its CSRF token).";
    NotFound: ErrorBody, "No such resource, or none the caller may see.";
    Conflict: ErrorBody, "The request conflicts with the resource's current state.";
    PayloadTooLarge: ErrorBody, "The body is larger than `server.body_limit_bytes`.";
    UnsupportedMediaType: ErrorBody, "The body is not in a media type this operation reads.";
    TooManyRequests: ErrorBody, "A rate limit refused the request before any work.",
        header "Retry-After" = "Seconds to wait before retrying.";
    ServiceUnavailable: ErrorBody, "The database cannot be reached; worth retrying.",
        header "Retry-After" = "Seconds to wait before retrying.";
    InternalError: ErrorBody,
        "A fault of the server: the body carries only the `trackingId` it was logged under.";
    /// RFC 6749 §5.2's 400.
    OAuthBadRequest: OAuthErrorBody,
        "The request is refused: `error` says why (RFC 6749 §5.2).";
    OAuthUnauthorized: OAuthErrorBody, "Client authentication failed (`invalid_client`).",
        header "WWW-Authenticate" = "`Basic realm=\"tessera\"`.";
    OAuthTooManyRequests: OAuthErrorBody,
        "A rate limit refused the request (`invalid_request`).",
        header "Retry-After" = "Seconds to wait before retrying.";
    OAuthUnavailable: OAuthErrorBody,
        "The state needed for an answer cannot be read now (`temporarily_unavailable`).",
        header "Retry-After" = "Seconds to wait before retrying.";
    OAuthServerError: OAuthErrorBody, "A fault of the server (`server_error`).";
}

/// Declares a set of error responses that many operations share, each status a `$ref`
/// to its `#/components/responses` entry, so an operation names the set once and adds
/// only the statuses of its own.
macro_rules! shared_error_responses {
    ($($(#[$doc:meta])* $name:ident { $($status:literal => $response:ident),+ $(,)? })+) => {
        $(
            $(#[$doc])*
            pub struct $name;

            impl utoipa::IntoResponses for $name {
                fn responses() -> std::collections::BTreeMap<String, RefOr<Response>> {
                    // The name each response is registered under, so a misspelt one
                    // does not compile (rather than leave a dangling `$ref`).
                    [$(($status, <$response as utoipa::ToResponse<'static>>::response().0)),+]
                        .into_iter()
                        .map(|(status, name)| {
                            (status.to_owned(), RefOr::Ref(utoipa::openapi::Ref::from_response_name(name)))
                        })
                        .collect()
                }
            }
        )+
    };
}

shared_error_responses! {
    /// What any operation of the admin API may answer: a credential it needs, a body or
    /// parameters it checks, its rate limits, and the database behind it.
    ApiErrors {
        "400" => BadRequest, "401" => Unauthorized, "403" => Forbidden,
        "429" => TooManyRequests, "500" => InternalError, "503" => ServiceUnavailable,
    }
    /// What an operation of the token API may answer: as [`ApiErrors`], but no 403 (its
    /// credential is a user's own token, or none).
    TokenApiErrors {
        "400" => BadRequest, "401" => Unauthorized, "429" => TooManyRequests,
        "500" => InternalError, "503" => ServiceUnavailable,
    }
    /// What any OAuth endpoint that authenticates its client may answer (RFC 6749 §5.2).
    OAuthErrors {
        "400" => OAuthBadRequest, "401" => OAuthUnauthorized, "429" => OAuthTooManyRequests,
        "500" => OAuthServerError, "503" => OAuthUnavailable,
    }
}

/// `{"success": true}`: the answer of a deletion (seed 004's 200 without data).
#[derive(serde::Serialize, ToSchema)]
pub struct Success {
    #[schema(example = true)]
    success: bool,
}

impl Success {
    pub const TRUE: Success = Success { success: true };
}

/// The body of `POST /api/v1/oauth-clients`: [`ClientDraft`]'s fields, the
/// [`REQUIRED_ON_CREATION`] ones required, and `tenantId`. One schema derived from the
/// other, as `ClientBody` reads one body from the other.
pub enum NewOAuthClient {}

impl PartialSchema for NewOAuthClient {
    fn schema() -> RefOr<Schema> {
        let mut object = match ClientDraft::schema() {
            RefOr::T(Schema::Object(object)) => object,
            other => return other,
        };
        let tenant_id = ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
            .description(Some(
                "The tenant the client belongs to: required with the admin API key; a tenant \
                 admin's own tenant (which it may name) when not given.",
            ))
            .min_length(Some(1))
            .max_length(Some(MAX_TENANT_ID_LEN))
            .pattern(Some(r"^[A-Za-z0-9._-]*[A-Za-z0-9_-][A-Za-z0-9._-]*$"))
            .examples(["acme"]);
        object
            .properties
            .insert("tenantId".into(), tenant_id.into());
        object.required = REQUIRED_ON_CREATION.map(str::to_owned).to_vec();
        object.description = Some(
            "A client to create: the fields of `OAuthClientChanges`, some required, and \
             `tenantId`. `null` and a field left out both mean \"not given\"."
                .into(),
        );
        object.example = None;
        object.examples = vec![serde_json::json!({
            "tenantId": "acme",
            "businessName": "Acme-Solar",
            "homepageUrl": "http://localhost:12345",
            "name": "Demo API Client",
            "description": "An API client used for the authorization_code, refresh_token, and client_credentials flows",
            "accessTokenValiditySeconds": 750,
            "refreshTokenValiditySeconds": 86400,
            "redirectUris": ["http://localhost:12345"],
            "grantTypes": ["AUTHORIZATION_CODE", "CLIENT_CREDENTIALS", "REFRESH_TOKEN"],
            "accessType": "OFFLINE",
            "type": "CONFIDENTIAL",
            "internal": false,
            "enabled": true,
            "strongAuthSupported": false,
            "claimsSupported": false
        })];
        RefOr::T(Schema::Object(object))
    }
}

impl ToSchema for NewOAuthClient {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        <ClientDraft as ToSchema>::schemas(schemas);
    }
}

/// The body of `PATCH /api/v1/users/{userId}`: [`UserDraft`]'s fields but those only a
/// creation sends ([`CREATION_ONLY`]), every one optional.
pub enum UserChanges {}

impl PartialSchema for UserChanges {
    fn schema() -> RefOr<Schema> {
        let mut object = match UserDraft::schema() {
            RefOr::T(Schema::Object(object)) => object,
            other => return other,
        };
        for field in CREATION_ONLY {
            object.properties.remove(field);
        }
        object.required.clear();
        object.description = Some(
            "Changes to a user's profile: a field left out keeps its value, `null` clears \
             it (not `enabled`)."
                .into(),
        );
        object.example = Some(serde_json::json!({"displayName": "Ada King", "enabled": false}));
        RefOr::T(Schema::Object(object))
    }
}

impl ToSchema for UserChanges {}

/// `{tenantId}` in a path: what [`crate::tenants::TenantId::parse`] accepts (less
/// ids made only of dots, which a client would resolve as a relative path).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // describes a path segment, read as `ApiPath<String>`
pub struct TenantIdParam {
    /// The tenant's id: 1 to 64 of `A-Z a-z 0-9 . _ -`; `clients` is reserved.
    #[param(
        rename = "tenantId",
        min_length = 1,
        max_length = 64,
        pattern = r"^[A-Za-z0-9._-]*[A-Za-z0-9_-][A-Za-z0-9._-]*$",
        example = "acme"
    )]
    tenant_id: String,
}

/// `{clientId}` (or `{id}`) in a path: what [`crate::clients::ClientId::parse`] accepts,
/// less ids made only of dots.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // describes a path segment, read as `ApiPath<String>`
pub struct ClientIdParam {
    /// The OAuth client's id: 1 to 128 of `A-Z a-z 0-9 . _ ~ -`.
    #[param(
        rename = "clientId",
        min_length = 1,
        max_length = 128,
        pattern = r"^[A-Za-z0-9._~-]*[A-Za-z0-9_~-][A-Za-z0-9._~-]*$",
        example = "hubster.portal.api"
    )]
    client_id: String,
}

/// `{id}` of `/api/v1/oauth-clients/{id}`: a client id, as [`ClientIdParam`].
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // describes a path segment, read as `ApiPath<String>`
pub struct OAuthClientIdParam {
    /// The OAuth client's id: 1 to 128 of `A-Z a-z 0-9 . _ ~ -`.
    #[param(
        min_length = 1,
        max_length = 128,
        pattern = r"^[A-Za-z0-9._~-]*[A-Za-z0-9_~-][A-Za-z0-9._~-]*$",
        example = "hubster.portal.api"
    )]
    id: String,
}

/// `{userId}` in a path: what [`crate::users::UserId::parse`] accepts.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // describes a path segment, read as `ApiPath<String>`
pub struct UserIdParam {
    /// The user's id: 32 lower-case hexadecimal digits.
    #[param(
        rename = "userId",
        min_length = 32,
        max_length = 32,
        pattern = "^[0-9a-f]{32}$",
        example = "0f8fad5bd9cb469fa16570867728950e"
    )]
    user_id: String,
}

/// The security schemes operations name: who may call them.
struct SecuritySchemes;

/// The name of each scheme, as operations name them in `security(...)`.
const ADMIN_API_KEY: &str = "adminApiKey";
const TENANT_ADMIN_TOKEN: &str = "tenantAdminToken";
const USER_ACCESS_TOKEN: &str = "userAccessToken";
const CLIENT_BASIC: &str = "clientBasic";

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = |format: Option<&str>, description: &str| {
            let mut http = HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(description));
            if let Some(format) = format {
                http = http.bearer_format(format);
            }
            SecurityScheme::Http(http.build())
        };
        components.add_security_scheme(
            ADMIN_API_KEY,
            bearer(
                None,
                "The admin API key (`admin.api_key`): the global admin, over every tenant.",
            ),
        );
        components.add_security_scheme(
            TENANT_ADMIN_TOKEN,
            bearer(
                Some("JWT"),
                "A tenant admin token (GET /api/v1/tenants/{tenantId}/token): an admin of \
                 its one tenant. The portal's session cookie, with its CSRF token in \
                 `X-CSRF-Token`, stands for one too.",
            ),
        );
        components.add_security_scheme(
            USER_ACCESS_TOKEN,
            bearer(
                Some("JWT"),
                "A user's access token (POST /api/v1/tokens), while its session lasts.",
            ),
        );
        components.add_security_scheme(
            CLIENT_BASIC,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "`client_secret_basic` (RFC 6749 §2.3.1): the client id and secret, \
                         each form-urlencoded. Without it, `client_id` and `client_secret` go \
                         in the body (`client_secret_post`), or a public client sends its \
                         `client_id` alone.",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tessera",
        version = env!("CARGO_PKG_VERSION"),
        description = "Tessera, an OAuth 2.0 / JWT authorization server: the OAuth endpoints \
            (`/oauth/*`, RFC 6749, 7009, 7662, 8414), the token API for first-party \
            applications (`/api/v1/tokens`), and the admin API over tenants, OAuth clients, \
            users, members, signing keys and the audit trail.\n\n\
            Every error of `/api/*` has the `ErrorBody` schema (its `trackingId` is the \
            request's `X-Request-Id`); every error of `/oauth/*` has RFC 6749 §5.2's \
            `OAuthErrorBody`. Instants are RFC 3339 in UTC with milliseconds.",
        license(name = "Apache-2.0"),
    ),
    paths(
        openapi_json,
    ),
    components(schemas(ErrorBody, OAuthErrorBody), responses(
        BadRequest, Unauthorized, Forbidden, NotFound, Conflict, PayloadTooLarge,
        UnsupportedMediaType, TooManyRequests, ServiceUnavailable, InternalError,
        OAuthBadRequest, OAuthUnauthorized, OAuthTooManyRequests, OAuthUnavailable,
        OAuthServerError,
    )),
    modifiers(&SecuritySchemes),
    tags(
        (name = "oauth", description = "The OAuth 2.0 endpoints (RFC 6749, 7009, 7662)."),
        (name = "metadata", description = "What the server serves, and its public keys."),
        (name = "tokens", description = "The token API for first-party applications (seeds 001 and 003)."),
        (name = "tenants", description = "Tenants (seed 000)."),
        (name = "tenant-tokens", description = "Tenant admin tokens and portal links (seed 000)."),
        (name = "oauth-clients", description = "OAuth clients (seed 002)."),
        (name = "client-secrets", description = "An OAuth client's named secrets (seed 004)."),
        (name = "users", description = "Users."),
        (name = "members", description = "A tenant's members and their roles."),
        (name = "keys", description = "Signing keys."),
        (name = "audit", description = "The audit trail."),
        (name = "health", description = "Liveness and readiness probes."),
        (name = "meta", description = "This description of the API."),
    ),
)]
struct ApiDoc;

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    fn document_json() -> Value {
        serde_json::from_str(document()).unwrap()
    }

    /// Every `$ref` in `value`, with where it was found.
    fn refs<'a>(value: &'a Value, at: String, found: &mut Vec<(String, &'a str)>) {
        match value {
            Value::Object(fields) => {
                for (key, item) in fields {
                    match (key.as_str(), item) {
                        ("$ref", Value::String(target)) => found.push((at.clone(), target)),
                        _ => refs(item, format!("{at}/{key}"), found),
                    }
                }
            }
            Value::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    refs(item, format!("{at}/{index}"), found);
                }
            }
            _ => {}
        }
    }

    #[test]
    fn every_ref_resolves() {
        let document = document_json();
        let mut found = Vec::new();
        refs(&document, String::new(), &mut found);
        assert!(!found.is_empty());
        for (at, target) in found {
            let pointer = target
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("{at}: {target} is not local"));
            assert!(
                document.pointer(pointer).is_some(),
                "{at}: {target} does not resolve"
            );
        }
    }

    /// Every operation of the document, with its path and method.
    fn operations(document: &Value) -> Vec<(String, String, &Value)> {
        let mut operations = Vec::new();
        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                operations.push((path.clone(), method.clone(), operation));
            }
        }
        operations
    }

    #[test]
    fn operations_have_unique_ids_and_name_only_known_schemes() {
        let document = document_json();
        let schemes = document["components"]["securitySchemes"]
            .as_object()
            .unwrap();
        let mut ids = std::collections::HashSet::new();
        for (path, method, operation) in operations(&document) {
            let id = operation["operationId"].as_str().unwrap();
            assert!(ids.insert(id.to_owned()), "{method} {path}: {id} twice");
            let security = operation["security"].as_array();
            let security = security.unwrap_or_else(|| panic!("{method} {path}: no security"));
            for requirement in security {
                for scheme in requirement.as_object().unwrap().keys() {
                    assert!(schemes.contains_key(scheme), "{method} {path}: {scheme}");
                }
            }
        }
    }

    /// The number at `pointer` (into `#/components/schemas`) in the document.
    fn number(document: &Value, pointer: &str) -> u64 {
        let at = format!("/components/schemas/{pointer}");
        document
            .pointer(&at)
            .and_then(Value::as_u64)
            .unwrap_or_else(|| panic!("{at} is a number"))
    }

    /// The limits the document states are the ones the parsers check: the attributes
    /// spell them as literals, so each is compared with its constant here.
    #[test]
    fn stated_limits_are_the_parsers_limits() {
        use crate::clients;
        let document = document_json();
        let limits: &[(&str, u64)] = &[
            (
                "TenantChanges/properties/name/maxLength",
                crate::tenants::MAX_NAME_LEN as u64,
            ),
            (
                "OAuthClientChanges/properties/name/maxLength",
                clients::MAX_NAME_LEN as u64,
            ),
            (
                "OAuthClientChanges/properties/description/maxLength",
                clients::MAX_DESCRIPTION_LEN as u64,
            ),
            (
                "OAuthClientChanges/properties/businessName/maxLength",
                clients::MAX_NAME_LEN as u64,
            ),
            (
                "OAuthClientChanges/properties/homepageUrl/maxLength",
                clients::MAX_URL_LEN as u64,
            ),
            (
                "OAuthClientChanges/properties/accessTokenValiditySeconds/maximum",
                u64::from(clients::MAX_ACCESS_TOKEN_VALIDITY_SECONDS),
            ),
            (
                "OAuthClientChanges/properties/refreshTokenValiditySeconds/maximum",
                u64::from(clients::MAX_REFRESH_TOKEN_VALIDITY_SECONDS),
            ),
            (
                "OAuthClientChanges/properties/redirectUris/maxItems",
                clients::MAX_REDIRECT_URIS as u64,
            ),
            (
                "OAuthClientChanges/properties/claims/maxItems",
                clients::MAX_CLAIMS as u64,
            ),
            (
                "OAuthClientChanges/properties/allowedScopes/maxItems",
                clients::MAX_SCOPES as u64,
            ),
            (
                "Claim/properties/type/maxLength",
                clients::MAX_CLAIM_TYPE_LEN as u64,
            ),
            (
                "Claim/properties/value/maxLength",
                clients::MAX_CLAIM_VALUE_LEN as u64,
            ),
            (
                "NewClientSecret/properties/name/maxLength",
                clients::secrets::MAX_SECRET_NAME_LEN as u64,
            ),
            (
                "NewUser/properties/username/maxLength",
                crate::users::MAX_USERNAME_LEN as u64,
            ),
            (
                "NewUser/properties/password/minLength",
                crate::users::MIN_PASSWORD_LEN as u64,
            ),
            (
                "NewUser/properties/password/maxLength",
                crate::users::MAX_PASSWORD_LEN as u64,
            ),
            (
                "NewPassword/properties/password/maxLength",
                crate::users::MAX_PASSWORD_LEN as u64,
            ),
            (
                "NewUser/properties/displayName/maxLength",
                crate::users::MAX_DISPLAY_NAME_LEN as u64,
            ),
            (
                "NewUser/properties/email/maxLength",
                crate::users::MAX_EMAIL_LEN as u64,
            ),
            (
                "NewUser/properties/defaultTenantId/maxLength",
                crate::ids::MAX_TENANT_ID_LEN as u64,
            ),
            (
                "TokenRequest/properties/tenantId/maxLength",
                crate::ids::MAX_TENANT_ID_LEN as u64,
            ),
            (
                "TokenRequest/properties/clientId/maxLength",
                crate::ids::MAX_CLIENT_ID_LEN as u64,
            ),
            (
                "IdleTokenTimeoutChange/properties/idleTokenTimeoutSeconds/maximum",
                crate::tokens::MAX_IDLE_TIMEOUT_SECONDS,
            ),
        ];
        for (pointer, limit) in limits {
            assert_eq!(number(&document, pointer), *limit, "{pointer}");
        }
        let parameter = |path: &str, method: &str, name: &str| -> Value {
            document["paths"][path][method]["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .find(|parameter| parameter["name"] == name)
                .unwrap_or_else(|| panic!("{method} {path} has {name}"))["schema"]
                .clone()
        };
        let tenant = parameter("/api/v1/tenants/{tenantId}", "get", "tenantId");
        assert_eq!(tenant["maxLength"], crate::ids::MAX_TENANT_ID_LEN);
        let client = parameter("/api/v1/oauth-clients/{id}", "get", "id");
        assert_eq!(client["maxLength"], crate::ids::MAX_CLIENT_ID_LEN);
        let limit = parameter("/api/v1/users", "get", "limit");
        assert_eq!(limit["maximum"], super::super::page::MAX_LIMIT);
        let search = parameter("/api/v1/oauth-clients", "get", "search");
        assert_eq!(search["maxLength"], clients::ClientSearch::MAX_LEN);
    }

    /// Every code the three OAuth endpoints can answer with is in `OAuthErrorBody`'s enum.
    #[test]
    fn oauth_error_codes_are_all_listed() {
        use crate::oauth::OAuthError;
        let text = String::new;
        let answered = [
            OAuthError::InvalidRequest(text()),
            OAuthError::InvalidClient { used_basic: true },
            OAuthError::InvalidGrant(text()),
            OAuthError::UnauthorizedClient(text()),
            OAuthError::UnsupportedGrantType(text()),
            OAuthError::InvalidScope(text()),
            OAuthError::InvalidTarget(text()),
            OAuthError::RateLimited {
                retry_after_seconds: 1,
            },
            OAuthError::Unavailable {
                retry_after_seconds: 1,
            },
            OAuthError::ServerError,
        ];
        let document = document_json();
        let listed =
            &document["components"]["schemas"]["OAuthErrorBody"]["properties"]["error"]["enum"];
        for error in answered {
            assert!(
                listed
                    .as_array()
                    .unwrap()
                    .contains(&Value::from(error.to_string())),
                "{error}"
            );
        }
    }

    #[test]
    fn it_is_openapi_3_1_with_the_package_version() {
        let document = document_json();
        assert!(document["openapi"].as_str().unwrap().starts_with("3.1."));
        assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(document["info"]["title"], "Tessera");
    }
}

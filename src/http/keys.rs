//! The JWKS (RFC 7517 §5) and the admin API over signing keys.

use actix_web::http::header::{self, ETag, EntityTag, Header, IfNoneMatch};
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::error::{from_store, ApiError};
use super::extract::{ApiPath, Caller, OptionalJson};
use super::openapi as doc;
use super::{audit_context, rfc3339, AppState};
use crate::keys::{KeyView, RotateOutcome};

/// This module's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(jwks, list, rotate, revoke))]
pub(super) struct Api;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/.well-known/jwks.json").get(jwks))
        .service(super::resource("/api/v1/keys").get(list))
        .service(super::resource("/api/v1/keys/rotate").post(rotate))
        .service(super::resource("/api/v1/keys/{kid}").delete(revoke));
}

/// The JWKS as [`crate::keys`] writes it (RFC 7517 §5): this type only describes it.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = JsonWebKeySet)]
struct JwksSchema {
    /// The public keys that verify tokens: pending, active and retired ones.
    keys: Vec<JwkSchema>,
}

/// A public key (RFC 7517 §4): EC P-256 (`x`, `y`), OKP Ed25519 (`x`) or RSA (`n`, `e`).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = JsonWebKey, example = json!({
    "kty": "EC", "crv": "P-256", "kid": "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs",
    "alg": "ES256", "use": "sig",
    "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
    "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
}))]
struct JwkSchema {
    #[schema(pattern = "^(EC|OKP|RSA)$")]
    kty: String,
    /// The key id, as in tokens' `kid` header.
    kid: String,
    #[schema(pattern = "^(ES256|EdDSA|RS256)$")]
    alg: String,
    #[schema(rename = "use", pattern = "^sig$")]
    key_use: String,
    /// `P-256` or `Ed25519`.
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
    n: Option<String>,
    e: Option<String>,
}

/// The signing keys' public halves (JWKS)
///
/// Served from memory, with an `ETag`: `If-None-Match` gets a 304.
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "metadata",
    operation_id = "getJwks",
    params(("If-None-Match" = Option<String>, Header, description = "An `ETag` seen before.")),
    responses(
        (status = 200, description = "The key set.", body = JwksSchema, headers(
            ("ETag" = String, description = "The key set's version."),
            ("Cache-Control" = String, description = "`public, max-age=…`"),
        )),
        (status = 304, description = "The key set is the one `If-None-Match` named."),
    ),
    security(()),
)]
// Served from memory: never touches the database, so it keeps answering with the last
// known keys when the database is down.
async fn jwks(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let set = state.keys.key_set();
    let etag = EntityTag::new_strong(set.etag().trim_matches('"').to_owned());
    let cache_control = format!("public, max-age={}", state.jwks_max_age_seconds);
    let not_modified = match IfNoneMatch::parse(&req) {
        Ok(IfNoneMatch::Any) => true,
        Ok(IfNoneMatch::Items(tags)) => tags.iter().any(|tag| tag.weak_eq(&etag)),
        Err(_) => false,
    };
    let mut response = if not_modified {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::CACHE_CONTROL, cache_control))
        .insert_header(ETag(etag));
    if not_modified {
        response.finish()
    } else {
        response
            .content_type("application/json")
            .body(set.jwks().to_vec())
    }
}

/// A signing key, without anything private.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = SigningKey, example = json!({
    "kid": "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs",
    "alg": "ES256",
    "state": "active",
    "origin": "generated",
    "createdAt": "2026-11-01T00:00:00.000Z",
    "activatesAt": "2026-11-02T00:00:00.000Z",
    "retiresAt": null,
    "expiresAt": null,
    "revokedAt": null
}))]
pub struct KeyResponse {
    kid: String,
    #[schema(value_type = crate::keys::Algorithm)]
    alg: &'static str,
    state: crate::keys::KeyState,
    /// `generated` keys sign in turn; `imported` ones only verify.
    #[schema(value_type = String, pattern = "^(generated|imported)$")]
    origin: &'static str,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    activates_at: String,
    #[schema(format = DateTime)]
    retires_at: Option<String>,
    #[schema(format = DateTime)]
    expires_at: Option<String>,
    #[schema(format = DateTime)]
    revoked_at: Option<String>,
}

/// The signing keys.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = SigningKeys)]
struct KeyList {
    keys: Vec<KeyResponse>,
}

impl From<KeyView> for KeyResponse {
    fn from(key: KeyView) -> Self {
        Self {
            kid: key.kid,
            alg: key.alg.as_str(),
            state: key.state,
            origin: key.origin,
            created_at: rfc3339(key.created_at),
            activates_at: rfc3339(key.activates_at),
            retires_at: key.retires_at.map(rfc3339),
            expires_at: key.expires_at.map(rfc3339),
            revoked_at: key.revoked_at.map(rfc3339),
        }
    }
}

/// List the signing keys
///
/// The admin API key's only.
#[utoipa::path(
    get,
    path = "/api/v1/keys",
    tag = "keys",
    operation_id = "listSigningKeys",
    responses(
        (status = 200, description = "The keys.", body = KeyList),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 429, response = doc::TooManyRequests),
        (status = 500, response = doc::InternalError),
        (status = 503, response = doc::ServiceUnavailable),
    ),
    security(("adminApiKey" = [])),
)]
#[tracing::instrument(skip_all)]
async fn list(caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    caller.require_global()?;
    let keys = state.keys.list(Utc::now()).await.map_err(from_store)?;
    let keys: Vec<KeyResponse> = keys.into_iter().map(KeyResponse::from).collect();
    Ok(HttpResponse::Ok().json(KeyList { keys }))
}

/// How to rotate.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"immediate": false}))]
struct RotateBody {
    /// `true`: the new key signs at once (the old one retires); else it is published
    /// first and activates later.
    #[serde(default)]
    immediate: bool,
}

/// Rotate the signing key
///
/// Creates the next key. The body may be empty. The admin API key's only.
#[utoipa::path(
    post,
    path = "/api/v1/keys/rotate",
    tag = "keys",
    operation_id = "rotateSigningKey",
    request_body(content = RotateBody, content_type = "application/json",
        description = "How to rotate. The server also takes an empty body (not immediate)."),
    responses(
        (status = 201, description = "The new key.", body = KeyResponse),
        doc::ApiErrors,
        (status = 409, response = doc::Conflict),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 415, response = doc::UnsupportedMediaType),
    ),
    security(("adminApiKey" = [])),
)]
#[tracing::instrument(skip_all)]
async fn rotate(
    caller: Caller,
    state: web::Data<AppState>,
    OptionalJson(body): OptionalJson<RotateBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require_global()?;
    let immediate = body.unwrap_or_default().immediate;
    let now = Utc::now();
    match state
        .keys
        .rotate(now, immediate, &audit_context(&caller))
        .await
        .map_err(from_store)?
    {
        RotateOutcome::Started(kid) => {
            let key = find(&state, &kid).await?;
            Ok(HttpResponse::Created().json(KeyResponse::from(key)))
        }
        RotateOutcome::AlreadyPending(kid) => Err(ApiError::Conflict(format!(
            "A rotation is already under way: key {kid} is pending. Use {{\"immediate\": true}} \
             to replace the active key now."
        ))),
    }
}

/// Revoke a signing key
///
/// Tokens it signed stop verifying. The admin API key's only.
#[utoipa::path(
    delete,
    path = "/api/v1/keys/{kid}",
    tag = "keys",
    operation_id = "revokeSigningKey",
    params(("kid" = String, Path, description = "The key's id.", min_length = 1)),
    responses(
        (status = 200, description = "The key, revoked.", body = KeyResponse),
        doc::ApiErrors,
        (status = 404, response = doc::NotFound),
    ),
    security(("adminApiKey" = [])),
)]
#[tracing::instrument(skip_all, fields(kid = %crate::telemetry::untrusted(&path)))]
async fn revoke(
    caller: Caller,
    state: web::Data<AppState>,
    ApiPath(path): ApiPath<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require_global()?;
    if !state
        .keys
        .revoke(&path, Utc::now(), &audit_context(&caller))
        .await
        .map_err(from_store)?
    {
        return Err(ApiError::NotFound(format!(
            "No unrevoked signing key has kid '{path}'."
        )));
    }
    let key = find(&state, &path).await?;
    Ok(HttpResponse::Ok().json(KeyResponse::from(key)))
}

async fn find(state: &AppState, kid: &str) -> Result<KeyView, ApiError> {
    state
        .keys
        .list(Utc::now())
        .await
        .map_err(from_store)?
        .into_iter()
        .find(|key| key.kid == kid)
        .ok_or_else(|| ApiError::Unexpected(anyhow::anyhow!("key {kid} vanished")))
}

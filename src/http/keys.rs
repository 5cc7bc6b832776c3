//! The JWKS (RFC 7517 §5) and the admin API over signing keys.

use actix_web::http::header::{self, ETag, EntityTag, Header, IfNoneMatch};
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::error::{from_store, ApiError};
use super::extract::{ApiPath, Caller, OptionalJson};
use super::{audit_context, rfc3339, AppState};
use crate::keys::{KeyView, RotateOutcome};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/.well-known/jwks.json").route(web::get().to(jwks)))
        .service(super::resource("/api/v1/keys").route(web::get().to(list)))
        .service(super::resource("/api/v1/keys/rotate").route(web::post().to(rotate)))
        .service(super::resource("/api/v1/keys/{kid}").route(web::delete().to(revoke)));
}

/// Served from memory: never touches the database, so it keeps answering with the
/// last known keys when the database is down.
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

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyResponse {
    kid: String,
    alg: &'static str,
    state: crate::keys::KeyState,
    origin: &'static str,
    created_at: String,
    activates_at: String,
    retires_at: Option<String>,
    expires_at: Option<String>,
    revoked_at: Option<String>,
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

#[tracing::instrument(skip_all)]
async fn list(caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    caller.require_global()?;
    let keys = state.keys.list(Utc::now()).await.map_err(from_store)?;
    let keys: Vec<KeyResponse> = keys.into_iter().map(KeyResponse::from).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "keys": keys })))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RotateBody {
    #[serde(default)]
    immediate: bool,
}

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

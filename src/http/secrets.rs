//! `/api/v1/tenants/clients/{clientId}` (seed 004): a client with its scopes, claims and
//! masked secrets; adding a named secret (shown once) and deleting one.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::clients::{client_error, client_id, client_not_found};
use super::error::{from_store, ApiError};
use super::extract::{ApiJson, ApiPath, Caller};
use super::{audit_context, rfc3339, AppState};
use crate::changes::Change;
use crate::clients::secrets::{masked, parse_expiration, ClientSecret, SecretName, StoredSecret};
use crate::clients::{self, AddSecretError, Claim, DeleteSecretError, RequestedSecret};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/api/v1/tenants/clients/{clientId}").route(web::get().to(get)))
        .service(
            super::resource("/api/v1/tenants/clients/{clientId}/tokens").route(web::post().to(add)),
        )
        .service(
            super::resource("/api/v1/tenants/clients/{clientId}/tokens/{tokenId}")
                .route(web::delete().to(delete)),
        );
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretResponse {
    id: i64,
    name: String,
    /// The display prefix and `...`; the whole secret only in the response that made it.
    token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    expiration: Option<String>,
    created_at: String,
    last_used_at: Option<String>,
}

impl SecretResponse {
    /// The response that made the secret: the whole secret, this once.
    pub fn created(stored: StoredSecret, secret: &ClientSecret) -> Self {
        let mut response = Self::from(stored);
        response.token = secret.expose().to_owned();
        response
    }
}

impl From<StoredSecret> for SecretResponse {
    fn from(secret: StoredSecret) -> Self {
        Self {
            id: secret.id,
            name: secret.name,
            token: masked(&secret.display_prefix),
            expiration: secret.expires_at.map(rfc3339),
            created_at: rfc3339(secret.created_at),
            last_used_at: secret.last_used_at.map(rfc3339),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ClientSecretsResponse {
    tenant_id: String,
    client_id: String,
    name: String,
    enabled: bool,
    allowed_scopes: Vec<String>,
    claims: Vec<Claim>,
    secrets: Vec<SecretResponse>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddBody {
    name: Option<String>,
    expiration: Option<String>,
}

#[tracing::instrument(skip_all, fields(client_id = %crate::telemetry::untrusted(&path)))]
async fn get(
    caller: Caller,
    state: web::Data<AppState>,
    ApiPath(path): ApiPath<String>,
) -> Result<HttpResponse, ApiError> {
    let id = client_id(&path)?;
    let clients::ClientWithSecrets { client, secrets } =
        clients::client_with_secrets(&state.store, &caller.scope(None), &id)
            .await
            .map_err(|error| client_error(error, &id))?;
    Ok(HttpResponse::Ok().json(ClientSecretsResponse {
        tenant_id: client.tenant_id.to_string(),
        client_id: client.id.to_string(),
        name: client.settings.name,
        enabled: client.settings.enabled,
        allowed_scopes: client
            .settings
            .allowed_scopes
            .iter()
            .map(ToString::to_string)
            .collect(),
        claims: client.settings.claims,
        secrets: secrets.into_iter().map(SecretResponse::from).collect(),
    }))
}

/// Both fields checked at once: every problem is reported.
fn parse_add(body: &AddBody, now: DateTime<Utc>) -> Result<RequestedSecret, ApiError> {
    let name = match &body.name {
        Some(name) => SecretName::parse(name),
        None => Err("name: is required".to_owned()),
    };
    let expiration = body
        .expiration
        .as_deref()
        .map(|raw| parse_expiration(raw, now))
        .transpose();
    match (name, expiration) {
        (Ok(name), Ok(expires_at)) => Ok(RequestedSecret { name, expires_at }),
        (name, expiration) => Err(ApiError::invalid(
            "The secret is invalid.",
            name.err().into_iter().chain(expiration.err()).collect(),
        )),
    }
}

#[tracing::instrument(skip_all, fields(client_id = %crate::telemetry::untrusted(&path)))]
async fn add(
    caller: Caller,
    state: web::Data<AppState>,
    ApiPath(path): ApiPath<String>,
    ApiJson(body): ApiJson<AddBody>,
) -> Result<HttpResponse, ApiError> {
    let now = Utc::now();
    let requested = parse_add(&body, now)?;
    let id = client_id(&path)?;
    let audit = audit_context(&caller);
    let (stored, secret) = clients::add_secret(
        &state.store,
        &state.client_policy,
        &caller.scope(None),
        &id,
        requested,
        &audit,
        now,
    )
    .await
    .map_err(|error| match error {
        AddSecretError::PublicClient => {
            ApiError::bad_request("A PUBLIC client has no secrets: it uses PKCE.")
        }
        AddSecretError::TooMany(max) => ApiError::Conflict(format!(
            "The client has {max} secrets, the most it may have \
                     (limits.secrets_per_client); delete one first."
        )),
        AddSecretError::DuplicateName(name) => {
            ApiError::Conflict(format!("The client already has a secret named '{name}'."))
        }
        AddSecretError::ClientMissing => client_not_found(&id),
        AddSecretError::Unexpected(error) => from_store(error),
    })?;
    state.applied(Change::Client(id)).await;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(SecretResponse::created(stored, &secret)))
}

#[tracing::instrument(skip_all, fields(client_id = %crate::telemetry::untrusted(&path.0)))]
async fn delete(
    caller: Caller,
    state: web::Data<AppState>,
    ApiPath(path): ApiPath<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (raw_client, raw_secret) = path;
    let id = client_id(&raw_client)?;
    let secret_not_found =
        || ApiError::NotFound(format!("OAuth client '{id}' has no secret '{raw_secret}'."));
    let secret_id: i64 = raw_secret.parse().map_err(|_| secret_not_found())?;
    let audit = audit_context(&caller);
    let scope = caller.scope(None);
    match clients::delete_secret(&state.store, &scope, &id, secret_id, &audit, Utc::now()).await {
        Ok(()) => {
            state.applied(Change::Client(id.clone())).await;
            Ok(HttpResponse::Ok().json(serde_json::json!({ "success": true })))
        }
        Err(DeleteSecretError::ClientMissing) => Err(client_not_found(&id)),
        Err(DeleteSecretError::SecretMissing) => Err(secret_not_found()),
        Err(DeleteSecretError::Unexpected(error)) => Err(from_store(error)),
    }
}

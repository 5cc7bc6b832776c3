//! `/api/v1/tenants/clients/{clientId}` (seed 004): a client with its scopes, claims and
//! masked secrets; adding a named secret (shown once) and deleting one.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::clients::{client_error, client_id, client_not_found};
use super::error::{from_store, ApiError};
use super::extract::{ApiJson, ApiPath, Caller};
use super::openapi::{self as doc, Success};
use super::{audit_context, rfc3339, AppState};
use crate::changes::Change;
use crate::clients::secrets::{masked, parse_expiration, ClientSecret, SecretName, StoredSecret};
use crate::clients::{self, AddSecretError, Claim, DeleteSecretError, RequestedSecret};

/// This module's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(get, add, delete))]
pub(super) struct Api;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/api/v1/tenants/clients/{clientId}").get(get))
        .service(super::resource("/api/v1/tenants/clients/{clientId}/tokens").post(add))
        .service(
            super::resource("/api/v1/tenants/clients/{clientId}/tokens/{tokenId}").delete(delete),
        );
}

/// A client secret (seed 004): never stored in full, shown in full once.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ClientSecret, example = json!({
    "id": 16,
    "name": "my secret 3",
    "token": "7AQNCUKAXdCg1M...",
    "expiration": "2030-01-31T00:00:00.000Z",
    "createdAt": "2026-01-31T09:15:00.000Z",
    "lastUsedAt": null
}))]
pub struct SecretResponse {
    #[schema(example = 16)]
    id: i64,
    #[schema(example = "my secret 3")]
    name: String,
    /// The display prefix and `...`; the whole secret only in the response that made it.
    #[schema(example = "7AQNCUKAXdCg1M...")]
    token: String,
    /// When the secret stops working; absent when it lives until deleted.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    expiration: Option<String>,
    #[schema(format = DateTime)]
    created_at: String,
    /// When a request last authenticated with it; `null` before.
    #[schema(format = DateTime)]
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

/// Seed 004's client: its scopes, claims and masked secrets.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ClientWithSecrets, example = json!({
    "tenantId": "acme",
    "clientId": "hubster.portal.api",
    "name": "Hubster Portal API Client (Public)",
    "enabled": true,
    "allowedScopes": ["hubster-portal-api"],
    "claims": [{"type": "role", "value": "admin"}, {"type": "tenant", "value": "acme"}],
    "secrets": [{
        "id": 9,
        "name": "my secret 1",
        "token": "SMWvD7WUAn8bkdl...",
        "createdAt": "2026-01-31T09:15:00.000Z",
        "lastUsedAt": "2026-02-01T10:00:00.000Z"
    }]
}))]
struct ClientSecretsResponse {
    tenant_id: String,
    client_id: String,
    name: String,
    enabled: bool,
    allowed_scopes: Vec<String>,
    claims: Vec<Claim>,
    secrets: Vec<SecretResponse>,
}

/// Seed 004's body of a new secret.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewClientSecret, example = json!({
    "name": "my secret 3",
    "expiration": "2030-01-31T00:00:00"
}))]
struct AddBody {
    /// The secret's name, unique in the client: 1 to 128 characters, not blank.
    #[schema(
        required = true,
        nullable = false,
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\u0000]*[^\s\u0000][^\u0000]*$"
    )]
    name: Option<String>,
    /// When it stops working, in the future: RFC 3339, or `YYYY-MM-DDTHH:MM:SS` read
    /// as UTC. Without it the secret lives until deleted. (The pattern takes years from
    /// 2030 on, which are always in the future for it.)
    #[schema(
        pattern = r"^(20[3-9][0-9]|2[1-9][0-9]{2})-((0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])|(0[13-9]|1[0-2])-(29|30)|(0[13578]|1[02])-31)T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?(Z|[+-](0[0-9]|1[0-3]):[0-5][0-9])?$"
    )]
    expiration: Option<String>,
}

/// Get a client with its secrets
///
/// The client's scopes and claims, and its secrets masked (seed 004).
#[utoipa::path(
    get,
    path = "/api/v1/tenants/clients/{clientId}",
    tag = "client-secrets",
    operation_id = "getClientWithSecrets",
    params(doc::ClientIdParam),
    responses(
        (status = 200, description = "The client.", body = ClientSecretsResponse),
        doc::ApiErrors,
        (status = 404, response = doc::NotFound),
    ),
    security(("adminApiKey" = []), ("tenantAdminToken" = [])),
)]
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

/// Add a client secret
///
/// A new named secret for a `CONFIDENTIAL` client, shown in full in this response only.
#[utoipa::path(
    post,
    path = "/api/v1/tenants/clients/{clientId}/tokens",
    tag = "client-secrets",
    operation_id = "addClientSecret",
    params(doc::ClientIdParam),
    request_body(content = AddBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The secret, in full.", body = SecretResponse,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        doc::ApiErrors,
        (status = 404, response = doc::NotFound),
        (status = 409, response = doc::Conflict),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 415, response = doc::UnsupportedMediaType),
    ),
    security(("adminApiKey" = []), ("tenantAdminToken" = [])),
)]
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

/// Delete a client secret
#[utoipa::path(
    delete,
    path = "/api/v1/tenants/clients/{clientId}/tokens/{tokenId}",
    tag = "client-secrets",
    operation_id = "deleteClientSecret",
    params(
        doc::ClientIdParam,
        ("tokenId" = i64, Path, description = "The secret's `id`.", minimum = 1, example = 16),
    ),
    responses(
        (status = 200, description = "Deleted.", body = Success),
        doc::ApiErrors,
        (status = 404, response = doc::NotFound),
    ),
    security(("adminApiKey" = []), ("tenantAdminToken" = [])),
)]
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
            Ok(HttpResponse::Ok().json(Success::TRUE))
        }
        Err(DeleteSecretError::ClientMissing) => Err(client_not_found(&id)),
        Err(DeleteSecretError::SecretMissing) => Err(secret_not_found()),
        Err(DeleteSecretError::Unexpected(error)) => Err(from_store(error)),
    }
}

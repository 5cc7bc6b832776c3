//! `/api/v1/oauth-clients` (seed 002): create (the secret is shown once), list, read,
//! partial update, delete — each scoped to the caller's tenant.

use actix_web::{web, HttpResponse};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::{from_store, ApiError};
use super::extract::{ApiJson, ApiQuery, Caller};
use super::page::{ListQuery, Page};
use super::tenants::present;
use super::{audit_context, rfc3339, AppState};
use crate::access::TenantScope;
use crate::clients::{
    self, Claim, Client, ClientChanges, ClientDraft, ClientId, ClientPosition, CreateClientError,
    UpdateClientError,
};
use crate::tenants::TenantId;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        super::resource("/api/v1/oauth-clients")
            .route(web::post().to(create))
            .route(web::get().to(list)),
    )
    .service(
        super::resource("/api/v1/oauth-clients/{id}")
            .route(web::get().to(get))
            .route(web::patch().to(update))
            .route(web::delete().to(delete)),
    );
}

/// The body of a creation or an update. `null` clears a field; read-only fields are
/// accepted by the parser only to be refused by name.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ClientBody {
    #[serde(default, deserialize_with = "present")]
    tenant_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    id: Option<Option<Value>>,
    #[serde(default, deserialize_with = "present")]
    secret: Option<Option<Value>>,
    #[serde(default, deserialize_with = "present")]
    created: Option<Option<Value>>,
    #[serde(default, deserialize_with = "present")]
    modified: Option<Option<Value>>,
    #[serde(default, deserialize_with = "present")]
    name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    description: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    business_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    homepage_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    access_token_validity_seconds: Option<Option<Value>>,
    #[serde(default, deserialize_with = "present")]
    refresh_token_validity_seconds: Option<Option<Value>>,
    #[serde(default, deserialize_with = "present")]
    redirect_uris: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "present")]
    grant_types: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "present")]
    access_type: Option<Option<String>>,
    #[serde(default, deserialize_with = "present", rename = "type")]
    client_type: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    internal: Option<Option<bool>>,
    #[serde(default, deserialize_with = "present")]
    enabled: Option<Option<bool>>,
    #[serde(default, deserialize_with = "present")]
    strong_auth_supported: Option<Option<bool>>,
    #[serde(default, deserialize_with = "present")]
    claims_supported: Option<Option<bool>>,
    #[serde(default, deserialize_with = "present")]
    allowed_scopes: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "present")]
    claims: Option<Option<Vec<Claim>>>,
}

impl ClientBody {
    /// A problem for each read-only field sent (`tenantId` too, on an update).
    fn read_only_problems(&self, tenant_is_writable: bool) -> Vec<String> {
        [
            ("id", self.id.is_some()),
            ("secret", self.secret.is_some()),
            ("created", self.created.is_some()),
            ("modified", self.modified.is_some()),
            ("tenantId", !tenant_is_writable && self.tenant_id.is_some()),
        ]
        .into_iter()
        .filter(|(_, sent)| *sent)
        .map(|(field, _)| format!("{field}: is read-only"))
        .collect()
    }

    fn changes(self) -> ClientChanges {
        ClientChanges {
            name: self.name,
            description: self.description,
            business_name: self.business_name,
            homepage_url: self.homepage_url,
            access_token_validity_seconds: self.access_token_validity_seconds,
            refresh_token_validity_seconds: self.refresh_token_validity_seconds,
            redirect_uris: self.redirect_uris,
            grant_types: self.grant_types,
            access_type: self.access_type,
            client_type: self.client_type,
            internal: self.internal,
            enabled: self.enabled,
            strong_auth_supported: self.strong_auth_supported,
            claims_supported: self.claims_supported,
            allowed_scopes: self.allowed_scopes,
            claims: self.claims,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientResponse {
    id: String,
    tenant_id: String,
    business_name: Option<String>,
    homepage_url: Option<String>,
    name: String,
    description: String,
    access_token_validity_seconds: u32,
    refresh_token_validity_seconds: u32,
    redirect_uris: Vec<String>,
    grant_types: Vec<&'static str>,
    access_type: &'static str,
    #[serde(rename = "type")]
    client_type: &'static str,
    internal: bool,
    enabled: bool,
    strong_auth_supported: bool,
    claims_supported: bool,
    allowed_scopes: Vec<String>,
    claims: Vec<Claim>,
    created: String,
    modified: String,
}

impl From<Client> for ClientResponse {
    fn from(client: Client) -> Self {
        let settings = client.settings;
        Self {
            id: client.id.to_string(),
            tenant_id: client.tenant_id.to_string(),
            business_name: settings.business_name,
            homepage_url: settings.homepage_url,
            name: settings.name,
            description: settings.description,
            access_token_validity_seconds: settings.access_token_validity_seconds,
            refresh_token_validity_seconds: settings.refresh_token_validity_seconds,
            redirect_uris: settings
                .redirect_uris
                .iter()
                .map(ToString::to_string)
                .collect(),
            grant_types: settings.grant_types.iter().map(|g| g.as_str()).collect(),
            access_type: settings.access_type.as_str(),
            client_type: settings.client_type.as_str(),
            internal: settings.internal,
            enabled: settings.enabled,
            strong_auth_supported: settings.strong_auth_supported,
            claims_supported: settings.claims_supported,
            allowed_scopes: settings
                .allowed_scopes
                .iter()
                .map(ToString::to_string)
                .collect(),
            claims: settings.claims,
            created: rfc3339(client.created),
            modified: rfc3339(client.modified),
        }
    }
}

/// The creation response: the client and its secret (`null` for a PUBLIC client).
#[derive(Serialize)]
struct CreatedResponse {
    secret: Option<String>,
    #[serde(flatten)]
    client: ClientResponse,
}

pub(crate) fn client_id(raw: &str) -> Result<ClientId, ApiError> {
    ClientId::parse(raw)
        .map_err(|problem| ApiError::invalid("The client id is invalid.", vec![problem]))
}

pub(crate) fn client_not_found(id: &ClientId) -> ApiError {
    ApiError::NotFound(format!("OAuth client '{id}' does not exist."))
}

#[tracing::instrument(skip_all)]
async fn create(
    caller: Caller,
    state: web::Data<AppState>,
    ApiJson(body): ApiJson<ClientBody>,
) -> Result<HttpResponse, ApiError> {
    let mut problems = body.read_only_problems(true);
    let requested = body.tenant_id.clone().flatten();
    let tenant = match requested.as_deref().map(TenantId::parse).transpose() {
        Err(problem) => {
            problems.push(format!("tenantId: {problem}"));
            None
        }
        Ok(requested) => match caller.scope(requested) {
            TenantScope::Only(tenant) => Some(tenant),
            TenantScope::All => {
                problems.push("tenantId: is required".to_owned());
                None
            }
        },
    };
    let settings = body.changes().apply_to(ClientDraft::default()).validate();
    let (Some(tenant), Ok(settings), true) = (tenant, &settings, problems.is_empty()) else {
        problems.extend(settings.err().unwrap_or_default());
        return Err(ApiError::invalid("The client is invalid.", problems));
    };
    let audit = audit_context(&caller);
    let created =
        clients::create_client(&state.store, tenant, settings.clone(), &audit, Utc::now())
            .await
            .map_err(|error| match error {
                CreateClientError::TenantMissing(tenant) => ApiError::invalid(
                    "The tenant named by tenantId does not exist.",
                    vec![format!("tenantId: no tenant '{tenant}'")],
                ),
                CreateClientError::Unexpected(error) => from_store(error),
            })?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(CreatedResponse {
            secret: created.secret.map(|secret| secret.expose().to_owned()),
            client: created.client.into(),
        }))
}

#[tracing::instrument(skip_all)]
async fn list(
    caller: Caller,
    state: web::Data<AppState>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit()?;
    let scope = caller.scope(query.tenant()?);
    let after = query.after::<ClientPosition>()?;
    let clients = state
        .store
        .clients(&scope, after.as_ref(), limit + 1)
        .await
        .map_err(from_store)?;
    let page = Page::of(
        clients,
        limit,
        |client| ClientPosition::of(client).to_string(),
        ClientResponse::from,
    );
    Ok(HttpResponse::Ok().json(page))
}

#[tracing::instrument(skip_all, fields(client_id = %crate::telemetry::untrusted(&path)))]
async fn get(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = client_id(&path)?;
    match state
        .store
        .client(&id, &caller.scope(None))
        .await
        .map_err(from_store)?
    {
        Some(client) => Ok(HttpResponse::Ok().json(ClientResponse::from(client))),
        None => Err(client_not_found(&id)),
    }
}

#[tracing::instrument(skip_all, fields(client_id = %crate::telemetry::untrusted(&path)))]
async fn update(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    ApiJson(body): ApiJson<ClientBody>,
) -> Result<HttpResponse, ApiError> {
    let id = client_id(&path)?;
    let problems = body.read_only_problems(false);
    if !problems.is_empty() {
        return Err(ApiError::invalid("The client is invalid.", problems));
    }
    let audit = audit_context(&caller);
    let scope = caller.scope(None);
    match clients::update_client(
        &state.store,
        &scope,
        &id,
        body.changes(),
        &audit,
        Utc::now(),
    )
    .await
    {
        Ok(client) => Ok(HttpResponse::Ok().json(ClientResponse::from(client))),
        Err(UpdateClientError::NotFound) => Err(client_not_found(&id)),
        Err(UpdateClientError::Invalid(problems)) => {
            Err(ApiError::invalid("The client is invalid.", problems))
        }
        Err(UpdateClientError::Unexpected(error)) => Err(from_store(error)),
    }
}

#[tracing::instrument(skip_all, fields(client_id = %crate::telemetry::untrusted(&path)))]
async fn delete(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = client_id(&path)?;
    let audit = audit_context(&caller);
    if state
        .store
        .delete_client(&id, &caller.scope(None), &audit, Utc::now())
        .await
        .map_err(from_store)?
    {
        Ok(HttpResponse::Ok().json(serde_json::json!({ "success": true })))
    } else {
        Err(client_not_found(&id))
    }
}

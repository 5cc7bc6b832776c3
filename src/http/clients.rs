//! `/api/v1/oauth-clients` (seed 002): create (the secret is shown once), list (with
//! `search` on the name or id), read, partial update, delete — each scoped to the
//! caller's tenant.

use actix_web::{web, HttpResponse};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::{from_store, ApiError};
use super::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use super::page::{ListQuery, Page};
use super::{audit_context, rfc3339, AppState};
use crate::auth::TenantScope;
use crate::changes::Change;
use crate::clients::{
    self, Client, ClientDraft, ClientError, ClientId, ClientPosition, ClientSearch, ClientSettings,
    CreateClientError, CreatedClient, UpdateClientError,
};
use crate::patch::Patch;
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

/// The body of a creation or an update: the client's writable fields, plus the fields
/// a client shows but nobody writes, refused by name. Unknown fields are refused too,
/// so a typo is a 400, not a silent no-op.
struct ClientBody {
    tenant_id: Patch<Value>,
    read_only: Vec<&'static str>,
    draft: ClientDraft,
}

/// Shown in every client, written by nobody.
const READ_ONLY_FIELDS: [&str; 4] = ["id", "secret", "created", "modified"];

impl ClientBody {
    /// Splits a JSON object; a field of the wrong type or an unknown one is named in the
    /// error.
    fn parse(mut object: Map<String, Value>) -> Result<Self, ApiError> {
        let read_only = READ_ONLY_FIELDS
            .into_iter()
            .filter(|field| object.remove(*field).is_some())
            .collect();
        let tenant_id = match object.remove("tenantId") {
            None => Patch::Absent,
            Some(Value::Null) => Patch::Null,
            Some(value) => Patch::Value(value),
        };
        let draft = serde_path_to_error::deserialize(Value::Object(object)).map_err(|error| {
            ApiError::invalid(
                "The client is invalid.",
                vec![format!("{}: {}", error.path(), error.inner())],
            )
        })?;
        Ok(ClientBody {
            tenant_id,
            read_only,
            draft,
        })
    }

    /// A problem for each read-only field sent (`tenantId` too, on an update).
    fn read_only_problems(&self, tenant_is_writable: bool) -> Vec<String> {
        let tenant = (!tenant_is_writable && self.tenant_id.is_sent()).then_some("tenantId");
        self.read_only
            .iter()
            .copied()
            .chain(tenant)
            .map(|field| format!("{field}: is read-only"))
            .collect()
    }

    /// The `tenantId` a creation names, if it is a string.
    fn tenant_id(&self) -> Result<Option<TenantId>, String> {
        match &self.tenant_id {
            Patch::Absent | Patch::Null => Ok(None),
            Patch::Value(Value::String(raw)) => TenantId::parse(raw).map(Some),
            Patch::Value(_) => Err("a string".to_owned()),
        }
    }
}

/// A client as the API shows it (never with its secret).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientResponse {
    id: ClientId,
    tenant_id: TenantId,
    #[serde(flatten)]
    settings: ClientSettings,
    created: String,
    modified: String,
}

impl From<Client> for ClientResponse {
    fn from(client: Client) -> Self {
        Self {
            id: client.id,
            tenant_id: client.tenant_id,
            settings: client.settings,
            created: rfc3339(client.created),
            modified: rfc3339(client.modified),
        }
    }
}

/// The creation response: the client and its secret (`null` for a PUBLIC client).
#[derive(Serialize)]
pub struct CreatedResponse {
    secret: Option<String>,
    #[serde(flatten)]
    client: ClientResponse,
}

impl From<CreatedClient> for CreatedResponse {
    fn from(created: CreatedClient) -> Self {
        Self {
            secret: created.secret.map(|secret| secret.expose().to_owned()),
            client: created.client.into(),
        }
    }
}

pub(crate) fn client_id(raw: &str) -> Result<ClientId, ApiError> {
    ClientId::parse(raw)
        .map_err(|problem| ApiError::invalid("The client id is invalid.", vec![problem]))
}

pub(crate) fn client_not_found(id: &ClientId) -> ApiError {
    ApiError::NotFound(format!("OAuth client '{id}' does not exist."))
}

pub(crate) fn client_error(error: ClientError, id: &ClientId) -> ApiError {
    match error {
        ClientError::NotFound => client_not_found(id),
        ClientError::Unexpected(error) => from_store(error),
    }
}

#[tracing::instrument(skip_all)]
async fn create(
    caller: Caller,
    state: web::Data<AppState>,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> Result<HttpResponse, ApiError> {
    let body = ClientBody::parse(body)?;
    let mut problems = body.read_only_problems(true);
    let tenant = match body.tenant_id() {
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
    let settings = body.draft.validate();
    let (Some(tenant), Ok(settings), true) = (tenant, &settings, problems.is_empty()) else {
        problems.extend(settings.err().unwrap_or_default());
        return Err(ApiError::invalid("The client is invalid.", problems));
    };
    let audit = audit_context(&caller);
    let created = clients::create_client(
        &state.store,
        &state.client_policy,
        tenant,
        settings.clone(),
        &audit,
        Utc::now(),
    )
    .await
    .map_err(|error| match error {
        CreateClientError::TenantMissing(tenant) => ApiError::invalid(
            "The tenant named by tenantId does not exist.",
            vec![format!("tenantId: no tenant '{tenant}'")],
        ),
        CreateClientError::TooMany(max) => ApiError::Conflict(format!(
            "The tenant has {max} OAuth clients, the most it may have \
             (limits.clients_per_tenant); delete one first."
        )),
        CreateClientError::Unexpected(error) => from_store(error),
    })?;
    state
        .applied(Change::Client(created.client.id.clone()))
        .await;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(CreatedResponse::from(created)))
}

/// The query of the list: paging, the `tenantId` filter, and `search`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ClientListQuery {
    tenant_id: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
    /// Case-insensitive text the client's name or id contains.
    search: Option<String>,
}

#[tracing::instrument(skip_all)]
async fn list(
    caller: Caller,
    state: web::Data<AppState>,
    ApiQuery(query): ApiQuery<ClientListQuery>,
) -> Result<HttpResponse, ApiError> {
    let search =
        ClientSearch::parse(query.search.as_deref().unwrap_or_default()).map_err(|problem| {
            ApiError::invalid(
                "The query string is invalid.",
                vec![format!("search: {problem}")],
            )
        })?;
    let query = ListQuery::new(query.tenant_id, query.limit, query.cursor);
    let limit = query.limit()?;
    let scope = caller.scope(query.tenant()?);
    let after = query.after::<ClientPosition>()?;
    let clients = clients::list_clients(
        &state.store,
        &scope,
        search.as_ref(),
        after.as_ref(),
        limit + 1,
    )
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
    ApiPath(path): ApiPath<String>,
) -> Result<HttpResponse, ApiError> {
    let id = client_id(&path)?;
    match clients::get_client(&state.store, &caller.scope(None), &id).await {
        Ok(client) => Ok(HttpResponse::Ok().json(ClientResponse::from(client))),
        Err(error) => Err(client_error(error, &id)),
    }
}

#[tracing::instrument(skip_all, fields(client_id = %crate::telemetry::untrusted(&path)))]
async fn update(
    caller: Caller,
    state: web::Data<AppState>,
    ApiPath(path): ApiPath<String>,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> Result<HttpResponse, ApiError> {
    let id = client_id(&path)?;
    let body = ClientBody::parse(body)?;
    let problems = body.read_only_problems(false);
    if !problems.is_empty() {
        return Err(ApiError::invalid("The client is invalid.", problems));
    }
    let audit = audit_context(&caller);
    let scope = caller.scope(None);
    match clients::update_client(&state.store, &scope, &id, body.draft, &audit, Utc::now()).await {
        Ok(client) => {
            state.applied(Change::Client(client.id.clone())).await;
            Ok(HttpResponse::Ok().json(ClientResponse::from(client)))
        }
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
    ApiPath(path): ApiPath<String>,
) -> Result<HttpResponse, ApiError> {
    let id = client_id(&path)?;
    let audit = audit_context(&caller);
    match clients::delete_client(&state.store, &caller.scope(None), &id, &audit, Utc::now()).await {
        Ok(()) => {
            state.applied(Change::Client(id)).await;
            Ok(HttpResponse::Ok().json(serde_json::json!({ "success": true })))
        }
        Err(error) => Err(client_error(error, &id)),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(body: Value) -> Result<ClientBody, Vec<String>> {
        let Value::Object(object) = body else {
            panic!("an object")
        };
        ClientBody::parse(object).map_err(|error| match error {
            ApiError::BadRequest { causes, .. } => causes,
            other => panic!("{other:?}"),
        })
    }

    #[test]
    fn bodies_tell_writable_read_only_and_absent_fields_apart() {
        let body = parse(json!({"name": "x", "businessName": null, "id": "y"})).unwrap();
        assert_eq!(body.draft.name, Patch::Value("x".to_owned()));
        assert_eq!(body.draft.business_name, Patch::Null);
        assert_eq!(body.draft.description, Patch::Absent);
        assert_eq!(body.read_only_problems(true), ["id: is read-only"]);
        let update = parse(json!({"tenantId": null})).unwrap();
        assert_eq!(update.read_only_problems(false), ["tenantId: is read-only"]);
        assert!(parse(json!({}))
            .unwrap()
            .read_only_problems(false)
            .is_empty());
    }

    #[test]
    fn type_errors_and_unknown_fields_are_named() {
        let causes = parse(json!({"enabled": "yes"})).err().unwrap();
        assert!(causes[0].starts_with("enabled: invalid type"), "{causes:?}");
        let causes = parse(json!({"nmae": "typo"})).err().unwrap();
        assert!(causes[0].contains("unknown field `nmae`"), "{causes:?}");
        assert!(parse(json!({"tenantId": 7})).unwrap().tenant_id().is_err());
    }
}

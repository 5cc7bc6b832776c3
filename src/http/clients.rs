//! `/api/v1/oauth-clients` (seed 002): create (the secret is shown once), list (with
//! `search` on the name or id), read, partial update, delete — each scoped to the
//! caller's tenant.

use actix_web::{web, HttpResponse};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::{from_store, ApiError};
use super::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use super::openapi::{self as doc, Success};
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

/// This module's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(create, list, get, update, delete))]
pub(super) struct Api;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        super::resource("/api/v1/oauth-clients")
            .post(create)
            .get(list),
    )
    .service(
        super::resource("/api/v1/oauth-clients/{id}")
            .get(get)
            .patch(update)
            .delete(delete),
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
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = OAuthClient, example = json!({
    "id": "2c9180835d2e5168015d32f890ca1581",
    "tenantId": "acme",
    "name": "Demo API Client",
    "description": "An API client used for the authorization_code, refresh_token, and client_credentials flows",
    "businessName": "Acme-Solar",
    "homepageUrl": "http://localhost:12345",
    "accessTokenValiditySeconds": 750,
    "refreshTokenValiditySeconds": 86400,
    "redirectUris": ["http://localhost:12345"],
    "grantTypes": ["AUTHORIZATION_CODE", "CLIENT_CREDENTIALS", "REFRESH_TOKEN"],
    "accessType": "OFFLINE",
    "type": "CONFIDENTIAL",
    "internal": false,
    "enabled": true,
    "strongAuthSupported": false,
    "claimsSupported": false,
    "allowedScopes": [],
    "claims": [],
    "created": "2017-07-11T18:45:37.098Z",
    "modified": "2018-06-25T20:22:28.104Z"
}))]
pub struct ClientResponse {
    #[schema(value_type = String, example = "2c9180835d2e5168015d32f890ca1581")]
    id: ClientId,
    #[schema(value_type = String, example = "acme")]
    tenant_id: TenantId,
    #[serde(flatten)]
    settings: ClientSettings,
    /// When the client was created, to the millisecond.
    #[schema(format = DateTime)]
    created: String,
    /// When the client was last updated, to the millisecond.
    #[schema(format = DateTime)]
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
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = CreatedOAuthClient)]
pub struct CreatedResponse {
    /// The client's first secret, shown only here; `null` for a `PUBLIC` client.
    #[schema(example = "5c32dd9b21adb51c77794d46e71de117a1d0ddb36a7ff941fa28014ab7de2cf3")]
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

/// Create an OAuth client
///
/// Creates a client in the caller's tenant (the admin API key names one with
/// `tenantId`). Its first secret is in this response only.
#[utoipa::path(
    post,
    path = "/api/v1/oauth-clients",
    tag = "oauth-clients",
    operation_id = "createOauthClient",
    request_body(content = doc::NewOAuthClient, content_type = "application/json"),
    responses(
        (status = 200, description = "The client, with its secret.", body = CreatedResponse,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        doc::ApiErrors,
        (status = 409, response = doc::Conflict),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 415, response = doc::UnsupportedMediaType),
    ),
    security(("adminApiKey" = []), ("tenantAdminToken" = [])),
)]
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
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct ClientListQuery {
    /// Only this tenant's clients (a tenant admin's are its own tenant's anyway).
    #[param(
        nullable = false,
        min_length = 1,
        max_length = 64,
        pattern = r"^[A-Za-z0-9._-]*[A-Za-z0-9_-][A-Za-z0-9._-]*$"
    )]
    tenant_id: Option<String>,
    /// Clients a page holds: 1 to 200, 50 when not given.
    #[param(nullable = false, minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// Where the page starts: the previous page's `nextCursor`, as it was.
    #[param(nullable = false, pattern = "^[A-Za-z0-9_-]+$")]
    cursor: Option<String>,
    /// Case-insensitive text the client's name or id contains: at most 200 characters.
    #[param(nullable = false, max_length = 200)]
    search: Option<String>,
}

/// List OAuth clients
///
/// The clients the caller may see, oldest first, a page at a time.
#[utoipa::path(
    get,
    path = "/api/v1/oauth-clients",
    tag = "oauth-clients",
    operation_id = "listOauthClients",
    params(ClientListQuery),
    responses(
        (status = 200, description = "A page of clients.", body = Page<ClientResponse>),
        doc::ApiErrors,
    ),
    security(("adminApiKey" = []), ("tenantAdminToken" = [])),
)]
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

/// Get an OAuth client
#[utoipa::path(
    get,
    path = "/api/v1/oauth-clients/{id}",
    tag = "oauth-clients",
    operation_id = "getOauthClient",
    params(doc::OAuthClientIdParam),
    responses(
        (status = 200, description = "The client.", body = ClientResponse),
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
    match clients::get_client(&state.store, &caller.scope(None), &id).await {
        Ok(client) => Ok(HttpResponse::Ok().json(ClientResponse::from(client))),
        Err(error) => Err(client_error(error, &id)),
    }
}

/// Update an OAuth client
///
/// A partial update (JSON Merge Patch, RFC 7396): a field left out keeps its value,
/// `null` clears it; the result must be a valid client. `type` and `tenantId` never
/// change.
#[utoipa::path(
    patch,
    path = "/api/v1/oauth-clients/{id}",
    tag = "oauth-clients",
    operation_id = "updateOauthClient",
    params(doc::OAuthClientIdParam),
    request_body(content = ClientDraft, content_type = "application/json"),
    responses(
        (status = 200, description = "The client, updated.", body = ClientResponse),
        doc::ApiErrors,
        (status = 404, response = doc::NotFound),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 415, response = doc::UnsupportedMediaType),
    ),
    security(("adminApiKey" = []), ("tenantAdminToken" = [])),
)]
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

/// Delete an OAuth client
#[utoipa::path(
    delete,
    path = "/api/v1/oauth-clients/{id}",
    tag = "oauth-clients",
    operation_id = "deleteOauthClient",
    params(doc::OAuthClientIdParam),
    responses(
        (status = 200, description = "Deleted.", body = Success),
        doc::ApiErrors,
        (status = 404, response = doc::NotFound),
    ),
    security(("adminApiKey" = []), ("tenantAdminToken" = [])),
)]
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
            Ok(HttpResponse::Ok().json(Success::TRUE))
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

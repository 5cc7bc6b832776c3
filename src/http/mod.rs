//! The HTTP layer (actix only): extract, call the domain, map the result.

mod admission;
mod audit;
mod authorize;
mod client_address;
mod clients;
mod error;
mod extract;
mod first_party_tokens;
mod health;
mod keys;
mod members;
mod metrics;
mod oauth;
mod openapi;
mod page;
mod portal;
mod request_context;
mod secrets;
mod tenant_tokens;
mod tenants;
mod token_body;
mod user_tokens;
mod users;

use actix_web::dev::{AppService, HttpServiceFactory};
use actix_web::http::Method;
use actix_web::{web, FromRequest, Handler, HttpResponse, Resource, Responder};
use chrono::{DateTime, SecondsFormat, Utc};

use std::net::IpAddr;
use std::sync::Arc;

use crate::audit::AuditContext;
use crate::auth::Authenticator;
use crate::auth::Caller;
use crate::changes::{Change, ChangeFeed};
use crate::clients::ClientPolicy;
use crate::keys::KeyService;
use crate::login::LoginService;
use crate::metrics::Metrics;
use crate::oauth::OAuthServer;
use crate::rate_limit::AddressLimiter;
use crate::store::Store;

/// The API's JSON views of its resources, for the CLI's `--json`: one shape everywhere.
pub mod views {
    pub use super::clients::{ClientResponse, CreatedResponse};
    pub use super::keys::KeyResponse;
    pub use super::members::MemberResponse;
    pub use super::secrets::SecretResponse;
    pub use super::tenants::TenantResponse;
    pub use super::users::UserResponse;
}

pub use admission::limit_before_work;
pub use client_address::{ForwardedHeader, TrustedProxies};
pub use error::ApiError;
pub use metrics::{open_routes as open_metrics_routes, record_request, routes as metrics_routes};
pub use request_context::{request_context, REQUEST_ID_HEADER};

/// What every handler may reach.
pub struct AppState {
    pub store: Store,
    pub issuer: String,
    pub body_limit: usize,
    pub keys: Arc<KeyService>,
    pub jwks_max_age_seconds: u64,
    pub oauth: Arc<OAuthServer>,
    pub login: Arc<LoginService>,
    pub client_policy: ClientPolicy,
    pub trusted_proxies: TrustedProxies,
    pub address_limiter: Arc<AddressLimiter>,
    pub changes: Arc<ChangeFeed>,
    pub auth: Authenticator,
    pub metrics: Arc<Metrics>,
    /// For the token API's token info.
    pub usernames: crate::users::UsernameCache,
}

impl AppState {
    /// Applies a change this process just committed to its own memory, before the
    /// response, so it takes effect here at once (other processes poll the feed).
    pub async fn applied(&self, change: Change) {
        self.changes.committed(&change, Utc::now()).await;
    }

    /// The caller's address: the TCP peer, or what a trusted proxy forwarded.
    pub fn caller_address(&self, req: &actix_web::HttpRequest) -> IpAddr {
        client_address::caller_address(req, &self.trusted_proxies)
    }
}

/// Every route but `/metrics`, which [`metrics_routes`] adds where it is served.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(health::routes)
        .configure(keys::routes)
        .configure(oauth::routes)
        .configure(openapi::routes)
        .configure(authorize::routes)
        .configure(portal::routes)
        .configure(secrets::routes)
        .configure(tenant_tokens::routes)
        .configure(first_party_tokens::routes)
        .configure(tenants::routes)
        .configure(clients::routes)
        .configure(users::routes)
        .configure(members::routes)
        .configure(audit::routes)
        .configure(user_tokens::routes);
}

/// The fallback for paths no route matches.
pub fn not_found_service() -> actix_web::Route {
    web::route().to(error::not_found)
}

/// A resource whose methods are named once, as its handlers are added: any other
/// method gets 405 with the API error body and the `Allow` header that RFC 9110 §15.5.6
/// requires, listing them. A resource with GET answers HEAD too (RFC 9110 §9.1), with
/// the GET handler's status and headers and no body, unless it has a HEAD handler of
/// its own or its GET changes something ([`ApiResource::get_with_effects`]).
fn resource(path: &str) -> ApiResource {
    ApiResource {
        resource: web::resource(path),
        allow: Vec::new(),
        head_as_get: None,
    }
}

struct ApiResource {
    resource: Resource,
    allow: Vec<Method>,
    /// The GET handler, routed for HEAD at registration if no HEAD handler came.
    head_as_get: Option<actix_web::Route>,
}

impl ApiResource {
    fn on<F, Args>(mut self, method: Method, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.resource = self.resource.route(web::method(method.clone()).to(handler));
        self.allow.push(method);
        self
    }

    fn get<F, Args>(mut self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.head_as_get = Some(web::method(Method::HEAD).to(handler.clone()));
        self.on(Method::GET, handler)
    }

    /// A GET that changes something (issues a token, spends a one-time link): no HEAD,
    /// which clients and link scanners take as safe (RFC 9110 §9.2.1) and would
    /// otherwise spend it unseen.
    fn get_with_effects<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.on(Method::GET, handler)
    }

    fn post<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.on(Method::POST, handler)
    }

    fn put<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.on(Method::PUT, handler)
    }

    fn patch<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.on(Method::PATCH, handler)
    }

    fn delete<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.on(Method::DELETE, handler)
    }

    fn head<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.on(Method::HEAD, handler)
    }
}

impl HttpServiceFactory for ApiResource {
    fn register(mut self, config: &mut AppService) {
        if let Some(head) = self.head_as_get.take() {
            if !self.allow.contains(&Method::HEAD) {
                self.resource = self.resource.route(head);
                self.allow.push(Method::HEAD);
            }
        }
        let allow: Arc<str> = self
            .allow
            .iter()
            .map(Method::as_str)
            .collect::<Vec<_>>()
            .join(", ")
            .into();
        self.resource
            .default_service(web::to(move || {
                let allow = allow.clone();
                async move { Err::<HttpResponse, _>(ApiError::MethodNotAllowed { allow }) }
            }))
            .register(config);
    }
}

/// Who makes a change and under which request id, for the audit trail.
fn audit_context(caller: &Caller) -> AuditContext {
    AuditContext::new(caller.actor(), request_context::current_request_id())
}

/// RFC 3339, UTC, millisecond precision: the format of every instant in the API.
pub fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

//! The HTTP layer (actix only): extract, call the domain, map the result.

mod error;
mod extract;
mod health;
mod keys;
mod request_context;
mod tenant_tokens;
mod tenants;

use actix_web::{web, Resource};
use chrono::{DateTime, SecondsFormat, Utc};

use std::sync::Arc;

use crate::admin_key::AdminKeyVerifier;
use crate::keys::KeyService;
use crate::store::Store;

pub use error::ApiError;
pub use request_context::{request_context, RequestId, REQUEST_ID_HEADER};

/// What every handler may reach.
pub struct AppState {
    pub store: Store,
    pub admin_key: AdminKeyVerifier,
    pub issuer: String,
    pub body_limit: usize,
    pub keys: Arc<KeyService>,
    pub jwks_max_age_seconds: u64,
    pub tenant_token_seconds: u64,
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(health::routes)
        .configure(keys::routes)
        .configure(tenant_tokens::routes)
        .configure(tenants::routes);
}

/// The fallback for paths no route matches.
pub fn not_found_service() -> actix_web::Route {
    web::route().to(error::not_found)
}

/// A resource whose unsupported methods get 405 with the API error body.
fn resource(path: &str) -> Resource {
    web::resource(path).default_service(web::route().to(error::method_not_allowed))
}

/// RFC 3339, UTC, millisecond precision: the format of every instant in the API.
pub fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

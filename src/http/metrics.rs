//! `GET /metrics` (the Prometheus text format) and the middleware that counts and times
//! every request by route template.
//!
//! On the main listener the exposition is for the global admin only (the admin API
//! key): it tells how busy each endpoint is and how often credentials fail, which is not
//! for callers to read. When `server.metrics_listen` is set, it is served there instead,
//! to anyone who reaches that address (an internal port, as Hydra and Keycloak do it),
//! and the main listener answers 404.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpResponse};
use chrono::Utc;

use super::error::ApiError;
use super::extract::Caller;
use super::AppState;

/// The content type of the Prometheus text exposition format 0.0.4.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `/metrics` on the main listener: the global admin's.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/metrics").get(for_admin));
}

/// `/metrics` on `server.metrics_listen`: open.
pub fn open_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/metrics").get(exposition));
}

async fn for_admin(caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    caller.require_global()?;
    Ok(exposition(state).await)
}

async fn exposition(state: web::Data<AppState>) -> HttpResponse {
    let text = state
        .metrics
        .render(&state.store, &state.keys, &state.changes, Utc::now());
    HttpResponse::Ok()
        .content_type(TEXT_FORMAT)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(text)
}

/// Counts and times each request under the route template that matched (`unmatched`
/// when none did), so paths carrying ids never become labels.
pub async fn record_request(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return next.call(req).await;
    };
    let method = crate::metrics::method_label(req.method().as_str());
    let started = Instant::now();
    let result = next.call(req).await;
    let (route, status) = match &result {
        Ok(response) => (response.request().match_pattern(), response.status()),
        Err(error) => (None, error.as_response_error().status_code()),
    };
    state
        .metrics
        .http_request(route.as_deref(), method, status.as_u16(), started.elapsed());
    result
}

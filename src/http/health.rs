//! Liveness and readiness probes. Ready means this process can keep its promises:
//! the change feed was read lately (see [`crate::changes::Freshness`]) and the
//! database answers now.

use std::time::Duration;

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::AppState;

/// A database that takes longer than this to answer a ping counts as down.
const READINESS_TIMEOUT: Duration = Duration::from_secs(1);

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/healthz").route(web::get().to(healthz)))
        .service(super::resource("/readyz").route(web::get().to(readyz)));
}

/// The process is up and serving.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// The change feed was read lately and the database answers within a second. Once
/// the feed could not be read, 503 at once (no ping) until the next poll succeeds; a
/// ping that fails counts as a failed read, so tokens are refused from then on too.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let freshness = state.changes.freshness();
    if !freshness.is_current() {
        return unavailable();
    }
    match tokio::time::timeout(READINESS_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => HttpResponse::Ok().json(json!({ "status": "ready" })),
        Ok(Err(error)) => {
            tracing::warn!(error = format!("{error:#}"), "not ready");
            freshness.lost();
            unavailable()
        }
        Err(_) => {
            tracing::warn!("not ready: database ping timed out");
            freshness.lost();
            unavailable()
        }
    }
}

fn unavailable() -> HttpResponse {
    HttpResponse::ServiceUnavailable()
        .insert_header((actix_web::http::header::RETRY_AFTER, "5"))
        .json(json!({ "status": "unavailable" }))
}

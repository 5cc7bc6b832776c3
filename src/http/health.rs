//! Liveness and readiness probes. Ready means this process can keep its promises:
//! the change feed was read lately (see [`crate::changes::Freshness`]) and the
//! database answers now.

use std::time::Duration;

use actix_web::{web, HttpResponse};
use serde::Serialize;

use super::AppState;

/// A database that takes longer than this to answer a ping counts as down.
const READINESS_TIMEOUT: Duration = Duration::from_secs(1);

/// This module's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(healthz, readyz))]
pub(super) struct Api;

/// A probe's answer.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ProbeStatus, example = json!({"status": "ok"}))]
struct Status {
    status: ProbeState,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
enum ProbeState {
    /// `/healthz`: the process serves.
    Ok,
    /// `/readyz`: the database answers.
    Ready,
    /// `/readyz`: the change feed could not be read lately, or the database does not
    /// answer within a second.
    Unavailable,
}

impl Status {
    const fn of(status: ProbeState) -> Self {
        Status { status }
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/healthz").get(healthz))
        .service(super::resource("/readyz").get(readyz));
}

/// Liveness
///
/// The process is up and serving.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    operation_id = "healthz",
    responses((status = 200, description = "Up.", body = Status)),
    security(()),
)]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Status::of(ProbeState::Ok))
}

/// Readiness
///
/// The change feed was read lately and the database answers within a second. Once
/// the feed could not be read, 503 at once (no ping) until the next poll succeeds. The
/// probe only reports: it is unauthenticated, so a flood of slow pings must not be able
/// to switch token issuance off (only the feed's own poller decides that).
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    operation_id = "readyz",
    responses(
        (status = 200, description = "Ready.", body = Status),
        (status = 503, description = "The database does not answer.", body = Status),
    ),
    security(()),
)]
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let freshness = state.changes.freshness();
    if !freshness.is_current() {
        return unavailable();
    }
    match tokio::time::timeout(READINESS_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => HttpResponse::Ok().json(Status::of(ProbeState::Ready)),
        Ok(Err(error)) => {
            tracing::warn!(error = format!("{error:#}"), "not ready");
            unavailable()
        }
        Err(_) => {
            tracing::warn!("not ready: database ping timed out");
            unavailable()
        }
    }
}

fn unavailable() -> HttpResponse {
    HttpResponse::ServiceUnavailable()
        .insert_header((actix_web::http::header::RETRY_AFTER, "5"))
        .json(Status::of(ProbeState::Unavailable))
}

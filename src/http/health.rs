//! Liveness and readiness probes.

use std::time::Duration;

use actix_web::{web, HttpResponse};
use serde::Serialize;

use super::AppState;

const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

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
    /// `/readyz`: the database does not answer within two seconds.
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
/// The database answers within two seconds.
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
    match tokio::time::timeout(READINESS_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => HttpResponse::Ok().json(Status::of(ProbeState::Ready)),
        Ok(Err(error)) => {
            tracing::warn!(error = format!("{error:#}"), "not ready");
            HttpResponse::ServiceUnavailable().json(Status::of(ProbeState::Unavailable))
        }
        Err(_) => {
            tracing::warn!("not ready: database ping timed out");
            HttpResponse::ServiceUnavailable().json(Status::of(ProbeState::Unavailable))
        }
    }
}

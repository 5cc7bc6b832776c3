//! Per-request context: the request id (`X-Request-Id`, the `trackingId` of error
//! bodies) and the one log line each request leaves, with the method and path bounded
//! and escaped ([`untrusted`]).
//!
//! The id is held in a task-local for the duration of the request, so error bodies
//! built deep inside a handler carry it without threading it through every call.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::Error;

use crate::telemetry::untrusted;

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");
const MAX_INCOMING_ID_LEN: usize = 64;

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being served, if called while serving one.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// An id from a trusted proxy is kept when it is short and plain; otherwise a new one.
fn request_id_for(req: &ServiceRequest) -> String {
    req.headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|id| {
            !id.is_empty()
                && id.len() <= MAX_INCOMING_ID_LEN
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(str::to_owned)
        .unwrap_or_else(crate::ids::random_id)
}

pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let id = request_id_for(&req);
    // Formatted only when the line will be written (at `warn` it is not: the token path
    // then pays nothing for it). The path only: query strings can carry codes and tokens.
    let logged = tracing::enabled!(target: "tessera::http", tracing::Level::INFO).then(|| {
        (
            untrusted(req.method().as_str()).to_string(),
            untrusted(req.path()).to_string(),
        )
    });
    let started = Instant::now();

    let result = REQUEST_ID.scope(id.clone(), next.call(req)).await;

    let status = match &result {
        Ok(response) => response.status(),
        Err(error) => error.as_response_error().status_code(),
    };
    if let Some((method, path)) = logged {
        let latency_ms = (started.elapsed().as_secs_f64() * 1e6).round() / 1e3;
        let status = status.as_u16();
        tracing::info!(target: "tessera::http", request_id = %id, %method, %path, status, latency_ms, "request");
    }
    result.map(|mut response| {
        if let Ok(value) = HeaderValue::from_str(&id) {
            response.headers_mut().insert(REQUEST_ID_HEADER, value);
        }
        response
    })
}

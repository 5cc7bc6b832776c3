//! Limits before work: every request but the health probes (which an orchestrator must
//! always reach; readiness costs one `SELECT 1`), the JWKS and the server metadata
//! (answered from memory) passes the per-address and global
//! buckets ([`crate::rate_limit::AddressLimiter`]) before any extractor or handler runs,
//! so a refused request costs no database read and no secret check. The exemptions are
//! matched on the path as sent: a path spelled with percent-escapes (`/%6Fauth/token`,
//! which the router decodes) is never exempt. Refusals speak each surface's error
//! format: RFC 6749 §5.2 on `/oauth/*`, the seed error body elsewhere, both 429 with
//! `Retry-After`.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, Error, ResponseError};

use super::error::ApiError;
use super::AppState;
use crate::metrics::Limit;
use crate::oauth::OAuthError;
use crate::rate_limit::AddressLimit;

/// Paths that are answered from memory, whoever asks.
const EXEMPT: &[&str] = &["/healthz", "/readyz"];

pub async fn limit_before_work(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let path = req.path();
    if EXEMPT.contains(&path) || path.starts_with("/.well-known/") {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let surface = if req.match_info().as_str().starts_with("/oauth/") {
        Surface::OAuth
    } else {
        Surface::Api
    };
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let source = state.caller_address(req.request());
    let Err((limit, retry)) = state.address_limiter.admit(source) else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    state.metrics.rate_limited(match limit {
        AddressLimit::Address => Limit::Address,
        AddressLimit::Global => Limit::Global,
    });
    let refusal = match surface {
        Surface::OAuth => OAuthError::RateLimited {
            retry_after_seconds: retry.0,
        }
        .error_response(),
        Surface::Api => ApiError::RateLimited {
            retry_after_seconds: retry.0,
        }
        .error_response(),
    };
    Ok(req.into_response(refusal).map_into_right_body())
}

enum Surface {
    OAuth,
    Api,
}

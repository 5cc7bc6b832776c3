//! Limits before work: every request to `/oauth/*` and `/api/*` passes the per-address
//! and global buckets ([`crate::rate_limit::AddressLimiter`]) before any extractor or
//! handler runs, so a refused request costs no database read and no secret check.
//! Refusals speak each surface's error format: RFC 6749 §5.2 on `/oauth/*`, the seed
//! error body on `/api/*`, both 429 with `Retry-After`.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, Error, ResponseError};

use super::error::ApiError;
use super::AppState;
use crate::oauth::OAuthError;

pub async fn limit_before_work(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let path = req.path();
    let surface = if path.starts_with("/oauth/") {
        Surface::OAuth
    } else if path.starts_with("/api/") {
        Surface::Api
    } else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let source = state.caller_address(req.request());
    let Err(retry) = state.address_limiter.check(source) else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
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

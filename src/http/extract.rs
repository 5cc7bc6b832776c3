//! Extractors for `/api/*`: JSON bodies, query strings and the caller's bearer
//! credential, failing with [`ApiError`] so every rejection has the documented body.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use chrono::Utc;
use serde::de::DeserializeOwned;

use super::error::{from_store, ApiError};
use super::AppState;
use crate::auth::AuthError;
pub use crate::auth::Caller;

type LocalFuture<T> = Pin<Box<dyn Future<Output = Result<T, ApiError>>>>;

/// A required JSON body.
pub struct ApiJson<T>(pub T);

/// A JSON body that may be absent (empty); when present it must be valid.
pub struct OptionalJson<T>(pub Option<T>);

impl<T: DeserializeOwned + 'static> FromRequest for ApiJson<T> {
    type Error = ApiError;
    type Future = LocalFuture<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = read_json::<T>(req, payload);
        Box::pin(async move {
            body.await?
                .map(ApiJson)
                .ok_or_else(|| ApiError::bad_request("A JSON request body is required."))
        })
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for OptionalJson<T> {
    type Error = ApiError;
    type Future = LocalFuture<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = read_json::<T>(req, payload);
        Box::pin(async move { body.await.map(OptionalJson) })
    }
}

fn read_json<T: DeserializeOwned + 'static>(
    req: &HttpRequest,
    payload: &mut Payload,
) -> LocalFuture<Option<T>> {
    let content_type_is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<mime::Mime>().ok())
        .is_some_and(|mime| {
            mime.type_() == mime::APPLICATION
                && (mime.subtype() == mime::JSON || mime.suffix() == Some(mime::JSON))
        });
    let limit = req
        .app_data::<web::Data<AppState>>()
        .map_or(usize::MAX, |state| state.body_limit);
    let bytes = web::Bytes::from_request(req, payload);
    Box::pin(async move {
        let bytes = bytes.await.map_err(|error| {
            if error.as_response_error().status_code()
                == actix_web::http::StatusCode::PAYLOAD_TOO_LARGE
            {
                ApiError::PayloadTooLarge(limit)
            } else {
                ApiError::bad_request(format!("The request body could not be read: {error}"))
            }
        })?;
        if bytes.is_empty() {
            return Ok(None);
        }
        if !content_type_is_json {
            return Err(ApiError::UnsupportedMediaType(
                "The request body must be JSON (Content-Type: application/json).".into(),
            ));
        }
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|error| ApiError::bad_request(format!("The JSON body is invalid: {error}")))
    })
}

/// The query string, deserialized; unknown parameters are rejected when `T` says so.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned> FromRequest for ApiQuery<T> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(
            web::Query::<T>::from_query(req.query_string())
                .map(|query| ApiQuery(query.into_inner()))
                .map_err(|error| {
                    ApiError::bad_request(format!("The query string is invalid: {error}"))
                }),
        )
    }
}

/// The authenticated caller: the admin API key ([`Caller::GlobalAdmin`]) or a tenant
/// admin token ([`Caller::TenantAdmin`]).
impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalFuture<Self>;

    /// Whoever [`crate::auth::Authenticator`] says the bearer credential stands for.
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req
            .app_data::<web::Data<AppState>>()
            .expect("AppState is registered")
            .clone();
        let token = bearer_token(req).map(str::to_owned);
        Box::pin(async move {
            let token = token.ok_or(ApiError::Unauthorized {
                token_presented: false,
            })?;
            match state.auth.authenticate(&token, Utc::now()).await {
                Ok(caller) => Ok(caller),
                Err(AuthError::Invalid) => Err(ApiError::Unauthorized {
                    token_presented: true,
                }),
                Err(AuthError::Unexpected(error)) => Err(from_store(error)),
            }
        })
    }
}

/// The credential of `Authorization: Bearer <credential>` (scheme case-insensitive).
pub fn bearer_token(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, credential) = value.split_once(' ')?;
    let credential = credential.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !credential.is_empty()).then_some(credential)
}

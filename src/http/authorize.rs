//! `GET` and `POST /oauth/authorize` (the login page) and its stylesheet: the request
//! checked by [`crate::oauth::authorize`], the page and its form handled by
//! [`crate::login`], the answer rendered from `templates/` (askama: compiled into the
//! binary and checked at build time, with HTML escaping on by default).
//!
//! Every page forbids framing (`frame-ancestors 'none'`, `X-Frame-Options: DENY`) and
//! anything but this origin's stylesheet (`default-src 'self'`, no script at all); a
//! form may post only here and be redirected only to the request's redirect URI
//! (`form-action`). Pages are never cached and send no `Referer`. Every POST answer that
//! is not an error page is a 303 (RFC 9700 §4.12).

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, HttpResponseBuilder};
use askama::Template;
use chrono::Utc;
use secrecy::SecretString;

use super::openapi as doc;
use super::AppState;
use crate::login::{LoginError, Page, Stage, Submission, REFUSED_MESSAGE};
use crate::oauth::authorize::{AuthorizationRequest, AuthorizeError};
use crate::oauth::{Form, OAuthError};

const STYLESHEET: &str = include_str!("../../assets/login.css");

/// This module's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(show, submit))]
pub(super) struct Api;

/// The authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3), in the query of both
/// the page and its form's POST; read by [`crate::oauth::authorize`], described here.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct AuthorizationQuery {
    /// `code`.
    #[param(pattern = "^code$")]
    response_type: String,
    /// The client asking.
    client_id: String,
    /// One of the client's redirect URIs; required when it has several.
    #[param(nullable = false, format = "uri")]
    redirect_uri: Option<String>,
    /// Space-separated scope tokens, each allowed to the client.
    #[param(nullable = false)]
    scope: Option<String>,
    /// Handed back unchanged in the redirect.
    #[param(nullable = false)]
    state: Option<String>,
    /// The PKCE challenge (required for a `PUBLIC` client).
    #[param(nullable = false, pattern = "^[A-Za-z0-9_-]{43}$")]
    code_challenge: Option<String>,
    /// `S256`.
    #[param(nullable = false, pattern = "^S256$")]
    code_challenge_method: Option<String>,
    /// The client's own tenant, if sent (it can only repeat it).
    #[param(nullable = false)]
    tenant: Option<String>,
}

/// The page's form.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = SignInForm)]
struct SubmissionForm {
    /// `sign-in` (with `username` and `password`), `approve` or `deny`.
    #[schema(pattern = "^(sign-in|approve|deny)$")]
    action: String,
    /// The page's CSRF token.
    csrf_token: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    #[schema(format = Password)]
    password: String,
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/oauth/authorize").get(show).post(submit));
    cfg.service(super::resource("/oauth/assets/login.css").get(stylesheet));
}

/// The authorization endpoint (RFC 6749 §3.1)
///
/// The sign-in page (or, once signed in, the consent page) for an authorization
/// request; a request that cannot be answered at its redirect URI gets an error page.
#[utoipa::path(
    get,
    path = "/oauth/authorize",
    tag = "oauth",
    operation_id = "oauthAuthorize",
    params(AuthorizationQuery),
    responses(
        (status = 200, description = "The sign-in or consent page.", content_type = "text/html",
            body = String),
        (status = 303, description = "To the redirect URI, with an error (RFC 6749 §4.1.2.1).",
            headers(("Location" = String, description = "The redirect URI with `error`, `state` and `iss`."))),
        (status = 400, description = "The request cannot be answered at a redirect URI.",
            content_type = "text/html", body = String),
        (status = 429, response = doc::OAuthTooManyRequests),
        (status = 500, description = "A fault of the server.", content_type = "text/html", body = String),
        (status = 503, description = "The database cannot be reached.", content_type = "text/html", body = String),
    ),
    security(()),
)]
async fn show(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let request = match state.oauth.authorization_request(req.query_string()).await {
        Ok(request) => request,
        Err(refusal) => return refused(refusal),
    };
    let page = state
        .login
        .page(&request, cookie_value(&req, &state).as_deref(), Utc::now());
    render_page(&req, &state, &request, page)
}

/// The authorization endpoint's form
///
/// The page's form: sign in, approve or deny. Every answer but an error page is a 303:
/// back to the page, or to the redirect URI with the code or the error.
#[utoipa::path(
    post,
    path = "/oauth/authorize",
    tag = "oauth",
    operation_id = "oauthAuthorizeSubmit",
    params(AuthorizationQuery),
    request_body(content = SubmissionForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Back to the page, or to the redirect URI with `code` or `error`.",
            headers(("Location" = String, description = "Where to go next."))),
        (status = 400, description = "The request or the form cannot be used.",
            content_type = "text/html", body = String),
        (status = 403, description = "The form has expired or was not sent from the page.",
            content_type = "text/html", body = String),
        (status = 429, description = "Too many failed sign-ins (a page), or a rate limit before \
            work (RFC 6749 §5.2's body).", content(
                (String = "text/html"),
                (super::oauth::OAuthErrorBody = "application/json"),
            ), headers(("Retry-After" = String, description = "Seconds to wait before retrying."))),
        (status = 500, description = "A fault of the server.", content_type = "text/html", body = String),
        (status = 503, description = "The database cannot be reached.", content_type = "text/html", body = String),
    ),
    security(()),
)]
async fn submit(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> HttpResponse {
    let request = match state.oauth.authorization_request(req.query_string()).await {
        Ok(request) => request,
        Err(refusal) => return refused(refusal),
    };
    let Some(submission) = submission(&req, &body) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "This form cannot be read.",
            START_AGAIN,
        );
    };
    let page_url = format!("authorize?{}", req.query_string());
    let cookie = cookie_value(&req, &state);
    let submitted = state
        .login
        .submit(
            &request,
            cookie.as_deref(),
            submission,
            &page_url,
            state.caller_address(&req),
            Utc::now(),
        )
        .await;
    match submitted {
        Ok(submitted) => {
            let mut response = HttpResponse::SeeOther();
            response.insert_header((header::LOCATION, submitted.location));
            match submitted.cookie {
                Some(value) => response.cookie(login_cookie(&state, value)),
                None => response.cookie(removal_cookie(&state)),
            };
            secured(response, None).finish()
        }
        Err(error) => login_error(error),
    }
}

pub(super) async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(STYLESHEET)
}

const START_AGAIN: &str = "Go back to the application and start signing in again.";

/// A POSTed form of the page, if it is one.
fn submission(req: &HttpRequest, body: &[u8]) -> Option<Submission> {
    let form = Form::parse(body)
        .ok()
        .filter(|_| super::oauth::is_form(req))?;
    Some(Submission {
        action: form.get("action")?.to_owned(),
        csrf_token: form.get("csrf_token").map(str::to_owned),
        username: form.get("username").map(str::to_owned),
        password: form
            .get("password")
            .map(|password| SecretString::from(password.to_owned())),
    })
}

fn login_error(error: LoginError) -> HttpResponse {
    match error {
        LoginError::Forged => error_page(
            StatusCode::FORBIDDEN,
            "This sign-in form has expired",
            "It was not sent from this sign-in page, or too much time has passed. \
             Go back to the application and start signing in again.",
        ),
        LoginError::BadRequest(message) => error_page(
            StatusCode::BAD_REQUEST,
            "This form cannot be used",
            &message,
        ),
        LoginError::TooManyAttempts(retry) => {
            let mut response = error_page(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many failed sign-ins",
                &format!(
                    "Sign-in is paused for this account from here. Try again in {} seconds.",
                    retry.0
                ),
            );
            if let Ok(value) = HeaderValue::from_str(&retry.0.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
        LoginError::Failed(error) => failed(&error),
        LoginError::Unexpected(error) => {
            tracing::error!(error = format!("{error:#}"), "login page failed");
            failed(&OAuthError::ServerError)
        }
    }
}

fn refused(refusal: AuthorizeError) -> HttpResponse {
    match refusal {
        AuthorizeError::Untrusted(message) => error_page(
            StatusCode::BAD_REQUEST,
            "This sign-in request cannot be used",
            &message,
        ),
        AuthorizeError::Redirect(location) => secured(HttpResponse::SeeOther(), None)
            .insert_header((header::LOCATION, location))
            .finish(),
        AuthorizeError::Failed(error) => failed(&error),
    }
}

fn failed(error: &OAuthError) -> HttpResponse {
    let status = match error {
        OAuthError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error_page(
        status,
        "Something went wrong",
        "The sign-in could not be completed. Please try again in a moment.",
    )
}

/// The client as the page shows it.
struct ClientView<'a> {
    name: &'a str,
    business_name: Option<&'a str>,
    scopes: Vec<&'a str>,
    /// Where the answer goes, as the user can judge it: the redirect URI's origin (scheme,
    /// host and port), or a native app's private-use scheme (`com.example.app:`).
    return_to: String,
}

#[derive(Template)]
#[template(path = "signin.html")]
struct SignInPage<'a> {
    client: ClientView<'a>,
    /// The client's tenant, the one the user signs in to.
    tenant: &'a str,
    failed: bool,
    refused: &'a str,
    action: &'a str,
    csrf_token: &'a str,
}

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage<'a> {
    client: ClientView<'a>,
    username: &'a str,
    tenant: &'a str,
    action: &'a str,
    csrf_token: &'a str,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
}

fn render_page(
    req: &HttpRequest,
    state: &AppState,
    request: &AuthorizationRequest,
    page: Page,
) -> HttpResponse {
    let origin = origin_of(&request.reply.redirect_uri);
    let client = ClientView {
        name: &request.client.settings.name,
        business_name: request.client.settings.business_name.as_deref(),
        scopes: request.scopes.iter().map(|scope| scope.as_str()).collect(),
        return_to: origin.clone(),
    };
    let action = format!("authorize?{}", req.query_string());
    let html = match &page.stage {
        Stage::SignIn { failed } => SignInPage {
            client,
            tenant: request.client.tenant_id.as_str(),
            failed: *failed,
            refused: REFUSED_MESSAGE,
            action: &action,
            csrf_token: &page.csrf_token,
        }
        .render(),
        Stage::Consent { username, tenant } => ConsentPage {
            client,
            username,
            tenant,
            action: &action,
            csrf_token: &page.csrf_token,
        }
        .render(),
    };
    match html {
        Ok(html) => secured(HttpResponse::Ok(), Some(&origin))
            .cookie(login_cookie(state, page.cookie))
            .content_type("text/html; charset=utf-8")
            .body(html),
        Err(error) => {
            tracing::error!(error = %error, "cannot render the login page");
            failed(&OAuthError::ServerError)
        }
    }
}

fn error_page(status: StatusCode, title: &str, message: &str) -> HttpResponse {
    let html = ErrorPage { title, message }
        .render()
        .unwrap_or_else(|_| "Sign-in failed.".to_owned());
    secured(HttpResponse::build(status), None)
        .content_type("text/html; charset=utf-8")
        .body(html)
}

/// The headers of every answer of the login page. `form_target`: the origin its forms
/// may be redirected to.
pub(super) fn secured(
    response: HttpResponseBuilder,
    form_target: Option<&str>,
) -> HttpResponseBuilder {
    let form_action = match form_target {
        Some(origin) => format!("form-action 'self' {origin}"),
        None => "form-action 'self'".to_owned(),
    };
    page_headers(
        response,
        &format!("default-src 'self'; base-uri 'none'; frame-ancestors 'none'; {form_action}"),
    )
}

/// The headers of every page Tessera serves (the login page's, the portal's): `csp`,
/// no framing (for browsers that predate `frame-ancestors` too), no sniffing, no
/// `Referer`, no caching.
pub(super) fn page_headers(mut response: HttpResponseBuilder, csp: &str) -> HttpResponseBuilder {
    response
        .insert_header((header::CONTENT_SECURITY_POLICY, csp))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    response
}

/// What a `form-action` source names of a redirect URI: `https://app.example.com` of
/// `https://app.example.com/cb?x`; the scheme, `com.example.app:`, of a native app's
/// private-use URI, which has no origin (CSP's scheme-source).
pub(super) fn origin_of(uri: &str) -> String {
    match url::Url::parse(uri) {
        Ok(url) if url.origin().is_tuple() => url.origin().ascii_serialization(),
        Ok(url) => format!("{}:", url.scheme()),
        Err(_) => String::new(),
    }
}

/// `__Host-` binds the cookie to this exact origin, but browsers take it only when
/// `Secure`: over plain http (a local issuer) the name has no prefix.
fn cookie_name(state: &AppState) -> &'static str {
    if is_https(state) {
        "__Host-tessera_login"
    } else {
        "tessera_login"
    }
}

pub(super) fn is_https(state: &AppState) -> bool {
    state.issuer.starts_with("https://")
}

fn cookie_value(req: &HttpRequest, state: &AppState) -> Option<String> {
    req.cookie(cookie_name(state))
        .map(|cookie| cookie.value().to_owned())
}

fn login_cookie(state: &AppState, value: String) -> Cookie<'static> {
    Cookie::build(cookie_name(state), value)
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(is_https(state))
        .path("/")
        .max_age(actix_web::cookie::time::Duration::seconds(
            state.login.session_seconds(),
        ))
        .finish()
}

fn removal_cookie(state: &AppState) -> Cookie<'static> {
    let mut cookie = login_cookie(state, String::new());
    cookie.make_removal();
    cookie
}

//! `GET /portal`: the tenant portal's door. With `?token=` (a portal link, see
//! [`crate::tokens::portal_link`]) it opens the link and answers 303 to `portal` (the same
//! path, without the token) with the portal session's cookie; without it, it shows the
//! portal of the session in the cookie (for now a page naming the tenant), or a page
//! saying to open a portal link (401).
//!
//! A browser withholds the `SameSite=Strict` cookie from a navigation that another site
//! started, redirects included: following a link from the application's page thus
//! lands on `/portal` without it. Such a request (`Sec-Fetch-Site: cross-site`) gets a
//! page that reloads `/portal` from this origin at once (a meta refresh), which carries
//! the cookie; that reload is same-origin, so it never loops.
//!
//! The cookie holds the session's tenant admin token: `HttpOnly`, `SameSite=Strict`,
//! `Path=/`, `Secure` and `__Host-` prefixed when the issuer is https, and lasting as
//! long as the token. A link that cannot be opened (used, expired, revoked) gets a page
//! saying so, with status 410 Gone: it did work once and never will again, which is
//! what 410 says, and no client retries it; a token that is no link at all is a 400.
//! Every answer has the login page's headers (no framing, no script, no caching, no
//! `Referer`, so the token in the address bar is never sent on).

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use chrono::{DateTime, Utc};

use super::authorize::{is_https, secured, stylesheet};
use super::request_context::current_request_id;
use super::AppState;
use crate::auth::AuthError;
use crate::metrics::TokenGrant;
use crate::tokens::portal_link::{OpenError, PortalSession};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/portal").route(web::get().to(portal)));
    cfg.service(super::resource("/portal/assets/login.css").route(web::get().to(stylesheet)));
}

async fn portal(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let tokens: Vec<_> = url::form_urlencoded::parse(req.query_string().as_bytes())
        .filter(|(name, _)| name == "token")
        .map(|(_, value)| value.into_owned())
        .collect();
    match tokens.as_slice() {
        [] => show(&req, &state).await,
        [token] => open(&state, token).await,
        _ => not_a_link(),
    }
}

async fn open(state: &AppState, token: &str) -> HttpResponse {
    let opened = state
        .auth
        .tenant_tokens()
        .open_portal_link(token, current_request_id(), Utc::now())
        .await;
    match opened {
        Ok(session) => {
            state.metrics.token_issued(TokenGrant::TenantAdmin);
            secured(HttpResponse::SeeOther(), None)
                .insert_header((header::LOCATION, "portal"))
                .cookie(session_cookie(state, &session, Utc::now()))
                .finish()
        }
        Err(OpenError::Malformed) => not_a_link(),
        Err(OpenError::Unusable) => message_page(
            StatusCode::GONE,
            "This portal link no longer works",
            "A portal link opens once, within a minute of being issued, and this one was \
             used already or is too old. Ask for a new link.",
        ),
        Err(OpenError::Unexpected(error)) => {
            tracing::error!(error = format!("{error:#}"), "cannot open a portal link");
            unavailable()
        }
    }
}

#[derive(Template)]
#[template(path = "portal.html")]
struct PortalPage<'a> {
    name: &'a str,
    tenant_id: &'a str,
    ends_at: String,
}

#[derive(Template)]
#[template(path = "portal_message.html")]
struct MessagePage<'a> {
    title: &'a str,
    message: &'a str,
}

async fn show(req: &HttpRequest, state: &AppState) -> HttpResponse {
    let Some(cookie) = req.cookie(cookie_name(state)) else {
        if is_cross_site_navigation(req) {
            return continue_page();
        }
        return message_page(StatusCode::UNAUTHORIZED, OPEN_A_LINK, OPEN_A_LINK_TEXT);
    };
    match state.auth.portal_session(cookie.value(), Utc::now()).await {
        Ok((tenant, expires_at)) => {
            let ends_at = DateTime::from_timestamp(expires_at, 0)
                .unwrap_or_default()
                .format("%Y-%m-%d %H:%M UTC")
                .to_string();
            let page = PortalPage {
                name: tenant.name.as_deref().unwrap_or(tenant.id.as_str()),
                tenant_id: tenant.id.as_str(),
                ends_at,
            };
            match page.render() {
                Ok(html) => secured(HttpResponse::Ok(), None)
                    .content_type("text/html; charset=utf-8")
                    .body(html),
                Err(error) => {
                    tracing::error!(error = %error, "cannot render the portal page");
                    unavailable()
                }
            }
        }
        Err(AuthError::Invalid) => {
            let mut response = message_page(
                StatusCode::UNAUTHORIZED,
                "Your portal session has ended",
                OPEN_A_LINK_TEXT,
            );
            let _ = response.add_cookie(&removal_cookie(state));
            response
        }
        Err(AuthError::Unexpected(error)) => {
            tracing::error!(
                error = format!("{error:#}"),
                "cannot check a portal session"
            );
            unavailable()
        }
        Err(AuthError::Unavailable) => unavailable(),
    }
}

/// A navigation that started on another site (Fetch Metadata): the browser withholds
/// `SameSite=Strict` cookies from it, even at the end of a redirect from an opened
/// link, as when a tenant admin follows a portal link from the application's page.
fn is_cross_site_navigation(req: &HttpRequest) -> bool {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    header("sec-fetch-site") == Some("cross-site") && header("sec-fetch-mode") == Some("navigate")
}

#[derive(Template)]
#[template(path = "portal_continue.html")]
struct ContinuePage;

/// Reloads `/portal` from this origin (a meta refresh, no script), which the browser
/// sends the session cookie with; a page of its own so it never loops.
fn continue_page() -> HttpResponse {
    match ContinuePage.render() {
        Ok(html) => secured(HttpResponse::Ok(), None)
            .content_type("text/html; charset=utf-8")
            .body(html),
        Err(error) => {
            tracing::error!(error = %error, "cannot render the portal page");
            unavailable()
        }
    }
}

const OPEN_A_LINK: &str = "Open a portal link";
const OPEN_A_LINK_TEXT: &str = "The portal opens from a portal link, which the application \
     you manage this tenant with gives you. Ask it for a new link.";

fn not_a_link() -> HttpResponse {
    message_page(
        StatusCode::BAD_REQUEST,
        "This is not a portal link",
        "Check that the whole link was copied, or ask for a new one.",
    )
}

fn unavailable() -> HttpResponse {
    message_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "The portal cannot be opened now. Please try again in a moment.",
    )
}

fn message_page(status: StatusCode, title: &str, message: &str) -> HttpResponse {
    let html = MessagePage { title, message }
        .render()
        .unwrap_or_else(|_| title.to_owned());
    secured(HttpResponse::build(status), None)
        .content_type("text/html; charset=utf-8")
        .body(html)
}

/// `__Host-` binds the cookie to this exact origin, but browsers take it only when
/// `Secure`: over plain http (a local issuer) the name has no prefix.
fn cookie_name(state: &AppState) -> &'static str {
    if is_https(state) {
        "__Host-tessera_portal"
    } else {
        "tessera_portal"
    }
}

fn session_cookie(
    state: &AppState,
    session: &PortalSession,
    now: DateTime<Utc>,
) -> Cookie<'static> {
    let seconds = (session.expires_at - now.timestamp()).max(0);
    build_cookie(state, session.token.clone(), seconds)
}

fn build_cookie(state: &AppState, value: String, max_age_seconds: i64) -> Cookie<'static> {
    Cookie::build(cookie_name(state), value)
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(is_https(state))
        .path("/")
        .max_age(actix_web::cookie::time::Duration::seconds(max_age_seconds))
        .finish()
}

fn removal_cookie(state: &AppState) -> Cookie<'static> {
    let mut cookie = build_cookie(state, String::new(), 0);
    cookie.make_removal();
    cookie
}

//! `/portal`: the tenant portal. `GET /portal?token=` (a portal link, see
//! [`crate::tokens::portal_link`]) shows a page whose button posts the token to
//! `POST /portal`, which opens the link and answers 303 to `portal` (the same path,
//! without the token) with the portal session's cookie. Fetching a link spends nothing
//! (scanners fetch links before people do); the press must come from this origin and
//! with the cookie the page set, bound to the link (`SameSite=Strict`, so another site
//! cannot post a link of its own tenant into a browser). `GET /portal` shows the
//! portal's page for the session in the cookie (`templates/portal.html`: a shell its
//! script fills through the API, with the cookie and the session's CSRF token, see
//! [`crate::auth::Authenticator::portal_caller`]), or a page saying to open a portal link
//! (401). `POST /portal/logout` ends the session and sends the browser to
//! `/portal/signed-out`. The page's script and stylesheet are compiled into the binary
//! (`/portal/assets/…`).
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
//! Every page forbids framing, caching and `Referer` (so the token in the address bar is
//! never sent on), and has [`CONTENT_SECURITY_POLICY`]: this origin's script and
//! stylesheet only (no inline script or style), calls to this origin only.

use std::sync::LazyLock;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, HttpResponseBuilder};
use askama::Template;
use chrono::{DateTime, Utc};

use super::authorize::{is_https, page_headers, stylesheet};
use super::request_context::current_request_id;
use super::{rfc3339, AppState};
use crate::auth::AuthError;
use crate::metrics::TokenGrant;
use crate::oauth::Form;
use crate::tokens::portal_link::{self, OpenError, PortalSession};
use crate::tokens::tenant_admin::TenantTokenService;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/portal").get(portal).post(open_link));
    cfg.service(super::resource("/portal/logout").post(logout));
    cfg.service(super::resource("/portal/signed-out").get(signed_out));
    cfg.service(super::resource("/portal/assets/login.css").get(stylesheet));
    cfg.service(super::resource("/portal/assets/portal.js").get(script));
    cfg.service(super::resource("/portal/assets/portal.css").get(portal_stylesheet));
}

/// What a portal page may load and do: its own script and stylesheet (never inline
/// ones), images of this origin or `data:`, calls to this origin's API, forms posted
/// here; no framing, no `<base>`.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

/// A portal page's headers: the pages' own ([`page_headers`]) with
/// [`CONTENT_SECURITY_POLICY`].
fn secured(response: HttpResponseBuilder) -> HttpResponseBuilder {
    page_headers(response, CONTENT_SECURITY_POLICY)
}

async fn portal(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let tokens: Vec<_> = url::form_urlencoded::parse(req.query_string().as_bytes())
        .filter(|(name, _)| name == "token")
        .map(|(_, value)| value.into_owned())
        .collect();
    match tokens.as_slice() {
        [] => show(&req, &state).await,
        [token] => confirm(&state, token).await,
        _ => not_a_link(),
    }
}

/// `GET /portal?token=…`: a page whose button opens the link (a POST), and nothing
/// spent — mail and chat scanners fetch links before people do, and a link of someone
/// else's tenant must not sign a browser in by being visited. A link already used or
/// expired says so at once.
async fn confirm(state: &AppState, token: &str) -> HttpResponse {
    let waiting = state
        .auth
        .tenant_tokens()
        .portal_link_waiting(token, Utc::now())
        .await;
    match waiting {
        Ok(Some(tenant)) => match (OpenPage {
            token,
            tenant: tenant.as_str(),
        })
        .render()
        {
            Ok(html) => secured(HttpResponse::Ok())
                .cookie(opener_cookie(state, Some(token)))
                .content_type("text/html; charset=utf-8")
                .body(html),
            Err(error) => {
                tracing::error!(error = %error, "cannot render the portal page");
                unavailable()
            }
        },
        Ok(None) => link_spent(),
        Err(OpenError::Malformed) => not_a_link(),
        Err(OpenError::Unavailable) => try_again_shortly(),
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "cannot look a portal link up");
            unavailable()
        }
    }
}

#[derive(Template)]
#[template(path = "portal_open.html")]
struct OpenPage<'a> {
    token: &'a str,
    tenant: &'a str,
}

/// `POST /portal`, the button of [`confirm`]'s page, with the link's `token`: opens it
/// if the post comes with the cookie that page set for this link, and not from another
/// origin (`Sec-Fetch-Site` and `Origin`, where the browser sends them).
async fn open_link(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> HttpResponse {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let form = Form::parse(&body)
        .ok()
        .filter(|_| super::oauth::is_form(&req));
    let Some(token) = form.as_ref().and_then(|form| form.get("token")) else {
        return not_a_link();
    };
    let from_its_page = req
        .cookie(opener_cookie_name(&state))
        .is_some_and(|cookie| {
            crate::tokens::constant_time_eq(
                cookie.value().as_bytes(),
                TenantTokenService::opener_binding(token).as_bytes(),
            )
        });
    let own_origin = super::authorize::origin_of(&state.issuer);
    let foreign = header("sec-fetch-site").is_some_and(|site| site != "same-origin")
        || header("origin").is_some_and(|origin| origin != "null" && origin != own_origin);
    if !from_its_page || foreign {
        let mut refused = message_page(
            AT_PORTAL,
            StatusCode::FORBIDDEN,
            "This portal link was not opened",
            "A portal link opens only from its own page. Open the link itself.",
        );
        let _ = refused.add_cookie(&opener_cookie(&state, None));
        return refused;
    }
    let mut opened = open(&state, token).await;
    let _ = opened.add_cookie(&opener_cookie(&state, None));
    opened
}

fn opener_cookie_name(state: &AppState) -> &'static str {
    if is_https(state) {
        "__Host-tessera_portal_open"
    } else {
        "tessera_portal_open"
    }
}

/// The cookie of a link's page (`token`'s binding, for a minute: a link lives no
/// longer), or its removal (`None`).
fn opener_cookie(state: &AppState, token: Option<&str>) -> Cookie<'static> {
    let mut cookie = Cookie::build(
        opener_cookie_name(state),
        token
            .map(TenantTokenService::opener_binding)
            .unwrap_or_default(),
    )
    .http_only(true)
    .same_site(SameSite::Strict)
    .secure(is_https(state))
    .path("/")
    .max_age(actix_web::cookie::time::Duration::seconds(
        crate::config::MAX_PORTAL_LINK_SECONDS as i64,
    ))
    .finish();
    if token.is_none() {
        cookie.make_removal();
    }
    cookie
}

async fn open(state: &AppState, token: &str) -> HttpResponse {
    // One instant for the token and the cookie: the cookie lasts exactly as long as the
    // token, however long the opening took.
    let now = Utc::now();
    let opened = state
        .auth
        .tenant_tokens()
        .open_portal_link(token, current_request_id(), now)
        .await;
    match opened {
        Ok(session) => {
            state.metrics.token_issued(TokenGrant::TenantAdmin);
            secured(HttpResponse::SeeOther())
                .insert_header((header::LOCATION, "portal"))
                .cookie(session_cookie(state, &session, now))
                .finish()
        }
        Err(OpenError::Malformed) => not_a_link(),
        Err(OpenError::Unusable) => link_spent(),
        Err(OpenError::Unavailable) => try_again_shortly(),
        Err(OpenError::Unexpected(error)) => {
            tracing::error!(error = format!("{error:#}"), "cannot open a portal link");
            unavailable()
        }
    }
}

/// The portal's page: a shell whose script (`assets/portal.js`) reads these from the
/// `<body>`'s `data-` attributes and does the rest through the API.
#[derive(Template)]
#[template(path = "portal.html")]
struct PortalPage<'a> {
    tenant_id: &'a str,
    tenant_name: &'a str,
    /// Sent back as `X-CSRF-Token` with every API call, and in the logout form.
    csrf_token: String,
    /// RFC 3339, UTC: when the session (its token) expires.
    ends_at: String,
}

#[derive(Template)]
#[template(path = "portal_message.html")]
struct MessagePage<'a> {
    /// The way from the page's path to `/portal/`: relative, so a path prefix of the
    /// issuer is kept.
    base: &'a str,
    title: &'a str,
    message: &'a str,
    is_error: bool,
}

/// [`MessagePage::base`] at `/portal`, and at a path under `/portal/`.
const AT_PORTAL: &str = "portal/";
const UNDER_PORTAL: &str = "";

async fn show(req: &HttpRequest, state: &AppState) -> HttpResponse {
    let Some(cookie) = req.cookie(cookie_name(state)) else {
        if is_cross_site_navigation(req) {
            return continue_page();
        }
        return message_page(
            AT_PORTAL,
            StatusCode::UNAUTHORIZED,
            OPEN_A_LINK,
            OPEN_A_LINK_TEXT,
        );
    };
    match state.auth.portal_session(cookie.value(), Utc::now()).await {
        Ok((tenant, expires_at)) => {
            let page = PortalPage {
                tenant_id: tenant.id.as_str(),
                tenant_name: tenant.name.as_deref().unwrap_or(tenant.id.as_str()),
                csrf_token: portal_link::csrf_token(cookie.value()),
                ends_at: rfc3339(DateTime::from_timestamp(expires_at, 0).unwrap_or_default()),
            };
            match page.render() {
                Ok(html) => secured(HttpResponse::Ok())
                    .content_type("text/html; charset=utf-8")
                    .body(html),
                Err(error) => {
                    tracing::error!(error = %error, "cannot render the portal page");
                    unavailable()
                }
            }
        }
        Err(AuthError::Invalid | AuthError::CsrfRefused) => {
            let mut response = message_page(
                AT_PORTAL,
                StatusCode::UNAUTHORIZED,
                SESSION_ENDED,
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
        Err(AuthError::Unavailable) => try_again_shortly(),
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
        Ok(html) => secured(HttpResponse::Ok())
            .content_type("text/html; charset=utf-8")
            .body(html),
        Err(error) => {
            tracing::error!(error = %error, "cannot render the portal page");
            unavailable()
        }
    }
}

/// `POST /portal/logout`, the page's sign-out form: with the session's CSRF token in
/// `csrf_token`, from this origin (`Sec-Fetch-Site`, where the browser sends it), it
/// denies the session's token, removes the cookie and answers 303 to `signed-out`. A
/// session already over is only forgotten (the cookie removed).
async fn logout(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> HttpResponse {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    if header("sec-fetch-site").is_some_and(|site| site != "same-origin") {
        return refused_logout();
    }
    let Some(cookie) = req.cookie(cookie_name(&state)) else {
        return signed_out_redirect(&state);
    };
    let form = Form::parse(&body)
        .ok()
        .filter(|_| super::oauth::is_form(&req));
    let csrf = form.as_ref().and_then(|form| form.get("csrf_token"));
    if !csrf.is_some_and(|csrf| portal_link::csrf_matches(cookie.value(), csrf)) {
        return refused_logout();
    }
    let ended = state
        .auth
        .tenant_tokens()
        .end_portal_session(cookie.value(), current_request_id(), Utc::now())
        .await;
    match ended {
        Ok(Some(change)) => state.applied(change).await,
        Ok(None) => {}
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "cannot end a portal session");
            return unavailable_under_portal();
        }
    }
    signed_out_redirect(&state)
}

fn signed_out_redirect(state: &AppState) -> HttpResponse {
    secured(HttpResponse::SeeOther())
        .insert_header((header::LOCATION, "signed-out"))
        .cookie(removal_cookie(state))
        .finish()
}

/// A sign-out that did not come from the portal's page: nothing changes.
fn refused_logout() -> HttpResponse {
    message_page(
        UNDER_PORTAL,
        StatusCode::FORBIDDEN,
        "This sign-out could not be checked",
        "Nothing was changed. Go back to the portal, reload the page and sign out again.",
    )
}

/// `GET /portal/signed-out`: where a sign-out ends.
async fn signed_out() -> HttpResponse {
    message_page(
        UNDER_PORTAL,
        StatusCode::OK,
        "You have signed out of the portal",
        "Your portal session has ended. To manage this tenant again, open a new portal \
         link from the application you manage it with.",
    )
}

const SCRIPT: &str = include_str!("../../assets/portal.js");
const STYLESHEET: &str = include_str!("../../assets/portal.css");

/// The validator of each asset: its digest, computed once.
static SCRIPT_ETAG: LazyLock<String> = LazyLock::new(|| etag_of(SCRIPT));
static STYLESHEET_ETAG: LazyLock<String> = LazyLock::new(|| etag_of(STYLESHEET));

async fn script(req: HttpRequest) -> HttpResponse {
    asset(&req, SCRIPT, &SCRIPT_ETAG, "text/javascript; charset=utf-8")
}

async fn portal_stylesheet(req: HttpRequest) -> HttpResponse {
    asset(
        &req,
        STYLESHEET,
        &STYLESHEET_ETAG,
        "text/css; charset=utf-8",
    )
}

fn etag_of(body: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, body.as_bytes());
    format!("\"{}\"", hex::encode(&digest.as_ref()[..16]))
}

/// An asset compiled into the binary. Its URL carries no version, so a browser keeps it
/// but asks again each time (`no-cache`, answered 304 while its `ETag` matches): after
/// an upgrade the page never runs an older script against a newer API.
fn asset(req: &HttpRequest, body: &'static str, etag: &str, content_type: &str) -> HttpResponse {
    let unchanged = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .map(|tag| tag.trim().trim_start_matches("W/"))
                .any(|tag| tag == etag || tag == "*")
        });
    let mut response = if unchanged {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    if unchanged {
        response.finish()
    } else {
        response.content_type(content_type).body(body)
    }
}

const SESSION_ENDED: &str = "Your portal session has ended";

const OPEN_A_LINK: &str = "Open a portal link";
const OPEN_A_LINK_TEXT: &str = "The portal opens from a portal link, which the application \
     you manage this tenant with gives you. Ask it for a new link.";

fn not_a_link() -> HttpResponse {
    message_page(
        AT_PORTAL,
        StatusCode::BAD_REQUEST,
        "This is not a portal link",
        "Check that the whole link was copied, or ask for a new one.",
    )
}

fn unavailable() -> HttpResponse {
    message_page(
        AT_PORTAL,
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "The portal cannot be opened now. Please try again in a moment.",
    )
}

/// 410: a link used already or expired.
fn link_spent() -> HttpResponse {
    message_page(
        AT_PORTAL,
        StatusCode::GONE,
        "This portal link no longer works",
        "A portal link opens once, within a minute of being issued, and this one was \
         used already or is too old. Ask for a new link.",
    )
}

/// 503: the server cannot confirm what it holds is current (the change feed cannot be
/// read); nothing was spent, and the same request will work again shortly.
fn try_again_shortly() -> HttpResponse {
    message_page(
        AT_PORTAL,
        StatusCode::SERVICE_UNAVAILABLE,
        "The portal cannot be opened now",
        "Please try again in a moment.",
    )
}

fn unavailable_under_portal() -> HttpResponse {
    message_page(
        UNDER_PORTAL,
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "You could not be signed out now. Please try again in a moment.",
    )
}

fn message_page(base: &str, status: StatusCode, title: &str, message: &str) -> HttpResponse {
    let html = MessagePage {
        base,
        title,
        message,
        // A page that reports what went well (signed out) is no alert.
        is_error: status.is_client_error() || status.is_server_error(),
    }
    .render()
    .unwrap_or_else(|_| title.to_owned());
    secured(HttpResponse::build(status))
        .content_type("text/html; charset=utf-8")
        .body(html)
}

/// `__Host-` binds the cookie to this exact origin, but browsers take it only when
/// `Secure`: over plain http (a local issuer) the name has no prefix. The API's
/// extractor reads the same cookie.
pub(super) fn cookie_name(state: &AppState) -> &'static str {
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

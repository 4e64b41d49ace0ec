//! What every request to the dashboard passes first: its `Host` must name the dashboard (a
//! page of another site that resolves its name to 127.0.0.1 is refused; over HTTPS any name
//! passes, since such a page fails the certificate check before it sends anything),
//! `/health`, `/login` and `/style.css` are open, everything else needs the session cookie
//! (a page asked for without one goes to `/login` when a password is set) (or the API key as
//! `Authorization: Bearer`), and a state-changing request with a cookie needs the session's
//! CSRF token in `X-CSRF-Token`. Every answer gets headers that keep
//! the page from being framed or sniffed and from loading anything off the node.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};

use super::auth::same_token;
use super::login::{SessionCsrf, SESSION_COOKIE};
use super::Gui;
use crate::control::ApiError;

/// Header a state-changing request carries its session's CSRF token in.
pub(super) const CSRF_HEADER: &str = "x-csrf-token";

/// Paths anyone may request.
const OPEN_PATHS: [&str; 3] = ["/health", "/login", "/style.css"];

/// The policy of every answer: nothing from off the node, no framing.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// What the guard needs: the dashboard's sessions and the `Host` values that name it (`None`:
/// any, over HTTPS).
pub(super) struct Guard {
    pub gui: Gui,
    pub hosts: Option<Vec<String>>,
}

pub(super) async fn guard(State(g): State<Arc<Guard>>, mut req: Request, next: Next) -> Response {
    let mut response = match check(&g, &mut req) {
        Ok(()) => next.run(req).await,
        Err(refused) => refused.into_response(),
    };
    add_security_headers(response.headers_mut());
    response
}

/// Why the guard answered a request itself.
enum Refused {
    /// The `Host` does not name the dashboard (the text, cut short).
    Host { given: String, hosts: String },
    /// No open session; `page`: a page was asked for, not the API.
    NoSession { page: bool },
    /// A page asked for without a session, on a node with a password: the login form.
    ToLogin,
    /// A state-changing request without the session's CSRF token.
    NoCsrfToken,
    /// An `Authorization: Bearer` key that is not the API key.
    WrongKey,
}

/// Lets the request through (with its session's [`SessionCsrf`]), or says why not.
fn check(g: &Guard, req: &mut Request) -> Result<(), Refused> {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    if let Some(hosts) = &g.hosts {
        if !hosts.iter().any(|h| h.eq_ignore_ascii_case(host)) {
            return Err(Refused::Host {
                given: host.chars().take(64).collect(),
                hosts: hosts.join(" or "),
            });
        }
    }
    let path = req.uri().path();
    if OPEN_PATHS.contains(&path) {
        return Ok(());
    }
    // A script's key: no cookie is sent by a browser on its own, so no CSRF token either.
    if let Some(key) = bearer(req.headers()) {
        if g.gui.is_api_key(key) {
            return Ok(());
        }
        return Err(Refused::WrongKey);
    }
    let csrf = session_cookie(req.headers()).and_then(|s| g.gui.auth().csrf_of(s, Instant::now()));
    let Some(csrf) = csrf else {
        let page = !path.starts_with("/v1/") && path != "/metrics";
        if page && super::password::load(&g.gui.inner.data_dir).is_ok_and(|p| p.is_some()) {
            return Err(Refused::ToLogin);
        }
        return Err(Refused::NoSession { page });
    };
    if !safe(req.method()) {
        let given = req
            .headers()
            .get(CSRF_HEADER)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        if !same_token(given, &csrf) {
            return Err(Refused::NoCsrfToken);
        }
    }
    req.extensions_mut().insert(SessionCsrf(csrf));
    Ok(())
}

fn safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The key of an `Authorization: Bearer KEY` header, if the request has one.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// The value of the session cookie, if the request has one.
fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value)
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        const NO_SESSION: &str = "no dashboard session: run `dmc gui` on the node's machine and \
                                  open the link it prints";
        match self {
            Refused::Host { given, hosts } => ApiError::new(
                StatusCode::FORBIDDEN,
                format!("the dashboard answers only to {hosts}, not to host {given:?}"),
            )
            .into_response(),
            Refused::NoSession { page: false } => {
                ApiError::new(StatusCode::UNAUTHORIZED, NO_SESSION).into_response()
            }
            Refused::NoSession { page: true } => (
                StatusCode::UNAUTHORIZED,
                Html(format!(
                    "<!doctype html><title>dmc: log in</title><p>{}</p>",
                    NO_SESSION.replace('`', "")
                )),
            )
                .into_response(),
            Refused::ToLogin => axum::response::Redirect::to("/login").into_response(),
            Refused::WrongKey => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "that API key is not this node's (`dmc gui api-key` makes a new one, replacing \
                 the old)",
            )
            .into_response(),
            Refused::NoCsrfToken => ApiError::new(
                StatusCode::FORBIDDEN,
                "a state-changing request needs the session's token in the X-CSRF-Token header \
                 (GET /v1/gui/session gives it)",
            )
            .into_response(),
        }
    }
}

fn add_security_headers(headers: &mut HeaderMap) {
    let set = [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        // Not `no-referrer`: with it a browser sends `Origin: null` on the login form's post,
        // which the login refuses; `same-origin` still tells other sites nothing.
        (header::REFERRER_POLICY, "same-origin"),
    ];
    for (name, value) in set {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
}

//! Logging in: `POST /v1/gui/login-link` (control socket only) makes a one-time link,
//! `GET /login?token=…` (dashboard) trades it for a session cookie (without a token it is the
//! password form, `password_login.rs`), `GET /v1/gui/session`
//! gives the page its CSRF token; `POST /v1/gui/api-key` (socket only) makes the scripts' key.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Instant;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::post;
use axum::{Extension, Json, Router};
use serde::Deserialize;

use super::auth::{Opened, LINK_TTL};
use super::{Gui, Served};
use crate::control::api::{ApiKey, GuiSession, LoginLink};
use crate::control::ApiError;

/// Name of the session cookie.
pub(super) const SESSION_COOKIE: &str = "dmc_session";
/// Longest login token read from a query (a real one has 64 hex digits).
const MAX_TOKEN_LEN: usize = 128;

/// The CSRF token of the request's session, put in its extensions by the guard.
#[derive(Clone, Debug)]
pub(super) struct SessionCsrf(pub String);

pub(super) fn socket_routes(gui: Gui) -> Router {
    Router::new()
        .route("/v1/gui/login-link", post(login_link))
        .route("/v1/gui/api-key", post(new_api_key))
        .with_state(gui)
}

async fn login_link(State(gui): State<Gui>) -> Result<Json<LoginLink>, ApiError> {
    let at =
        match gui.served() {
            Served::At(addr) => addr,
            Served::Off => return Err(ApiError::new(
                StatusCode::CONFLICT,
                "the dashboard is off on this node ([gui] listen = \"\"); set [gui] listen, e.g. \
                 to \"127.0.0.1:8747\", and restart the node",
            )),
            Served::Starting => {
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the dashboard is still starting; try again in a moment",
                ))
            }
            Served::Failed(why) => {
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("the dashboard is not served: {why}"),
                ))
            }
        };
    let token = gui
        .auth()
        .new_link(Instant::now())
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let scheme = if gui.https() { "https" } else { "http" };
    let dashboard = format!("{scheme}://{}/", on_this_machine(at));
    Ok(Json(LoginLink {
        url: format!("{dashboard}login?token={token}"),
        dashboard,
        expires_in_secs: LINK_TTL.as_secs(),
        fingerprint: gui.inner.tls_fingerprint.clone(),
    }))
}

/// The address a browser on this machine reaches the dashboard at: the listen address, or
/// loopback when it listens on every address.
fn on_this_machine(at: SocketAddr) -> SocketAddr {
    match at.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), at.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), at.port())
        }
        _ => at,
    }
}

/// The `Set-Cookie` value of an opened session: HttpOnly, SameSite=Strict, and Secure over
/// HTTPS.
pub(super) fn session_cookie(gui: &Gui, opened: &Opened) -> String {
    let secure = if gui.https() { "; Secure" } else { "" };
    format!(
        "{SESSION_COOKIE}={}; HttpOnly; SameSite=Strict; Path=/{secure}",
        opened.session
    )
}

async fn new_api_key(State(gui): State<Gui>) -> Result<Json<ApiKey>, ApiError> {
    let api_key = gui
        .new_api_key()
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e))?;
    Ok(Json(ApiKey { api_key }))
}

#[derive(Deserialize)]
pub(super) struct LoginQuery {
    #[serde(default)]
    token: String,
}

/// `GET /login?token=…`: a valid, unused token sets the session cookie and goes to `/`;
/// without a token, the password form.
pub(super) async fn login(State(gui): State<Gui>, Query(q): Query<LoginQuery>) -> Response {
    if q.token.is_empty() {
        return super::password_login::form_page(&gui, StatusCode::OK, "");
    }
    let opened = if q.token.len() > MAX_TOKEN_LEN {
        Ok(None)
    } else {
        gui.auth().redeem(&q.token, Instant::now())
    };
    match opened {
        Ok(Some(opened)) => {
            let cookie = session_cookie(&gui, &opened);
            ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response()
        }
        Ok(None) => (
            StatusCode::FORBIDDEN,
            Html(
                "<!doctype html><title>dmc: link refused</title><p>This login link was already \
                 used or has expired. Run <code>dmc gui</code> on the node's machine for a new \
                 one.</p>",
            ),
        )
            .into_response(),
        Err(e) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// `GET /v1/gui/session`: the page's CSRF token (a request with the API key has none).
pub(super) async fn session(
    csrf: Option<Extension<SessionCsrf>>,
) -> Result<Json<GuiSession>, ApiError> {
    match csrf {
        Some(Extension(csrf)) => Ok(Json(GuiSession { csrf_token: csrf.0 })),
        None => Err(ApiError::bad_request(
            "a request with the API key has no session and needs no CSRF token",
        )),
    }
}

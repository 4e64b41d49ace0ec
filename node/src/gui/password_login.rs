//! Logging in with the password: `GET /login` (no token) is the form, `POST /login` checks the
//! password against its argon2id hash and opens a session like a one-time link does. A wrong
//! password is logged with the client's address and makes that client wait before its next
//! try (`throttle.rs`); checks run off the async threads, two at a time.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

use super::login::session_cookie;
use super::password;
use super::tls_listener::Client;
use super::Gui;

const LOGIN_HTML: &str = include_str!("../../gui/login.html");

#[derive(Deserialize)]
pub(super) struct LoginForm {
    #[serde(default)]
    password: String,
}

/// The login page with `message` (plain text) above the form; without a password set, a page
/// that says how to log in instead.
pub(super) fn form_page(gui: &Gui, status: StatusCode, message: &str) -> Response {
    match password::load(&gui.inner.data_dir) {
        Ok(Some(_)) => {}
        Ok(None) => {
            return (
                StatusCode::FORBIDDEN,
                Html(
                    "<!doctype html><title>dmc: log in</title><p>This node has no dashboard \
                     password. Run <code>dmc gui</code> on the node's machine for a one-time \
                     login link (or <code>dmc gui set-password</code> to set a password).</p>",
                ),
            )
                .into_response()
        }
        Err(e) => {
            tracing::error!("the dashboard's password: {e}");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html(format!("<!doctype html><p>{}</p>", escape(&e.to_string()))),
            )
                .into_response();
        }
    }
    let shown = if message.is_empty() {
        String::new()
    } else {
        format!("<p class=\"error\" role=\"alert\">{}</p>", escape(message))
    };
    (status, Html(LOGIN_HTML.replace("{{message}}", &shown))).into_response()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `POST /login` with `password=…`.
pub(super) async fn log_in(
    State(gui): State<Gui>,
    ConnectInfo(Client(from)): ConnectInfo<Client>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    if !same_origin(&headers) {
        return (
            StatusCode::FORBIDDEN,
            "a login must come from the dashboard's own page",
        )
            .into_response();
    }
    let ip = from.ip();
    if let Some(wait) = gui.throttle().wait(ip, Instant::now()) {
        return must_wait(&gui, wait);
    }
    let phc = match password::load(&gui.inner.data_dir) {
        Ok(Some(phc)) => phc,
        _ => return form_page(&gui, StatusCode::FORBIDDEN, ""),
    };
    // Checks queue here; a client whose earlier guess failed meanwhile waits its turn.
    let Ok(_permit) = gui.inner.checking.acquire().await else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    if let Some(wait) = gui.throttle().wait(ip, Instant::now()) {
        return must_wait(&gui, wait);
    }
    let given = form.password;
    let right = tokio::task::spawn_blocking(move || password::verify(&phc, &given))
        .await
        .unwrap_or(false);
    if right {
        opened(&gui, ip)
    } else {
        wrong(&gui, ip)
    }
}

fn opened(gui: &Gui, ip: IpAddr) -> Response {
    gui.throttle().succeeded(ip);
    match gui.auth().open_session(Instant::now()) {
        Ok(opened) => {
            tracing::info!(client = %ip, "dashboard login with the password");
            let cookie = session_cookie(gui, &opened);
            ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response()
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

fn wrong(gui: &Gui, ip: IpAddr) -> Response {
    let (failures, wait) = gui.throttle().failed(ip, Instant::now());
    tracing::warn!(
        client = %ip,
        failures,
        wait_secs = wait.as_secs(),
        "wrong dashboard password"
    );
    form_page(
        gui,
        StatusCode::UNAUTHORIZED,
        &format!(
            "Wrong password. The next try is taken in {} s.",
            seconds(wait)
        ),
    )
}

/// 429 with `Retry-After`.
fn must_wait(gui: &Gui, wait: Duration) -> Response {
    let secs = seconds(wait);
    let mut page = form_page(
        gui,
        StatusCode::TOO_MANY_REQUESTS,
        &format!("Too many wrong passwords from your address: try again in {secs} s."),
    );
    page.headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
    page
}

/// Whole seconds, rounded up.
fn seconds(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

/// Whether a form post comes from a page of the dashboard: its `Origin` (browsers send one
/// with every form post) names the `Host` it was sent to. A post without `Origin` (a script)
/// passes.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, h)| h);
    matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
}

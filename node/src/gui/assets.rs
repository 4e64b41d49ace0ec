//! The page's files (`node/gui/`), embedded in the binary: plain HTML, CSS and JavaScript,
//! no build step, nothing loaded from elsewhere.

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

const INDEX_HTML: &str = include_str!("../../gui/index.html");
const APP_JS: &str = include_str!("../../gui/app.js");
const STYLE_CSS: &str = include_str!("../../gui/style.css");

/// `/`, `/app.js`, `/style.css`, `/health`.
pub(super) fn routes() -> Router {
    Router::new()
        .route("/", get(|| file("text/html; charset=utf-8", INDEX_HTML)))
        .route(
            "/app.js",
            get(|| file("text/javascript; charset=utf-8", APP_JS)),
        )
        .route(
            "/style.css",
            get(|| file("text/css; charset=utf-8", STYLE_CSS)),
        )
        .route("/health", get(|| file("text/plain; charset=utf-8", "ok\n")))
}

async fn file(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, content_type)], body)
}

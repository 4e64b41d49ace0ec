//! The routes of the control API and their handlers; each forwards to the core handle.

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, Uri};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use dmc_protocol::ItemId;
use serde::de::DeserializeOwned;

use super::api::{
    ConfigView, FetchRequest, FetchResponse, ItemPage, ItemView, ListQuery, NodeView, OfferOutcome,
    OfferRequest, PeerView, PriorityRequest, ProfileView, MAX_BODY_BYTES, MAX_PATH_LEN,
    MAX_PROFILE_LEN,
};
use super::error::ApiError;
use crate::core::CoreHandle;

type ApiResult<T> = Result<Json<T>, ApiError>;

/// The configuration the node runs with, when it was given one to serve (`/v1/config`).
#[derive(Clone)]
struct Running(Option<Arc<ConfigView>>);

/// Every route of the control API.
pub(crate) fn router(core: CoreHandle, running: Option<ConfigView>) -> Router {
    Router::new()
        .route("/v1/info", get(info))
        .route("/v1/config", get(config))
        .route("/v1/offer", post(offer))
        .route("/v1/items", get(list))
        .route("/v1/items/{item_id}", get(status))
        .route("/v1/items/{item_id}/cancel", post(cancel))
        .route("/v1/items/{item_id}/priority", post(priority))
        .route("/v1/items/{item_id}/retry", post(retry))
        .route("/v1/items/{item_id}/fetch", post(fetch))
        .route("/v1/peers", get(peers))
        .route("/v1/profiles", get(profiles))
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(Extension(Running(running.map(Arc::new))))
        .with_state(core)
}

async fn config(Extension(running): Extension<Running>) -> ApiResult<ConfigView> {
    match running.0 {
        Some(view) => Ok(Json(view.as_ref().clone())),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "this node does not report its configuration",
        )),
    }
}

async fn info(State(core): State<CoreHandle>) -> ApiResult<NodeView> {
    Ok(Json(core.info().await?))
}

async fn offer(
    State(core): State<CoreHandle>,
    Body(req): Body<OfferRequest>,
) -> ApiResult<OfferOutcome> {
    Ok(Json(offer_file(&core, req).await?))
}

/// An offer as `POST /v1/offer` makes it (`dmc offer`, and the dashboard's uploads): the
/// request checked, then the core's offer.
pub(crate) async fn offer_file(
    core: &CoreHandle,
    req: OfferRequest,
) -> Result<OfferOutcome, ApiError> {
    let path = absolute_path("path", &req.path)?;
    let profile = match req.profile {
        Some(p) if p.is_empty() || p.len() > MAX_PROFILE_LEN => {
            return Err(ApiError::bad_request(format!(
                "profile name must have 1 to {MAX_PROFILE_LEN} bytes; `dmc profiles` lists them"
            )));
        }
        p => p,
    };
    Ok(core
        .offer_with(path, profile, req.priority, req.again)
        .await?)
}

async fn list(
    State(core): State<CoreHandle>,
    QueryOf(q): QueryOf<ListQuery>,
) -> ApiResult<ItemPage> {
    let q = q.check().map_err(ApiError::bad_request)?;
    Ok(Json(core.list(q).await?))
}

async fn status(State(core): State<CoreHandle>, ItemParam(item): ItemParam) -> ApiResult<ItemView> {
    Ok(Json(core.status(item).await?))
}

async fn cancel(State(core): State<CoreHandle>, ItemParam(item): ItemParam) -> ApiResult<ItemView> {
    Ok(Json(core.cancel(item).await?))
}

async fn priority(
    State(core): State<CoreHandle>,
    ItemParam(item): ItemParam,
    Body(req): Body<PriorityRequest>,
) -> ApiResult<ItemView> {
    Ok(Json(core.set_priority(item, req.priority).await?))
}

async fn retry(
    State(core): State<CoreHandle>,
    ItemParam(item): ItemParam,
) -> ApiResult<OfferOutcome> {
    Ok(Json(core.retry(item).await?))
}

async fn fetch(
    State(core): State<CoreHandle>,
    ItemParam(item): ItemParam,
    Body(req): Body<FetchRequest>,
) -> ApiResult<FetchResponse> {
    let output = req
        .output
        .as_deref()
        .map(|o| absolute_path("output", o))
        .transpose()?;
    let path = core.fetch(item, output, req.force).await?;
    Ok(Json(FetchResponse {
        path: path.to_string_lossy().into_owned(),
    }))
}

async fn peers(State(core): State<CoreHandle>) -> ApiResult<Vec<PeerView>> {
    Ok(Json(core.peers().await?))
}

async fn profiles(State(core): State<CoreHandle>) -> ApiResult<Vec<ProfileView>> {
    Ok(Json(core.profiles().await?))
}

async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no such route: {method} {}", uri.path()),
    )
}

async fn wrong_method(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{} does not accept {method}", uri.path()),
    )
}

/// Checks that a path from a request is absolute, bounded and free of NUL bytes.
fn absolute_path(field: &str, p: &str) -> Result<PathBuf, ApiError> {
    if p.is_empty() || p.len() > MAX_PATH_LEN || p.contains('\0') {
        return Err(ApiError::bad_request(format!(
            "{field} must be a path of 1 to {MAX_PATH_LEN} bytes without NUL"
        )));
    }
    if !FsPath::new(p).is_absolute() {
        return Err(ApiError::bad_request(format!(
            "{field} must be an absolute path, got {p:?}"
        )));
    }
    Ok(PathBuf::from(p))
}

/// A JSON request body whose rejections are JSON errors too.
pub(crate) struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Body(v)),
            Err(rej) => Err(ApiError::new(
                rej.status(),
                format!("bad request body: {}", rej.body_text()),
            )),
        }
    }
}

/// A query string whose rejections are JSON errors.
pub(crate) struct QueryOf<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryOf<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(v)) => Ok(QueryOf(v)),
            Err(rej) => Err(ApiError::bad_request(format!(
                "bad query: {}",
                rej.body_text()
            ))),
        }
    }
}

/// The `{item_id}` of a route, parsed.
pub(crate) struct ItemParam(pub ItemId);

impl<S: Send + Sync> FromRequestParts<S> for ItemParam {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|rej| ApiError::bad_request(rej.body_text()))?;
        ItemId::parse(&raw).map(ItemParam).ok_or_else(|| {
            let shown: String = raw.chars().take(64).collect();
            ApiError::bad_request(format!(
                "{shown:?} is not an item id (a UUID as `dmc list --all` shows it)"
            ))
        })
    }
}

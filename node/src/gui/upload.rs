//! `POST /v1/uploads?name=…&profile=…`: a file the page sends as the request's body, stored
//! under `[gui] upload_dir` and then offered through the control API's offer (the code of
//! `POST /v1/offer`, as `dmc offer` uses it). The name is checked (a plain file name), the
//! size is checked against the folder's free space before a byte is written, the bytes go to a
//! hidden `.part` that is fsynced, renamed to a free name (never over an existing file) and
//! the folder fsynced.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

use crate::config::defaults::gui::UPLOAD_KEEP_FREE;
use crate::control::api::{ItemView, OfferRequest};
use crate::control::{offer_file, ApiError, QueryOf};
use crate::core::{rename_noreplace, sync_dir, unique_path, CoreHandle};

/// Longest file name an upload may have, in bytes (room is left for ` (12)`).
pub(super) const MAX_UPLOAD_NAME: usize = 200;

/// Tries at a free name before giving up (another writer taking each one first).
const RENAME_TRIES: usize = 16;

/// What the upload route needs: the core to offer through, and the folder.
pub(super) struct Uploads {
    pub core: CoreHandle,
    pub dir: PathBuf,
}

/// The query of `POST /v1/uploads`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UploadQuery {
    /// The file's name, as the browser gives it.
    name: String,
    /// As in `POST /v1/offer`: `None` lets the node pick its default for the media type.
    #[serde(default)]
    profile: Option<String>,
    #[serde(default)]
    priority: i32,
    #[serde(default)]
    again: bool,
}

/// The answer: where the upload was stored, and the offer's outcome.
#[derive(Debug, Serialize)]
pub(super) struct UploadOutcome {
    /// Where the upload is; `None` when it was removed again because `existing`.
    path: Option<String>,
    /// True when this content was already offered with this profile: `item` is that one.
    existing: bool,
    item: ItemView,
}

pub(super) async fn upload(
    State(u): State<Arc<Uploads>>,
    QueryOf(q): QueryOf<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<UploadOutcome>, ApiError> {
    let name = check_name(&q.name).map_err(ApiError::bad_request)?;
    let length = content_length(&headers)?;
    let dir = u.dir.clone();
    let (dir, free) = blocking(move || room_in(&dir)).await?;
    if length > free.saturating_sub(UPLOAD_KEEP_FREE) {
        return Err(too_big(length, free, &dir));
    }
    let part = dir.join(format!(".dmc-upload-{}.part", uuid::Uuid::new_v4()));
    if let Err(e) = write_part(&part, body, length).await {
        let _ = tokio::fs::remove_file(&part).await;
        return Err(e);
    }
    let stored = blocking(move || settle(&part, &dir, &name)).await?;
    let Some(path) = stored.to_str().map(str::to_string) else {
        let _ = tokio::fs::remove_file(&stored).await;
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("[gui] upload_dir {} is not UTF-8", stored.display()),
        ));
    };
    let req = OfferRequest {
        path: path.clone(),
        profile: q.profile,
        priority: q.priority,
        again: q.again,
    };
    let outcome = match offer_file(&u.core, req).await {
        Ok(o) => o,
        Err(e) => {
            // Our own copy, offered nowhere: it goes with the refusal.
            let _ = tokio::fs::remove_file(&stored).await;
            return Err(e);
        }
    };
    if outcome.existing {
        let _ = tokio::fs::remove_file(&stored).await;
    }
    tracing::info!(path = %path, item = %outcome.item.item_id, "upload offered");
    Ok(Json(UploadOutcome {
        path: (!outcome.existing).then_some(path),
        existing: outcome.existing,
        item: outcome.item,
    }))
}

/// A plain file name: 1 to [`MAX_UPLOAD_NAME`] bytes, no `/`, `\`, NUL or control
/// characters, not starting with `.` (so neither `.`, `..` nor a hidden file).
pub(super) fn check_name(name: &str) -> Result<String, String> {
    let shown: String = name.chars().take(64).collect();
    if name.trim().is_empty() || name.len() > MAX_UPLOAD_NAME {
        return Err(format!(
            "the upload's name must have 1 to {MAX_UPLOAD_NAME} bytes, got {} ({shown:?})",
            name.len()
        ));
    }
    if name.contains(['/', '\\']) || name.chars().any(char::is_control) {
        return Err(format!(
            "the upload's name {shown:?} must be a plain file name: no `/`, `\\` or control \
             characters"
        ));
    }
    if name.starts_with('.') {
        return Err(format!(
            "the upload's name {shown:?} must not start with `.` (no `..`, no hidden files)"
        ));
    }
    Ok(name.to_string())
}

/// The request's `Content-Length`: an upload says its size first, so that it can be refused
/// before a byte is written.
fn content_length(headers: &HeaderMap) -> Result<u64, ApiError> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::LENGTH_REQUIRED,
                "an upload needs a Content-Length header (its size, checked against the free \
                 disk before it is written)",
            )
        })
}

/// The folder (created if missing, made absolute) and its free bytes.
fn room_in(dir: &Path) -> Result<(PathBuf, u64), ApiError> {
    let at = |e: io::Error| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("[gui] upload_dir {}: {e}", dir.display()),
        )
    };
    std::fs::create_dir_all(dir).map_err(at)?;
    let dir = dir.canonicalize().map_err(at)?;
    let free = crate::core::layout::free_space(&dir).map_err(at)?;
    Ok((dir, free))
}

fn too_big(length: u64, free: u64, dir: &Path) -> ApiError {
    ApiError::new(
        StatusCode::INSUFFICIENT_STORAGE,
        format!(
            "the upload is {length} bytes but {} has {free} bytes free, and an upload must leave \
             {UPLOAD_KEEP_FREE} free: make room there or set [gui] upload_dir to a bigger disk",
            dir.display()
        ),
    )
}

/// Streams `body` into a new `part` file and fsyncs it; exactly `length` bytes.
async fn write_part(part: &Path, body: Body, length: u64) -> Result<(), ApiError> {
    let disk = |e: io::Error| write_error(part, e);
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(part)
        .await
        .map_err(disk)?;
    let mut stream = body.into_data_stream();
    let mut written: u64 = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::bad_request(format!(
                "the upload broke off after {written} of {length} bytes: {e}"
            ))
        })?;
        written += chunk.len() as u64;
        if written > length {
            return Err(ApiError::bad_request(format!(
                "the upload sent more than its Content-Length of {length} bytes"
            )));
        }
        file.write_all(&chunk).await.map_err(disk)?;
    }
    if written != length {
        return Err(ApiError::bad_request(format!(
            "the upload ended after {written} of its {length} bytes"
        )));
    }
    file.sync_all().await.map_err(disk)
}

fn write_error(part: &Path, e: io::Error) -> ApiError {
    let status = if e.kind() == io::ErrorKind::StorageFull {
        StatusCode::INSUFFICIENT_STORAGE
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    ApiError::new(
        status,
        format!("writing the upload {}: {e}", part.display()),
    )
}

/// Renames the written `part` to `name` in `dir`, or to the first free `name (n).ext`, never
/// over anything; then fsyncs `dir`. The `.part` is removed if no name could be taken.
fn settle(part: &Path, dir: &Path, name: &str) -> Result<PathBuf, ApiError> {
    let failed = |e: io::Error| {
        let _ = std::fs::remove_file(part);
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("storing the upload {name:?} in {}: {e}", dir.display()),
        )
    };
    for _ in 0..RENAME_TRIES {
        let target = unique_path(dir, name);
        match rename_noreplace(part, &target) {
            Ok(()) => {
                sync_dir(dir).map_err(failed)?;
                return Ok(target);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(failed(e)),
        }
    }
    Err(failed(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "every free name was taken first by another writer",
    )))
}

/// Runs blocking file work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("storing the upload: {e}"),
        )
    })?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_pass_and_paths_hidden_and_long_names_are_refused() {
        assert_eq!(check_name("holiday clip.mp4").unwrap(), "holiday clip.mp4");
        assert_eq!(check_name("été ☀.mkv").unwrap(), "été ☀.mkv");
        for bad in [
            "",
            "  ",
            "..",
            ".",
            ".hidden.mp4",
            "../etc/passwd",
            "a/b.mp4",
            "a\\b.mp4",
            "a\0b",
            "line\nbreak.mp4",
        ] {
            assert!(check_name(bad).is_err(), "{bad:?} passed");
        }
        assert!(check_name(&"x".repeat(MAX_UPLOAD_NAME)).is_ok());
        let err = check_name(&"x".repeat(MAX_UPLOAD_NAME + 1)).unwrap_err();
        assert!(err.contains("1 to 200 bytes"), "{err}");
    }

    #[test]
    fn a_taken_name_gets_the_next_free_one_and_nothing_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.mp4"), b"user's").unwrap();
        let part = dir.path().join(".dmc-upload-1.part");
        std::fs::write(&part, b"upload").unwrap();
        let stored = settle(&part, dir.path(), "a.mp4").unwrap();
        assert_eq!(stored, dir.path().join("a (1).mp4"));
        assert_eq!(std::fs::read(dir.path().join("a.mp4")).unwrap(), b"user's");
        assert_eq!(std::fs::read(&stored).unwrap(), b"upload");
        assert!(!part.exists());
    }
}

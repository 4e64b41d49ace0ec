//! `GET /v1/items/{item_id}/result`: the delivered result of one of this node's items,
//! streamed from its `output_path`, the only file this route reads. It is opened without
//! following a symlink and must still be a regular file of the delivered size.

use std::fs::File;
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::stream;
use tokio::io::AsyncReadExt;

use crate::control::{ApiError, ItemParam};
use crate::core::CoreHandle;

/// Bytes read from the file per chunk of the answer.
const CHUNK: usize = 256 * 1024;

pub(super) async fn result(
    State(core): State<CoreHandle>,
    ItemParam(item): ItemParam,
) -> Result<Response, ApiError> {
    let view = core.status(item).await?;
    let Some(path) = view.output_path.clone() else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!(
                "item {item} has no result on this node: a result is downloaded from the node \
                 that offered the item, once it is delivered"
            ),
        ));
    };
    let path = PathBuf::from(path);
    let opened = tokio::task::spawn_blocking({
        let path = path.clone();
        move || open_result(&path, view.output_file_size)
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let (file, size) = opened.map_err(|e| {
        ApiError::new(
            StatusCode::GONE,
            format!("the result {} cannot be read: {e}", path.display()),
        )
    })?;
    let name = view
        .output_file_name
        .clone()
        .unwrap_or_else(|| "result".to_string());
    let body = Body::from_stream(chunks(tokio::fs::File::from_std(file)));
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    if let Ok(v) = HeaderValue::from_str(&content_disposition(&name)) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

/// Opens the result read-only without following a symlink; it must be a regular file of the
/// delivered size (when known).
fn open_result(path: &std::path::Path, expected: Option<u64>) -> io::Result<(File, u64)> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::other("it is not a regular file"));
    }
    if expected.is_some_and(|want| want != meta.len()) {
        return Err(io::Error::other(
            "its size changed since it was delivered; `dmc fetch` checks and copies it again",
        ));
    }
    Ok((file, meta.len()))
}

/// The file's chunks, until its end or a read error.
fn chunks(file: tokio::fs::File) -> impl futures::Stream<Item = io::Result<Bytes>> {
    stream::try_unfold(file, |mut file| async move {
        let mut buf = vec![0u8; CHUNK];
        let n = file.read(&mut buf).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.truncate(n);
        Ok(Some((Bytes::from(buf), file)))
    })
}

/// `attachment` with the name as plain ASCII (others as `_`) and in full, percent-encoded.
fn content_disposition(name: &str) -> String {
    let plain: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("attachment; filename=\"{plain}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::content_disposition;

    #[test]
    fn names_are_quoted_safely() {
        assert_eq!(
            content_disposition("a \"b\".mkv"),
            "attachment; filename=\"a _b_.mkv\"; filename*=UTF-8''a%20%22b%22.mkv"
        );
        assert_eq!(
            content_disposition("é\r\n.mp4"),
            "attachment; filename=\"___.mp4\"; filename*=UTF-8''%C3%A9%0D%0A.mp4"
        );
    }
}

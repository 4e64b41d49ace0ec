//! Which files in a watched folder may be offered: media by extension, and never dmc's own
//! files (its output, work and data folders, `.part` files), hidden files or empty files.

use std::path::{Path, PathBuf};

use dmc_protocol::MediaType;

const VIDEO: &[&str] = &[
    "3gp", "avi", "flv", "m2ts", "m4v", "mkv", "mov", "mp4", "mpeg", "mpg", "mts", "ogv", "ts",
    "vob", "webm", "wmv",
];
const AUDIO: &[&str] = &[
    "aac", "aif", "aiff", "alac", "ape", "flac", "m4a", "mka", "mp3", "oga", "ogg", "opus", "wav",
    "wma", "wv",
];
const IMAGE: &[&str] = &[
    "avif", "bmp", "gif", "heic", "heif", "jpeg", "jpg", "png", "tif", "tiff", "webp",
];

/// The media type a file name's extension suggests (case-insensitive); `None` for anything
/// else. The offer itself still probes the file.
pub fn media_by_extension(path: &Path) -> Option<MediaType> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    if VIDEO.contains(&ext.as_str()) {
        Some(MediaType::Video)
    } else if AUDIO.contains(&ext.as_str()) {
        Some(MediaType::Audio)
    } else if IMAGE.contains(&ext.as_str()) {
        Some(MediaType::Image)
    } else {
        None
    }
}

/// Names never offered: hidden files (including dmc's own `.dmc-*` files), unfinished
/// downloads and copies (`.part`, `.partial`, `.crdownload`, `.tmp`, `~` backups).
pub fn ignored_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    name.starts_with('.')
        || name.ends_with('~')
        || [".part", ".partial", ".crdownload", ".tmp", ".download"]
            .iter()
            .any(|s| lower.ends_with(s))
}

/// Folders whose files are never offered, even when inside a watched folder.
#[derive(Clone, Debug, Default)]
pub struct Exclusions {
    dirs: Vec<PathBuf>,
}

impl Exclusions {
    /// Excludes these folders (and everything under them); each is also compared in its
    /// canonical form, so symlinked spellings match.
    pub fn new(dirs: impl IntoIterator<Item = PathBuf>) -> Self {
        let mut out: Vec<PathBuf> = Vec::new();
        for d in dirs {
            if let Ok(c) = std::fs::canonicalize(&d) {
                if !out.contains(&c) {
                    out.push(c);
                }
            }
            if !out.contains(&d) {
                out.push(d);
            }
        }
        Exclusions { dirs: out }
    }

    /// Whether `path` is one of the excluded folders or under one.
    pub fn excludes(&self, path: &Path) -> bool {
        self.dirs.iter().any(|d| path.starts_with(d))
    }
}

/// Whether a file at `path` may be offered from a watch taking `media`: a wanted media
/// extension, a name that is not ignored, outside the excluded folders.
pub fn wanted(path: &Path, media: &[MediaType], excl: &Exclusions) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    !ignored_name(name)
        && media_by_extension(path).is_some_and(|m| media.contains(&m))
        && !excl.excludes(path)
}

/// Whether a file at `p` belongs to a watch of `dir`: directly in it, or with `recursive` in a
/// sub-folder a scan would enter (not hidden, at most [`super::scan::MAX_DEPTH`] deep).
pub fn in_scope(dir: &Path, recursive: bool, p: &Path) -> bool {
    if !recursive {
        return p.parent() == Some(dir);
    }
    let Ok(rel) = p.strip_prefix(dir) else {
        return false;
    };
    let dirs: Vec<_> = rel
        .parent()
        .map(|d| d.components().collect())
        .unwrap_or_default();
    dirs.len() <= super::scan::MAX_DEPTH
        && dirs
            .iter()
            .all(|c| c.as_os_str().to_str().is_some_and(|n| !ignored_name(n)))
}

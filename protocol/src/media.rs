//! Media types, and the rule for profile names as records carry them (the profiles themselves,
//! ffmpeg arguments and all, are the node's: `dmc_node::ffmpeg::profiles`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The kind of media a file holds, as found by ffprobe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaType {
    Audio,
    Image,
    Video,
}

impl MediaType {
    pub const ALL: [MediaType; 3] = [MediaType::Audio, MediaType::Image, MediaType::Video];

    pub fn as_str(self) -> &'static str {
        match self {
            MediaType::Audio => "audio",
            MediaType::Image => "image",
            MediaType::Video => "video",
        }
    }
}

impl fmt::Display for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MediaType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "audio" => Ok(MediaType::Audio),
            "image" => Ok(MediaType::Image),
            "video" => Ok(MediaType::Video),
            other => Err(format!(
                "unknown media type `{other}`: expected audio, image or video"
            )),
        }
    }
}

/// Longest profile name, in bytes.
pub const MAX_PROFILE_NAME: usize = 64;

/// Whether `name` can name a profile: 1 to [`MAX_PROFILE_NAME`] bytes of ASCII letters, digits,
/// `-`, `_` and `.`, starting with a letter or digit.
pub fn valid_profile_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_PROFILE_NAME
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_names_follow_the_rule() {
        assert!(valid_profile_name("mkv-x264"));
        for bad in ["", "-x", "a b", "a/b", &"x".repeat(65)] {
            assert!(!valid_profile_name(bad), "{bad}");
        }
    }
}

//! The conversion profiles built into dmc: what ffmpeg does for each and what a correct
//! output looks like. Records carry only profile names (`dmc_protocol::media`).

use dmc_protocol::MediaType;

/// A conversion profile: what ffmpeg does and what a correct output looks like.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    pub name: &'static str,
    pub media_types: &'static [MediaType],
    /// The ffmpeg encoder the profile needs (`ffmpeg -encoders`).
    pub encoder: &'static str,
    /// Output arguments placed between the input and the output file.
    pub args: &'static [&'static str],
    /// ffmpeg muxer (`-f`), so the output may carry a `.part` name.
    pub muxer: &'static str,
    /// Extension of the delivered file, without the dot.
    pub extension: &'static str,
    /// What ffprobe must report for the output.
    pub expect_format: &'static str,
    pub expect_video_codec: Option<&'static str>,
    pub expect_audio_codec: Option<&'static str>,
    /// Whether the output's duration must match the source's (not for still images).
    pub check_duration: bool,
}

/// The profiles built into this version of dmc.
pub const BUILTIN_PROFILES: &[Profile] = &[
    Profile {
        name: "mkv-x264",
        media_types: &[MediaType::Video],
        encoder: "libx264",
        args: &[
            "-map", "0:v:0", "-map", "0:a?", "-c:a", "copy", "-c:v", "libx264", "-crf", "23",
            "-preset", "medium",
        ],
        muxer: "matroska",
        extension: "mkv",
        expect_format: "matroska",
        expect_video_codec: Some("h264"),
        expect_audio_codec: None,
        check_duration: true,
    },
    Profile {
        name: "mkv-x265",
        media_types: &[MediaType::Video],
        encoder: "libx265",
        args: &[
            "-map",
            "0:v:0",
            "-map",
            "0:a?",
            "-c:a",
            "copy",
            "-c:v",
            "libx265",
            "-crf",
            "28",
            "-preset",
            "medium",
            "-x265-params",
            "log-level=error",
        ],
        muxer: "matroska",
        extension: "mkv",
        expect_format: "matroska",
        expect_video_codec: Some("hevc"),
        expect_audio_codec: None,
        check_duration: true,
    },
    Profile {
        name: "mkv-av1",
        media_types: &[MediaType::Video],
        encoder: "libsvtav1",
        args: &[
            "-map",
            "0:v:0",
            "-map",
            "0:a?",
            "-c:a",
            "copy",
            "-c:v",
            "libsvtav1",
            "-crf",
            "35",
            "-preset",
            "8",
        ],
        muxer: "matroska",
        extension: "mkv",
        expect_format: "matroska",
        expect_video_codec: Some("av1"),
        expect_audio_codec: None,
        check_duration: true,
    },
    Profile {
        name: "webp",
        media_types: &[MediaType::Image],
        encoder: "libwebp",
        args: &[
            "-map",
            "0:v:0",
            "-frames:v",
            "1",
            "-c:v",
            "libwebp",
            "-quality",
            "80",
        ],
        muxer: "webp",
        extension: "webp",
        expect_format: "webp",
        expect_video_codec: Some("webp"),
        expect_audio_codec: None,
        check_duration: false,
    },
    Profile {
        name: "opus",
        media_types: &[MediaType::Audio],
        encoder: "libopus",
        args: &["-map", "0:a:0", "-vn", "-c:a", "libopus", "-b:a", "128k"],
        muxer: "ogg",
        extension: "opus",
        expect_format: "ogg",
        expect_video_codec: None,
        expect_audio_codec: Some("opus"),
        check_duration: true,
    },
];

/// The profile used for `media` when an offer names none.
pub fn default_profile(media: MediaType) -> &'static str {
    match media {
        MediaType::Audio => "opus",
        MediaType::Image => "webp",
        MediaType::Video => "mkv-x265",
    }
}

/// Finds a built-in profile by name.
pub fn builtin_profile(name: &str) -> Option<&'static Profile> {
    BUILTIN_PROFILES.iter().find(|p| p.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dmc_protocol::media::valid_profile_name;

    #[test]
    fn builtin_names_are_valid_and_unique() {
        for (i, p) in BUILTIN_PROFILES.iter().enumerate() {
            assert!(valid_profile_name(p.name), "{}", p.name);
            assert!(BUILTIN_PROFILES[..i].iter().all(|q| q.name != p.name));
        }
        assert!(builtin_profile("mkv-av1").is_some_and(|p| p.encoder == "libsvtav1"));
        for media in MediaType::ALL {
            let default = builtin_profile(default_profile(media)).expect("a built-in default");
            assert!(default.media_types.contains(&media), "{media}");
        }
    }
}

//! How long a file's picture and sound last: the one definition of a media duration that the
//! probe, the output check and the segment checks share.

use std::collections::HashMap;

use serde::Deserialize;

use super::progress::parse_clock as parse_clock_us;

/// What ffprobe says of one stream that bears on the media's duration (flattened into each
/// caller's own stream record).
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct StreamTiming {
    /// `video`, `audio`, `subtitle`, `data`, `attachment`.
    pub codec_type: Option<String>,
    /// The stream's own duration in seconds, where the container states one (MP4, MPEG-TS).
    pub duration: Option<String>,
    /// Matroska states a stream's duration only in its `DURATION` tag.
    #[serde(default)]
    pub tags: HashMap<String, String>,
    #[serde(default)]
    pub disposition: HashMap<String, i64>,
}

impl StreamTiming {
    /// True for cover art and other attached pictures (not a real video track).
    pub fn attached_pic(&self) -> bool {
        self.disposition.get("attached_pic").copied().unwrap_or(0) != 0
    }

    /// Picture or sound: what every profile keeps (cover art aside).
    fn is_picture_or_sound(&self) -> bool {
        match self.codec_type.as_deref() {
            Some("video") => !self.attached_pic(),
            Some("audio") => true,
            _ => false,
        }
    }

    /// The stream's duration in seconds: ffprobe's `duration`, else the `DURATION` tag.
    fn duration_secs(&self) -> Option<f64> {
        let stated = self.duration.as_deref().and_then(parse_secs);
        stated.or_else(|| {
            self.tags
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("DURATION") || is_language_variant(k))
                .and_then(|(_, v)| parse_clock(v))
        })
    }
}

/// `DURATION-eng` and the like, as mkvmerge writes them. Tag names come from the file: no
/// byte slicing that a multi-byte name could split.
fn is_language_variant(key: &str) -> bool {
    key.len() > 9
        && key
            .get(..9)
            .is_some_and(|p| p.eq_ignore_ascii_case("DURATION-"))
}

/// How long the picture and sound last, in seconds: the longest video or audio stream (cover
/// art aside) that states a duration, else the container's. A subtitle or data track that
/// outlasts the picture (a last cue shown after the end) lengthens the container but is in no
/// output (the profiles keep video and audio only), so it must not make a whole result look
/// short. `None` when nothing states a finite, non-negative duration.
pub(crate) fn media_duration_secs<'a>(
    container: Option<&str>,
    streams: impl IntoIterator<Item = &'a StreamTiming>,
) -> Option<f64> {
    streams
        .into_iter()
        .filter(|s| s.is_picture_or_sound())
        .filter_map(StreamTiming::duration_secs)
        .reduce(f64::max)
        .or_else(|| container.and_then(parse_secs))
}

/// Seconds as ffprobe prints them (`12.023000`); `None` for `N/A`, garbage or a negative or
/// infinite value.
fn parse_secs(text: &str) -> Option<f64> {
    let secs: f64 = text.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then_some(secs)
}

/// A clock time `HH:MM:SS.fffffffff` (Matroska's `DURATION` tag) in seconds, read by the
/// parser of ffmpeg's progress clock.
fn parse_clock(text: &str) -> Option<f64> {
    parse_clock_us(text.trim()).map(|us| us as f64 / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(kind: &str, duration: Option<&str>, tag: Option<&str>) -> StreamTiming {
        StreamTiming {
            codec_type: Some(kind.into()),
            duration: duration.map(String::from),
            tags: tag
                .map(|t| HashMap::from([("DURATION".to_string(), t.to_string())]))
                .unwrap_or_default(),
            disposition: HashMap::new(),
        }
    }

    #[test]
    fn a_subtitle_outlasting_the_picture_does_not_count() {
        // Matroska: durations only in tags; the container ends with the last cue.
        let mkv = [
            stream("video", None, Some("00:00:09.903000000")),
            stream("audio", None, Some("00:00:09.883000000")),
            stream("subtitle", Some("11.543000"), Some("00:00:11.543000000")),
        ];
        assert_eq!(media_duration_secs(Some("11.543000"), &mkv), Some(9.903));
        // MP4: stream durations stated.
        let mp4 = [
            stream("video", Some("9.880000"), None),
            stream("audio", Some("9.860000"), None),
            stream("subtitle", Some("11.520000"), None),
        ];
        assert_eq!(media_duration_secs(Some("11.520000"), &mp4), Some(9.88));
    }

    #[test]
    fn the_container_answers_when_no_stream_does() {
        let bare = [
            stream("video", Some("N/A"), None),
            stream("audio", None, None),
        ];
        assert_eq!(media_duration_secs(Some("4.010000"), &bare), Some(4.01));
        assert_eq!(media_duration_secs(Some("N/A"), &bare), None);
        let mut cover = stream("video", Some("99.0"), None);
        cover.disposition.insert("attached_pic".into(), 1);
        let song = [cover, stream("audio", Some("3.0"), None)];
        assert_eq!(media_duration_secs(None, &song), Some(3.0));
    }

    #[test]
    fn clock_tags_are_parsed_strictly() {
        assert_eq!(parse_clock("01:02:03.500000000"), Some(3723.5));
        assert_eq!(parse_clock("00:61:00"), None);
        assert_eq!(parse_clock("00:00:-1"), None);
        assert_eq!(parse_clock("nonsense"), None);
        assert_eq!(parse_secs("inf"), None);
        assert!(is_language_variant("DURATION-eng") && !is_language_variant("DURATION"));
        assert!(!is_language_variant("DURATIONé-x") && !is_language_variant("ééééé"));
    }
}

//! The check of a joined output against its source, before it counts: the same number of
//! video frames, a duration within one frame, and audio starting where it did relative to the
//! video, within one frame.

use super::facts::MediaFacts;

/// Whether `out` (the joined output) matches `source`; the error says expected vs found.
pub(crate) fn check_joined(source: &MediaFacts, out: &MediaFacts) -> Result<(), String> {
    let frame = source.frame_us;
    if out.frames != source.frames {
        return Err(format!(
            "expected {} video frames like the source, found {}",
            source.frames, out.frames
        ));
    }
    if let (Some(src), Some(got)) = (source.duration_us, out.duration_us) {
        if src.abs_diff(got) > frame {
            return Err(format!(
                "expected a duration of {src} µs (± one frame, {frame} µs), found {got} µs"
            ));
        }
    }
    match (source.av_offset_us(), out.av_offset_us()) {
        (None, _) => Ok(()),
        (Some(_), None) => Err("the source has audio, the output none".into()),
        (Some(src), Some(got)) if src.abs_diff(got) > frame => Err(format!(
            "audio starts {got} µs after the video, in the source {src} µs (± one frame, \
             {frame} µs): out of sync"
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(frames: u64, video: i64, audio: Option<i64>, dur: u64) -> MediaFacts {
        MediaFacts {
            frames,
            frame_us: 40_000,
            video_start_us: video,
            audio_start_us: audio,
            subtitle_streams: 0,
            duration_us: Some(dur),
        }
    }

    #[test]
    fn joined_output_must_match_the_source() {
        let src = facts(750, 0, Some(0), 30_000_000);
        assert!(check_joined(&src, &facts(750, 0, Some(0), 30_023_000)).is_ok());
        assert!(check_joined(&src, &facts(749, 0, Some(0), 30_000_000))
            .unwrap_err()
            .contains("expected 750 video frames"));
        assert!(check_joined(&src, &facts(750, 0, Some(0), 30_100_000)).is_err());
        assert!(check_joined(&src, &facts(750, 0, Some(50_000), 30_000_000))
            .unwrap_err()
            .contains("out of sync"));
        assert!(check_joined(&src, &facts(750, 0, None, 30_000_000)).is_err());
        let silent = facts(750, 80_000, None, 30_000_000);
        assert!(check_joined(&silent, &facts(750, 0, None, 30_000_000)).is_ok());
        // Both streams shifted alike stay in sync.
        assert!(check_joined(&src, &facts(750, 10_000, Some(10_000), 30_000_000)).is_ok());
    }
}

//! Bounds on a conversion run on untrusted media: its time limit, its CPU priority, its
//! process group, and where it may write.

use std::path::Path;
use std::time::Duration;

use super::error::FfmpegError;
use super::probe::probe;

/// Largest nice value Linux knows (lowest priority).
pub const MAX_NICE: u8 = 19;

/// How long one conversion may run: `factor` × the media's duration, at least `min`; `unknown`
/// when the duration is not known. Its default is `config::defaults::converter::TIME_LIMIT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeLimit {
    pub factor: u32,
    pub min: Duration,
    pub unknown: Duration,
}

impl TimeLimit {
    /// The limit for media of `duration_ms` (`None`: unknown).
    pub fn for_media(&self, duration_ms: Option<u64>) -> Duration {
        match duration_ms {
            Some(ms) => self
                .min
                .max(Duration::from_millis(ms.saturating_mul(self.factor as u64))),
            None => self.unknown,
        }
    }

    /// The message of a conversion stopped at its limit: how long, for how much media, and
    /// which key to raise.
    pub(crate) fn exceeded(&self, duration_ms: Option<u64>) -> String {
        let limit = human(self.for_media(duration_ms));
        match duration_ms {
            Some(ms) => format!(
                "ffmpeg exceeded the time limit of {limit} for {} of media and was stopped; if \
                 this converter is that slow, raise [converter] time_limit_factor (now {} × the \
                 media's duration) or time_limit_min (now {})",
                human(Duration::from_millis(ms)),
                self.factor,
                human(self.min)
            ),
            None => format!(
                "ffmpeg exceeded the time limit of {limit} for media of unknown duration and was \
                 stopped; if such conversions take longer here, raise [converter] \
                 time_limit_unknown (now {limit})"
            ),
        }
    }
}

/// The duration ffprobe finds in a source on this node: what a converter computes its time
/// limit (and its progress, and its output check) from, never the origin's claim, which a peer
/// could set to anything. `None` when the probe finds no duration or cannot read the file: the
/// `time_limit_unknown` rule then applies (and ffmpeg itself reports an unreadable input).
pub async fn probed_duration(input: &Path) -> Option<u64> {
    match probe(input).await {
        Ok(found) => found.duration_ms,
        Err(e) => {
            tracing::warn!(input = %input.display(), "cannot probe the source: {e}");
            None
        }
    }
}

/// A duration for people: `1h 5m`, `12m 3s`, `4.2s`, `250ms`.
pub(crate) fn human(d: Duration) -> String {
    let ms = d.as_millis();
    let s = d.as_secs();
    if ms < 1000 {
        format!("{ms}ms")
    } else if s < 60 {
        format!("{:.1}s", d.as_secs_f64())
    } else if s < 3600 {
        format!("{}m {}s", s / 60, s % 60)
    } else {
        format!("{}h {}m", s / 3600, (s % 3600) / 60)
    }
}

/// Refuses an output path outside `work_dir` (or a `..` in it): ffmpeg writes only there.
pub(crate) fn check_output_place(output: &Path, work_dir: &Path) -> Result<(), FfmpegError> {
    let outside = || FfmpegError::OutsideWorkDir {
        output: output.to_path_buf(),
        work_dir: work_dir.to_path_buf(),
    };
    let lexical_ok = output.file_name().is_some()
        && output
            .components()
            .all(|c| !matches!(c, std::path::Component::ParentDir));
    if !lexical_ok {
        return Err(outside());
    }
    let parent = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => return Err(outside()),
    };
    let canon = |p: &Path| {
        std::fs::canonicalize(p)
            .map_err(|e| FfmpegError::io(format!("resolve {} (output folder)", p.display()), e))
    };
    // Resolved, so a symlink in the work dir cannot point ffmpeg elsewhere.
    if !canon(parent)?.starts_with(canon(work_dir)?) {
        return Err(outside());
    }
    Ok(())
}

/// The nice value the child should get: `wanted`, or this process's own if that is already
/// lower priority (an unprivileged process cannot raise its priority back).
pub(crate) fn child_nice(wanted: u8) -> libc::c_int {
    // SAFETY: plain syscalls; errno is reset first because -1 is a valid priority.
    let own = unsafe {
        *libc::__errno_location() = 0;
        let p = libc::getpriority(libc::PRIO_PROCESS, 0);
        if p == -1 && *libc::__errno_location() != 0 {
            0
        } else {
            p
        }
    };
    own.max(libc::c_int::from(wanted.min(MAX_NICE)))
}

/// Kills the whole process group `pgid` (ffmpeg runs as the leader of its own group).
pub(crate) fn kill_group(pgid: u32) {
    let Ok(pgid) = libc::pid_t::try_from(pgid) else {
        return;
    };
    if pgid <= 1 {
        return;
    }
    // SAFETY: kill has no memory effects; a negative pid names the process group.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_scales_with_duration_and_has_a_floor_and_a_fallback() {
        let t = crate::config::defaults::converter::TIME_LIMIT;
        assert_eq!(t.for_media(Some(4_000)), Duration::from_secs(600));
        assert_eq!(t.for_media(Some(3_600_000)), Duration::from_secs(20 * 3600));
        assert_eq!(t.for_media(None), Duration::from_secs(6 * 3600));
        assert_eq!(t.for_media(Some(u64::MAX)), Duration::from_millis(u64::MAX));
        let m = t.exceeded(Some(90_000));
        assert!(m.contains("30m 0s") && m.contains("1m 30s"), "{m}");
        assert!(
            m.contains("time_limit_factor") && m.contains("time_limit_min"),
            "{m}"
        );
        assert!(t.exceeded(None).contains("time_limit_unknown"));
    }

    #[test]
    fn output_outside_the_work_dir_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let work = root.path().join("work");
        std::fs::create_dir_all(work.join("job")).unwrap();
        assert!(check_output_place(&work.join("job/result.mkv.part"), &work).is_ok());
        assert!(check_output_place(&work.join("result.mkv.part"), &work).is_ok());
        for bad in [
            root.path().join("result.mkv.part"),
            work.join("../result.mkv.part"),
            work.join("job/../../x.part"),
            "result.mkv.part".into(),
        ] {
            let err = check_output_place(&bad, &work).unwrap_err();
            assert!(
                matches!(err, FfmpegError::OutsideWorkDir { .. }),
                "{}: {err}",
                bad.display()
            );
        }
        // A symlink inside the work dir that leads out of it.
        std::os::unix::fs::symlink(root.path(), work.join("escape")).unwrap();
        assert!(check_output_place(&work.join("escape/x.part"), &work).is_err());
    }

    #[test]
    fn child_nice_never_goes_below_our_own() {
        assert!(child_nice(10) >= 10);
        assert!(child_nice(200) <= MAX_NICE as libc::c_int);
    }
}

//! `[converter] threads` as each encoder understands it. ffmpeg's `-threads N` bounds its own
//! threads and x264's, but x265 and SVT-AV1 size their thread pools by the cores they find and
//! ignore it: with `threads = 1` each would still take about two cores here. They get their
//! own limits too, appended to the profile's parameters (the last value of a key counts).

use std::ffi::OsString;

/// The profile's output arguments `args` for `encoder`, with `threads` (above 0) applied.
pub(crate) fn with_threads(args: &[&str], encoder: &str, threads: u32) -> Vec<OsString> {
    let mut out: Vec<OsString> = args.iter().map(OsString::from).collect();
    if threads == 0 {
        return out;
    }
    if let Some((option, limit)) = pool_limit(encoder, threads) {
        match args.iter().position(|a| *a == option) {
            Some(at) if at + 1 < args.len() => {
                out[at + 1] = OsString::from(format!("{}:{limit}", args[at + 1]));
            }
            _ => out.extend([OsString::from(option), OsString::from(limit)]),
        }
    }
    out.extend([
        OsString::from("-threads"),
        OsString::from(threads.to_string()),
    ]);
    out
}

/// The private option of `encoder` that bounds its threads, and its value for `threads`.
fn pool_limit(encoder: &str, threads: u32) -> Option<(&'static str, String)> {
    match encoder {
        // One frame thread with one worker: x265 otherwise runs several frames at once.
        "libx265" if threads == 1 => Some(("-x265-params", "pools=1:frame-threads=1".into())),
        "libx265" => Some(("-x265-params", format!("pools={threads}"))),
        "libsvtav1" => Some(("-svtav1-params", format!("lp={threads}"))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(args: Vec<OsString>) -> Vec<String> {
        args.into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn each_encoder_gets_its_own_thread_limit() {
        let x265 = ["-c:v", "libx265", "-x265-params", "log-level=error"];
        assert_eq!(
            text(with_threads(&x265, "libx265", 1)),
            [
                "-c:v",
                "libx265",
                "-x265-params",
                "log-level=error:pools=1:frame-threads=1",
                "-threads",
                "1"
            ]
        );
        assert_eq!(
            text(with_threads(&["-c:v", "libx265"], "libx265", 3))[2..],
            ["-x265-params", "pools=3", "-threads", "3"]
        );
        assert_eq!(
            text(with_threads(&["-c:v", "libsvtav1"], "libsvtav1", 2))[2..],
            ["-svtav1-params", "lp=2", "-threads", "2"]
        );
        assert_eq!(
            text(with_threads(&["-c:v", "libx264"], "libx264", 1))[2..],
            ["-threads", "1"]
        );
        assert_eq!(text(with_threads(&x265, "libx265", 0)), x265);
    }
}

//! Whether a source decodes at all: after a conversion failed, this tells a failure of the
//! source itself (the same on any converter, so the item ends at once) from one of this
//! machine (retried elsewhere). It decides on ffmpeg's exit status, never on its words.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::path::Path;
use std::time::Duration;

use super::error::FfmpegError;
use super::probe::Probe;
use super::tool::{file_arg, input_guard, run_capture, FFMPEG};

/// Largest `ffmpeg -codecs` listing read.
const MAX_CODECS_OUTPUT: usize = 1024 * 1024;

/// How much of the source is decoded: enough to meet a broken stream early in the file,
/// bounded so that a two-hour film costs seconds, not a second conversion.
const DECODE_SECONDS: &str = "30";
/// The longest the check may take (a slow disk or a huge frame size).
const DECODE_TIME_LIMIT: Duration = Duration::from_secs(180);

/// `Ok(true)` if ffmpeg decodes the first 30 s of every stream of `input` without an error
/// (`-xerror`: the first decoding error stops it with a failure status), `Ok(false)` if it
/// does not; `Err` if ffmpeg could not be run or ran out of time (nothing is known then).
pub async fn source_decodes(input: &Path) -> Result<bool, FfmpegError> {
    let input = file_arg(input);
    let [guard, protocols] = input_guard();
    let args: [&OsStr; 16] = [
        OsStr::new("-nostdin"),
        OsStr::new("-hide_banner"),
        OsStr::new("-v"),
        OsStr::new("error"),
        OsStr::new("-xerror"),
        guard,
        protocols,
        OsStr::new("-i"),
        input.as_os_str(),
        OsStr::new("-t"),
        OsStr::new(DECODE_SECONDS),
        OsStr::new("-map"),
        OsStr::new("0"),
        OsStr::new("-f"),
        OsStr::new("null"),
        OsStr::new("-"),
    ];
    let out = run_capture(FFMPEG, &args, 0, DECODE_TIME_LIMIT).await?;
    Ok(out.status.success())
}

/// Whether this ffmpeg has a decoder for the codec of every audio and video stream `probe`
/// found (`ffmpeg -codecs`, flag `D`). Only then does a source that fails to decode fail
/// anywhere: a converter lacking a decoder says nothing of the others.
pub async fn decoders_for(probe: &Probe) -> Result<bool, FfmpegError> {
    let args = [OsStr::new("-hide_banner"), OsStr::new("-codecs")];
    let out = run_capture(FFMPEG, &args, MAX_CODECS_OUTPUT, DECODE_TIME_LIMIT).await?;
    if !out.status.success() {
        return Ok(false);
    }
    let decodable = parse_decodable(&String::from_utf8_lossy(&out.stdout));
    Ok(probe
        .streams
        .iter()
        .filter(|s| s.codec_type == "video" || s.codec_type == "audio")
        .all(|s| decodable.contains(&s.codec_name)))
}

/// The codecs `ffmpeg -codecs` marks as decodable: after the ` -------` line, each line is
/// `<flags> <name> <description>`, and flag `D` first means a decoder exists.
pub fn parse_decodable(listing: &str) -> HashSet<String> {
    listing
        .lines()
        .skip_while(|l| l.trim() != "-------")
        .skip(1)
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let flags = words.next()?;
            let name = words.next()?;
            flags.starts_with('D').then(|| name.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn decodable_codecs_are_those_flagged_d() {
        let listing = " D..... = Decoding supported\n -------\n DEV.LS h264  H.264\n \
                       .EVIL. a64_multi  C64\n DEAIL. aac  AAC\n";
        let got = super::parse_decodable(listing);
        assert!(got.contains("h264") && got.contains("aac"));
        assert!(!got.contains("a64_multi") && !got.contains("D....."));
    }
}

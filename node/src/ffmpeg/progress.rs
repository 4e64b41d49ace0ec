//! Parsing of ffmpeg `-progress` output (`key=value` blocks) and progress/ETA estimation.
//!
//! ffmpeg run with `-progress pipe:1 -nostats` prints, about twice a second, a block of
//! `key=value` lines ending with `progress=continue` (the last block ends with `progress=end`).
//! [`ProgressParser`] turns those lines (or raw byte chunks) into one [`ProgressUpdate`] per
//! block; [`estimate`] turns an update into a completed fraction and an ETA. Pure logic: the
//! caller reads the pipe and measures wall time.

/// Lines longer than this many bytes are not ffmpeg progress lines; they are ignored.
pub const MAX_LINE_LEN: usize = 4096;

/// What one ffmpeg progress block reported. Fields ffmpeg printed as `N/A` (or that could not be
/// parsed) are `None`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ProgressUpdate {
    /// Position in the output, in microseconds (negative positions read as 0).
    pub out_time_us: Option<u64>,
    /// Frames encoded per second.
    pub fps: Option<f32>,
    /// Encoding speed as a multiple of real time (`1.5x` reads as 1.5).
    pub speed: Option<f32>,
    /// Frames written so far.
    pub frame: Option<u64>,
    /// True for the last block (`progress=end`).
    pub done: bool,
}

/// Incremental parser of ffmpeg's `-progress` output.
#[derive(Clone, Debug, Default)]
pub struct ProgressParser {
    /// The block being collected.
    current: ProgressUpdate,
    /// `out_time_us` as seen in the current block (the most precise source).
    time_us: Option<u64>,
    /// `out_time_ms` (which ffmpeg also prints in microseconds) as seen in the current block.
    time_ms_field: Option<u64>,
    /// `out_time` (`HH:MM:SS.micro`) as seen in the current block.
    time_text: Option<u64>,
    /// Bytes of a line not yet terminated by a newline (byte-chunk input only).
    partial: Vec<u8>,
    /// True while skipping the rest of an overlong line.
    discarding: bool,
}

impl ProgressParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one line (without or with its line terminator). Returns the update when the line
    /// closes a block (`progress=...`). Overlong lines and lines that are not `key=value` are
    /// ignored.
    pub fn push_line(&mut self, line: &str) -> Option<ProgressUpdate> {
        if line.len() > MAX_LINE_LEN {
            return None;
        }
        let line = line.trim_end_matches(['\n', '\r']);
        let (key, value) = line.split_once('=')?;
        let key = key.trim();
        let value = value.trim();
        match key {
            "frame" => self.current.frame = parse_u64(value),
            "fps" => self.current.fps = parse_rate(value),
            "speed" => self.current.speed = parse_rate(value.strip_suffix('x').unwrap_or(value)),
            "out_time_us" => self.time_us = parse_time_us(value),
            "out_time_ms" => self.time_ms_field = parse_time_us(value),
            "out_time" => self.time_text = parse_clock(value),
            "progress" => return Some(self.finish_block(value == "end")),
            _ => {}
        }
        None
    }

    /// Feeds a chunk of raw bytes as read from the pipe; returns every block completed by it.
    /// Lines may be split across chunks; a line longer than [`MAX_LINE_LEN`] is skipped whole.
    pub fn push_bytes(&mut self, chunk: &[u8]) -> Vec<ProgressUpdate> {
        let mut updates = Vec::new();
        for piece in chunk.split_inclusive(|b| *b == b'\n') {
            let complete = piece.last() == Some(&b'\n');
            let body = if complete {
                &piece[..piece.len() - 1]
            } else {
                piece
            };
            if !self.discarding {
                if self.partial.len() + body.len() > MAX_LINE_LEN {
                    self.partial.clear();
                    self.discarding = true;
                } else {
                    self.partial.extend_from_slice(body);
                }
            }
            if complete {
                if !self.discarding {
                    let line = String::from_utf8_lossy(&self.partial).into_owned();
                    if let Some(update) = self.push_line(&line) {
                        updates.push(update);
                    }
                }
                self.partial.clear();
                self.discarding = false;
            }
        }
        updates
    }

    fn finish_block(&mut self, done: bool) -> ProgressUpdate {
        let mut update = std::mem::take(&mut self.current);
        update.out_time_us = self.time_us.or(self.time_ms_field).or(self.time_text);
        update.done = done;
        self.time_us = None;
        self.time_ms_field = None;
        self.time_text = None;
        update
    }
}

fn parse_u64(value: &str) -> Option<u64> {
    value.parse().ok()
}

/// A non-negative finite decimal (`fps`, `speed`); anything else (`N/A`, `inf`) is unknown.
fn parse_rate(value: &str) -> Option<f32> {
    let v: f32 = value.trim().parse().ok()?;
    (v.is_finite() && v >= 0.0).then_some(v)
}

/// A signed microsecond count; negative positions (ffmpeg prints them at start) read as 0.
fn parse_time_us(value: &str) -> Option<u64> {
    let v: i64 = value.parse().ok()?;
    Some(u64::try_from(v).unwrap_or(0))
}

/// `HH:MM:SS.ffffff` in microseconds (hours may have any number of digits; `-` prefix reads
/// as 0): ffmpeg's `out_time`, and Matroska's `DURATION` tags (`timing.rs`).
pub(super) fn parse_clock(value: &str) -> Option<u64> {
    if value.starts_with('-') {
        return Some(0);
    }
    let mut parts = value.split(':');
    let hours: u64 = parts.next()?.parse().ok()?;
    let minutes: u64 = parts.next()?.parse().ok()?;
    let seconds = parts.next()?;
    if parts.next().is_some() || minutes >= 60 {
        return None;
    }
    let (whole, frac) = seconds.split_once('.').unwrap_or((seconds, ""));
    let whole: u64 = whole.parse().ok()?;
    if whole >= 60 || frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut micros: u64 = 0;
    for (i, digit) in frac.bytes().take(6).enumerate() {
        micros += u64::from(digit - b'0') * 10u64.pow(5 - i as u32);
    }
    let secs = hours.checked_mul(3600)?.checked_add(minutes * 60 + whole)?;
    secs.checked_mul(1_000_000)?.checked_add(micros)
}

/// Completed fraction (0..=1) and estimated seconds left for an update.
///
/// The fraction is `out_time / total` clamped to 0..=1 (0 when the total is unknown, 1 once
/// `done`). The ETA is the remaining media time divided by the encoding speed when both are
/// known, otherwise extrapolated from the wall time spent so far; `None` when neither works.
pub fn estimate(
    update: &ProgressUpdate,
    total_duration_us: Option<u64>,
    elapsed_wall_ms: u64,
) -> (f32, Option<u32>) {
    if update.done {
        return (1.0, Some(0));
    }
    let total = total_duration_us.filter(|t| *t > 0);
    let fraction = match (update.out_time_us, total) {
        (Some(pos), Some(total)) => (pos as f64 / total as f64).clamp(0.0, 1.0),
        _ => 0.0,
    };
    let by_speed = match (update.out_time_us, total, update.speed) {
        (Some(pos), Some(total), Some(speed)) if speed > 0.0 => {
            let remaining_s = total.saturating_sub(pos) as f64 / 1e6;
            Some(remaining_s / f64::from(speed))
        }
        _ => None,
    };
    let by_elapsed =
        (fraction > 0.0).then(|| elapsed_wall_ms as f64 / 1000.0 * (1.0 - fraction) / fraction);
    let eta = by_speed
        .or(by_elapsed)
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| s.ceil().min(f64::from(u32::MAX)) as u32);
    (fraction as f32, eta)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const BLOCK_1: &str = "frame=1\nfps=0.00\nstream_0_0_q=0.0\nbitrate=  79.0kbits/s\n\
        total_size=918\nout_time_us=93000\nout_time_ms=93000\nout_time=00:00:00.093000\n\
        dup_frames=0\ndrop_frames=0\nspeed=43.3x\nprogress=continue\n";
    const BLOCK_END: &str = "frame=50\nfps=0.00\nstream_0_0_q=-1.0\nbitrate= 122.8kbits/s\n\
        total_size=31015\nout_time_us=2020000\nout_time_ms=2020000\nout_time=00:00:02.020000\n\
        dup_frames=0\ndrop_frames=0\nspeed=19.4x\nprogress=end\n";
    const BLOCK_NA: &str = "frame=0\nfps=0.00\nstream_0_0_q=0.0\nbitrate=N/A\ntotal_size=0\n\
        out_time_us=N/A\nout_time_ms=N/A\nout_time=N/A\ndup_frames=0\ndrop_frames=0\n\
        speed=N/A\nprogress=continue\n";

    fn lines(parser: &mut ProgressParser, text: &str) -> Vec<ProgressUpdate> {
        text.lines().filter_map(|l| parser.push_line(l)).collect()
    }

    #[test]
    fn real_blocks_parse() {
        let mut p = ProgressParser::new();
        let got = lines(&mut p, &format!("{BLOCK_1}{BLOCK_END}"));
        assert_eq!(
            got,
            vec![
                ProgressUpdate {
                    out_time_us: Some(93_000),
                    fps: Some(0.0),
                    speed: Some(43.3),
                    frame: Some(1),
                    done: false
                },
                ProgressUpdate {
                    out_time_us: Some(2_020_000),
                    fps: Some(0.0),
                    speed: Some(19.4),
                    frame: Some(50),
                    done: true
                },
            ]
        );
    }

    #[test]
    fn na_values_are_none_and_fields_reset_between_blocks() {
        let mut p = ProgressParser::new();
        let got = lines(&mut p, &format!("{BLOCK_1}{BLOCK_NA}"));
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[1],
            ProgressUpdate {
                out_time_us: None,
                fps: Some(0.0),
                speed: None,
                frame: Some(0),
                done: false
            }
        );
        // A block with nothing known still yields an update, all unknown.
        assert_eq!(
            p.push_line("progress=continue"),
            Some(ProgressUpdate::default())
        );
    }

    #[test]
    fn time_falls_back_to_out_time_ms_then_clock() {
        let mut p = ProgressParser::new();
        let u = lines(&mut p, "out_time_ms=1500000\nprogress=continue\n");
        assert_eq!(u[0].out_time_us, Some(1_500_000));
        let u = lines(&mut p, "out_time=01:02:03.5\nprogress=continue\n");
        assert_eq!(u[0].out_time_us, Some(3_723_500_000));
        let u = lines(
            &mut p,
            "out_time_us=-577350\nout_time=-00:00:00.577350\nprogress=continue\n",
        );
        assert_eq!(u[0].out_time_us, Some(0));
    }

    #[test]
    fn byte_chunks_split_anywhere_give_the_same_updates() {
        let text = format!("{BLOCK_1}{BLOCK_NA}{BLOCK_END}").replace('\n', "\r\n");
        let mut whole = ProgressParser::new();
        let expected = whole.push_bytes(text.as_bytes());
        assert_eq!(expected.len(), 3);
        for size in [1, 2, 7, 64] {
            let mut p = ProgressParser::new();
            let got: Vec<_> = text
                .as_bytes()
                .chunks(size)
                .flat_map(|c| p.push_bytes(c))
                .collect();
            assert_eq!(got, expected, "chunk size {size}");
        }
    }

    #[test]
    fn garbage_and_overlong_lines_are_ignored() {
        let mut p = ProgressParser::new();
        let long = format!("out_time_us={}\n", "9".repeat(MAX_LINE_LEN + 10));
        let mut input = Vec::new();
        input.extend_from_slice(b"\xff\xfe not a key value\n=\n==\nspeed=fastx\nfps=-3\nfps=NaN\n");
        input.extend_from_slice(long.as_bytes());
        input.extend_from_slice(b"frame=12\nprogress=continue\n");
        let got = p.push_bytes(&input);
        assert_eq!(
            got,
            vec![ProgressUpdate {
                frame: Some(12),
                ..ProgressUpdate::default()
            }]
        );
        assert_eq!(p.push_line(&long), None);
        // An unterminated overlong line is dropped, and parsing resumes after its newline.
        let mut p = ProgressParser::new();
        assert!(p.push_bytes(&vec![b'a'; MAX_LINE_LEN * 3]).is_empty());
        assert_eq!(p.push_bytes(b"=x\nframe=3\nprogress=end\n").len(), 1);
    }

    #[test]
    fn estimate_fraction_and_eta() {
        let mid = ProgressUpdate {
            out_time_us: Some(1_000_000),
            speed: Some(2.0),
            ..Default::default()
        };
        // 3 s of media left at 2x: 1.5 s, rounded up.
        assert_eq!(estimate(&mid, Some(4_000_000), 500), (0.25, Some(2)));
        // Without speed: 1 s of wall time for a quarter, so 3 s more.
        let no_speed = ProgressUpdate { speed: None, ..mid };
        assert_eq!(estimate(&no_speed, Some(4_000_000), 1000), (0.25, Some(3)));
        // Unknown total: no fraction, no ETA.
        assert_eq!(estimate(&mid, None, 1000), (0.0, None));
        assert_eq!(estimate(&mid, Some(0), 1000), (0.0, None));
        // Overshoot is clamped.
        let past = ProgressUpdate {
            out_time_us: Some(9_000_000),
            ..mid
        };
        assert_eq!(estimate(&past, Some(4_000_000), 1000), (1.0, Some(0)));
        let done = ProgressUpdate {
            done: true,
            ..Default::default()
        };
        assert_eq!(estimate(&done, None, 1000), (1.0, Some(0)));
        // Zero speed falls back to elapsed time.
        let stalled = ProgressUpdate {
            speed: Some(0.0),
            ..mid
        };
        assert_eq!(estimate(&stalled, Some(4_000_000), 2000), (0.25, Some(6)));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(chunks in proptest::collection::vec(
            proptest::collection::vec(any::<u8>(), 0..600), 0..20)) {
            let mut p = ProgressParser::new();
            for c in &chunks {
                for u in p.push_bytes(c) {
                    let (f, _) = estimate(&u, Some(1_000_000), 1000);
                    prop_assert!((0.0..=1.0).contains(&f));
                }
            }
        }

        #[test]
        fn arbitrary_lines_never_panic(lines in proptest::collection::vec(
            "(frame|fps|speed|out_time_us|out_time_ms|out_time|progress|[a-z]{0,5})=[-0-9.:xN/A]{0,30}",
            0..40), total in proptest::option::of(any::<u64>()), elapsed in any::<u64>()) {
            let mut p = ProgressParser::new();
            for l in &lines {
                if let Some(u) = p.push_line(l) {
                    let (f, _) = estimate(&u, total, elapsed);
                    prop_assert!((0.0..=1.0).contains(&f));
                }
            }
        }
    }
}

//! ffmpeg integration: the built-in profiles, probing media, listing encoders, running
//! conversions and reading their progress, checking outputs.
//!
//! Everything here runs the real `ffmpeg`/`ffprobe` binaries found on `PATH` through
//! `tokio::process`, with bounded output capture and `kill_on_drop`.

mod cancel;
mod convert;
mod decodes;
mod encoders;
mod error;
mod limits;
mod probe;
pub mod profiles;
pub mod progress;
mod segments;
mod stderr_tail;
mod threads;
mod timing;
mod tool;
mod verify;

#[cfg(test)]
mod tests;

pub use cancel::CancelToken;
pub use convert::{convert, ConvertJob, ConvertOutcome, ConvertProgress};
pub use decodes::{decoders_for, source_decodes};
pub use encoders::{
    available_encoders, converter_profiles, parse_encoders, runnable_profiles, MissingEncoder,
};
pub use error::FfmpegError;
pub use limits::{probed_duration, TimeLimit, MAX_NICE};
pub use probe::{probe, Probe, StreamInfo};
pub use profiles::{builtin_profile, Profile, BUILTIN_PROFILES};
pub use segments::{
    convert_in_segments, encode_segment, segment_holds, SegmentedOutcome, SplitPolicy, SpreadAsk,
    SpreadCut, SpreadDone, Spreader, MAX_SEGMENTS,
};
pub use stderr_tail::StderrTail;
pub use verify::{check_output, check_size, verify_output, VerifyMode, VerifyOptions};

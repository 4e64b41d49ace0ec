//! Parsing of ffmpeg `-progress` output.

//! ffmpeg

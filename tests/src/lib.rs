//! Helpers for dmc's end-to-end tests: real `dmc node` processes on 127.0.0.1 with mDNS off,
//! or in the network namespaces of a LAN lab ([`NetLab`]), each in its own temporary data dir,
//! driven through the real `dmc` CLI.
//! Media is made at test time with ffmpeg's lavfi sources. Tests that need root or tools
//! beyond ffmpeg are `#[ignore]`d and check what they need with [`needs`].

pub mod chromium;
pub mod http;
pub mod marionette;
pub mod media;
pub mod needs;
pub mod netlab;
pub mod node;
pub mod rogue;
pub mod tools;
pub mod webdriver;

pub use media::{
    ffprobe_streams, frame_intervals_ms, make_checkerboard_png, make_clip, make_corrupt_clip,
    make_gop_clip, make_noisy_clip, make_png, make_pngs, make_raw_clip, make_tone,
    make_truncated_clip, sha512_hex, sync_facts, video_frames, HardInput, SyncFacts,
};
pub use netlab::NetLab;
pub use node::{dmc_bin, logged_number, wait_until, Lab, Node, NodeOpts};

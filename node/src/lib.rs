//! dmc-node: the runtime that drives `dmc-protocol`. One task owns each resource (the swarm,
//! the store, each worker) and is reached through a cloneable handle over bounded channels.

pub mod announce;
pub mod config;
pub mod control;
pub mod core;
pub mod discovery;
pub mod doctor;
pub mod ffmpeg;
pub mod gui;
pub mod identity;
pub mod net;
pub mod network_key;
pub mod run;
pub mod store;
pub mod transfer;
pub mod watch;

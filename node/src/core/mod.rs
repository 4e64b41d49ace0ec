//! The core task: owns the protocol engine, feeds it events from the swarm, the control API,
//! workers and timers, and carries out its effects.
//!
//! `task.rs` is the loop and its state; `commands.rs`, `queries.rs` and `offer.rs` answer the
//! control API; `net_events.rs` handles the swarm; `msg.rs` and `outcomes.rs` are the reports
//! of spawned tasks; `work.rs` starts evaluations, jobs (`job.rs`) and deliveries
//! (`deliver.rs`); `checksum.rs` reads the SHA-512 that follows an offer of a large file; `layout.rs` holds the path rules of the work and output dirs; `ended.rs`
//! sends items that end to their subscribers; `changes.rs` tells live views what changed.

mod authors;
mod awake;
mod budget;
pub mod changes;
mod checksum;
pub mod cleanup;
mod commands;
mod deliver;
pub mod ended;
mod estimate;
mod evaluate;
mod fetch;
pub(crate) mod files;
pub mod handle;
mod job;
pub(crate) mod layout;
mod msg;
mod names;
mod net_events;
mod offer;
mod outcomes;
pub(crate) mod peers;
mod queries;
mod reserve;
mod retry;
mod shutdown;
mod speeds;
mod spread;
mod summaries;
mod task;
pub mod upgrade;
pub(crate) mod upgrading;
mod work;

pub use changes::{changes_channel, Change, ChangeSender};
pub use ended::{ended_channel, EndedReceiver, EndedSender, ItemEnded};
pub use handle::{command_channel, Commands, CoreError, CoreFatal, CoreHandle};
/// Free space as a converter measures it (the doctor reports it too).
pub(crate) use layout::free_space;
pub use names::{rename_noreplace, safe_file_name, sync_dir, unique_path};
pub use task::{spawn_core, CoreParts};

/// Milliseconds since the Unix epoch: the node's clock, passed into the protocol.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

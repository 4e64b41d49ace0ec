//! The core task: owns the protocol engine, feeds it events from the swarm, the control API,
//! workers and timers, and carries out its effects.

mod awake;
pub mod cleanup;
mod deliver;
mod finished;
pub mod handle;
mod job;
mod names;
mod offer;
pub(crate) mod peers;
mod queries;
mod queue;
mod reserve;
mod shutdown;
mod task;

pub use handle::{CoreError, CoreHandle};
/// Free space as a converter measures it (the doctor reports it too).
pub(crate) use job::free_space;
pub use names::{safe_file_name, unique_path};
pub use task::{spawn_core, CoreParts};

/// Milliseconds since the Unix epoch: the node's clock, passed into the protocol.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

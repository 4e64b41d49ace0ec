//! The core task: owns the protocol engine, feeds it events from the swarm, the control API,
//! workers and timers, and carries out its effects.

pub mod handle;
pub mod views;

pub use handle::{CoreError, CoreHandle};

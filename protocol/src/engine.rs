//! The node state machine: feeds events in, gets effects out.

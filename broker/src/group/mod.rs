//! Consumer groups: the pure state machine, the `__consumer_offsets` record format, and the
//! coordinator that drives them.

pub mod coordinator;
pub mod offsets;
pub mod state;

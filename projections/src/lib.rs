//! Read models folded from the global log, each with its checkpoint committed in the same
//! transaction as its changes.
//!
//! Empty until the projections issue (#5) lands: the log they follow and the checkpoint
//! table already exist (`eventstore::EventLog`, migration `event_store`).

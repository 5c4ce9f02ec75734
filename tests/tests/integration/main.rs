//! FieldSync's integration tests: one test binary (it links the dependency tree once) with a
//! module per area. Run one area with `cargo test -p fieldsync-tests --test integration
//! <module>::`, e.g. `network_faults::`.
//!
//! Long fault and load variants are `#[ignore]`d and run with `make reliability`.

mod at_rest;
mod attachments;
mod authorization;
mod batch;
mod coalesce;
mod convergence;
mod convergence_replicas;
mod corrupt_db;
mod crash;
mod data_model;
mod direct;
mod disk_full;
mod encryption;
mod forks;
mod foundation;
mod hostile_peer;
mod key_rotation;
mod large_ops;
mod load;
mod migrations;
mod network;
mod network_encryption;
mod network_faults;
mod network_lossy;
mod offline;
mod snapshots;
mod tamper;
mod teardown;

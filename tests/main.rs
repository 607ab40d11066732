//! meshgen's integration tests, one binary (compiling and linking two dozen test crates
//! against the library cost more than running them): each module is one area, most of them
//! driving the real `meshgen` binary on fixture projects; shared helpers are in `common`.
//! Snapshots live in `tests/snapshots/`, named after the module.

mod common;

mod argocd;
mod bad_input;
mod checks;
mod cli;
mod coverage;
mod crds;
mod determinism;
mod diff_against;
mod diff_cluster;
mod diff_cluster_ops;
mod diff_projects;
mod docs;
mod egress;
mod environments;
mod fixtures;
mod flags;
mod import;
mod ingress;
mod init;
mod injection;
mod log_safety;
mod no_network;
mod output_cache;
mod packaging;
mod patches;
mod policy;
mod routes;
mod schema;
mod seed;
mod stream;
mod synth;
mod write_safety;
mod yaml_subset;

//! Go's text formats that both the inventory checks (`model`) and the CRD validator (`crd`)
//! must read exactly as Go does: durations (`time.ParseDuration`) and RE2 patterns (Go's
//! `regexp`, which Kubernetes and Envoy use).
//!
//! A leaf: it depends on nothing of meshgen (only `std` and the `regex` crate), so `model`
//! can use it without reaching into the validator, and `crd` without reaching into the model.

pub(crate) mod duration;
pub(crate) mod re2;

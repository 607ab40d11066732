//! Stable virtual IPs for TCP services that have none (`vipRange` in the project file).
//!
//! Istio tells opaque TCP services apart by destination address only; two without
//! `addresses` on one port share a listener (`tcp-port-clash`). With a `vipRange`, meshgen
//! gives each such service a VIP. The allocation must never change under a service's feet,
//! so it is not recomputed from scratch: the previous allocations are read back from
//! `vip-allocations.yaml` in the output directory (committed with the rest of `out/`), kept
//! for every service that still needs one, and only new services get a new address: the
//! hash of their `namespace/name` in the range, probing onwards past addresses already
//! taken, by another allocation or by any address the inventory declares.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use super::names::AddressKind;
use super::{Inventory, Port};
use crate::diag::{Diagnostic, Diagnostics, Origin};

/// The allocation file, in the output directory.
pub const FILE: &str = "vip-allocations.yaml";

/// Reads previous allocations (`namespace/name: ip` lines); anything else is ignored, since
/// the file is meshgen's own and a lost entry only means a new allocation.
pub fn parse(text: &str) -> BTreeMap<String, Ipv4Addr> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((k.trim().to_string(), v.trim().trim_matches('"').parse().ok()?))
        })
        .collect()
}

/// The allocation file's text.
pub fn render(range: (Ipv4Addr, u8), allocations: &BTreeMap<String, Ipv4Addr>) -> String {
    let mut s = format!(
        "# Virtual IPs meshgen allocated from {}/{} (vipRange). Keep this file committed:\n\
         # it keeps every service's address stable from build to build.\n",
        range.0, range.1
    );
    for (k, ip) in allocations {
        s.push_str(&format!("{k}: \"{ip}\"\n"));
    }
    s
}

fn needs_vip(ports: &[Port], addresses: &[String]) -> bool {
    addresses.is_empty() && ports.iter().any(|p| !p.protocol.is_http() && !p.protocol.is_tls())
}

/// FNV-1a: a fixed, documented hash, so the first choice of address is the same everywhere.
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// Allocates VIPs to the services and external APIs that need one, writing them into the
/// inventory; returns the full allocation table to commit.
pub fn allocate(
    inv: &mut Inventory,
    range: (Ipv4Addr, u8),
    previous: &BTreeMap<String, Ipv4Addr>,
    project_file: &Origin,
    diags: &mut Diagnostics,
) -> BTreeMap<String, Ipv4Addr> {
    let size = 1u32 << (32 - range.1);
    let base = u32::from(range.0) & !(size - 1);
    // Every address the inventory declares is taken (CIDRs as ranges).
    let mut declared: Vec<(u32, u32)> = Vec::new();
    let all_addresses = inv
        .services
        .iter()
        .flat_map(|s| s.addresses.iter().chain(s.vms.iter().filter(|w| w.kind == AddressKind::Ip).map(|w| &w.address)))
        .chain(inv.externals.iter().flat_map(|e| e.addresses.iter()));
    for a in all_addresses {
        let (ip, prefix) = a.split_once('/').map_or((a.as_str(), 32), |(ip, p)| (ip, p.parse().unwrap_or(32)));
        if let Ok(ip) = ip.parse::<Ipv4Addr>() {
            let n = u32::from(ip);
            let mask = if prefix >= 32 { 0 } else { u32::MAX >> prefix };
            declared.push((n & !mask, n | mask));
        }
    }
    let is_declared = |n: u32| declared.iter().any(|(lo, hi)| (*lo..=*hi).contains(&n));

    // Who needs one, by `namespace/name`, in a stable order.
    let mut wanted: BTreeSet<String> = BTreeSet::new();
    for s in inv.services.iter().filter(|s| s.service_entry && needs_vip(&s.ports, &s.addresses)) {
        wanted.insert(format!("{}/{}", s.namespace, s.name));
    }
    for e in inv.externals.iter().filter(|e| {
        needs_vip(&e.ports, &e.addresses)
            && !e.hosts.iter().any(|h| h.starts_with('*'))
            && e.resolution != super::Resolution::None
            && !e.endpoints.iter().any(|w| w.kind == AddressKind::Unix)
    }) {
        wanted.insert(format!("{}/{}", e.namespace, e.name));
    }

    let mut table: BTreeMap<String, Ipv4Addr> = BTreeMap::new();
    let mut taken: BTreeSet<u32> = BTreeSet::new();
    // First, what was allocated before and is still valid.
    for key in &wanted {
        if let Some(ip) = previous.get(key) {
            let n = u32::from(*ip);
            if n & !(size - 1) == base && !is_declared(n) && taken.insert(n) {
                table.insert(key.clone(), *ip);
            }
        }
    }
    // Then the newcomers, each from its hash onwards. The network and broadcast addresses of
    // the range are skipped.
    let newcomers: Vec<&String> = wanted.iter().filter(|k| !table.contains_key(*k)).collect();
    for key in newcomers {
        let start = (fnv1a(key) % u64::from(size)) as u32;
        let free = (0..size)
            .map(|i| base + (start + i) % size)
            .find(|n| *n != base && *n != base + size - 1 && !taken.contains(n) && !is_declared(*n));
        match free {
            Some(n) => {
                taken.insert(n);
                table.insert(key.clone(), Ipv4Addr::from(n));
            }
            None => {
                diags.push(
                    Diagnostic::error(
                        "vip-range-exhausted",
                        project_file.child("vipRange"),
                        format!("no free address left in {}/{} for `{key}`", range.0, range.1),
                    )
                    .help("widen `vipRange`, or give some services `addresses` of their own"),
                );
                break;
            }
        }
    }

    for s in &mut inv.services {
        if let Some(ip) = table.get(&format!("{}/{}", s.namespace, s.name)) {
            s.addresses = vec![ip.to_string()];
        }
    }
    for e in &mut inv.externals {
        if let Some(ip) = table.get(&format!("{}/{}", e.namespace, e.name)) {
            e.addresses = vec![ip.to_string()];
        }
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_allocation_file_round_trips() {
        let t: BTreeMap<String, Ipv4Addr> =
            [("data/db".to_string(), Ipv4Addr::new(240, 240, 3, 7))].into_iter().collect();
        assert_eq!(parse(&render((Ipv4Addr::new(240, 240, 0, 0), 16), &t)), t);
    }
}

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
    addresses.is_empty() && ports.iter().any(|p| p.protocol.is_opaque())
}

/// The declared addresses that fall in the VIP range, as sorted disjoint ranges: a
/// candidate is then checked by binary search, not against every declared address.
fn declared_in(inv: &Inventory, lo: u32, hi: u32) -> Vec<(u32, u32)> {
    let addresses = inv
        .services
        .iter()
        .flat_map(|s| {
            let vms = s.vms.iter().filter(|w| w.kind == AddressKind::Ip).map(|w| &*w.address);
            s.addresses.iter().map(String::as_str).chain(vms)
        })
        .chain(inv.externals.iter().flat_map(|e| e.addresses.iter().map(String::as_str)));
    let ranges: Vec<(u32, u32)> = addresses
        .filter_map(super::names::ip_range)
        .filter(|(v6, a, b)| !v6 && *a <= u128::from(hi) && *b >= u128::from(lo))
        .map(|(_, a, b)| (a as u32, b as u32))
        .collect();
    merge(ranges)
}

/// Sorts ranges and merges the overlapping or touching ones.
fn merge(mut ranges: Vec<(u32, u32)>) -> Vec<(u32, u32)> {
    ranges.sort_unstable();
    let mut merged: Vec<(u32, u32)> = Vec::with_capacity(ranges.len());
    for (a, b) in ranges {
        match merged.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    merged
}

/// Whether `n` is in one of the sorted disjoint `ranges`.
fn covered(ranges: &[(u32, u32)], n: u32) -> bool {
    let i = ranges.partition_point(|(lo, _)| *lo <= n);
    i > 0 && ranges[i - 1].1 >= n
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
    let declared = declared_in(inv, base, base + (size - 1));
    let is_declared = |n: u32| covered(&declared, n);

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
    fn declared_ranges_are_merged_and_searched() {
        let m = merge(vec![(10, 20), (5, 7), (21, 30), (50, 50), (15, 18)]);
        assert_eq!(m, vec![(5, 7), (10, 30), (50, 50)]);
        for (n, expected) in
            [(4, false), (5, true), (8, false), (10, true), (30, true), (31, false), (50, true), (51, false)]
        {
            assert_eq!(covered(&m, n), expected, "{n}");
        }
    }

    #[test]
    fn the_allocation_file_round_trips() {
        let t: BTreeMap<String, Ipv4Addr> =
            [("data/db".to_string(), Ipv4Addr::new(240, 240, 3, 7))].into_iter().collect();
        assert_eq!(parse(&render((Ipv4Addr::new(240, 240, 0, 0), 16), &t)), t);
    }
}

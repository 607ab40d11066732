//! Stage 3, `graph`: who calls whom.
//!
//! Takes the [`Inventory`] and returns a [`MeshGraph`]: a petgraph digraph with one node per
//! service or external API and one edge per declared dependency (consumer → target). A
//! dependency on a name the inventory does not declare is an error with a "did you mean";
//! dependency cycles are reported as warnings (mutual calls are legal, but usually worth a
//! second look). The graph answers the questions later stages ask, such as which namespaces
//! consume a service (for `exportTo: consumers`).

pub mod export;

use std::collections::BTreeSet;

use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;

use crate::diag::{Diagnostic, Diagnostics, Origin};
use crate::model::{Dependency, Inventory};

/// What a node stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    /// A mesh service.
    Service,
    /// An external API.
    External,
}

/// One node of the graph. Where the entity is declared is the entity's own
/// ([`Node::origin`]): a copy per node was 80 bytes of 230 at 100,000 services.
#[derive(Debug, Clone)]
pub struct Node {
    /// Entity name.
    pub name: String,
    /// Entity namespace.
    pub namespace: String,
    /// Service or external.
    pub kind: NodeKind,
    /// Position of the entity in the inventory's services or externals (by `kind`).
    pub entity: usize,
}

/// An entity affected by a change to another (see [`MeshGraph::impact`]).
#[derive(Debug, Clone, Copy)]
pub struct Impact<'a> {
    /// The dependent entity.
    pub node: &'a Node,
    /// How many edges from the changed entity (1: it calls it directly).
    pub depth: usize,
    /// The entity it calls on a shortest path towards the changed one.
    pub via: &'a Node,
}

impl Node {
    /// The service this node stands for (`None` for an external API).
    pub fn service<'a>(&self, inv: &'a Inventory) -> Option<&'a crate::model::Service> {
        (self.kind == NodeKind::Service).then(|| &*inv.services[self.entity])
    }

    /// Where the entity is declared, in the inventory the graph was built from.
    pub fn origin<'a>(&self, inv: &'a Inventory) -> &'a Origin {
        match self.kind {
            NodeKind::Service => &inv.services[self.entity].origin,
            NodeKind::External => &inv.externals[self.entity].origin,
        }
    }
}

/// The hash of an entity name in [`MeshGraph`]'s index: one fixed seed, so that the table is
/// the same on every run (its order is never read, but nothing needs it to vary).
fn name_hash(name: &str) -> u64 {
    use std::hash::BuildHasher as _;
    foldhash::fast::FixedState::with_seed(0x0067_7261_7068).hash_one(name)
}

/// The dependency graph of an inventory. An edge holds the position of its dependency in
/// the consumer's `dependsOn` (copying every dependency into the graph cost more than the
/// rest of building it); the methods that return dependencies take that inventory.
#[derive(Debug, Default)]
pub struct MeshGraph {
    /// Each edge's weight is the position of its dependency in the consumer's `dependsOn`
    /// (32 bits, as the model keeps it: an edge is 20 bytes, not 24).
    graph: DiGraph<Node, u32>,
    /// Node by entity name: positions only, hashed by [`name_hash`] and compared with the
    /// node's own name, where a map keyed by name held a second copy of every name.
    index: hashbrown::HashTable<NodeIndex>,
    /// The services the ingress gateway calls (`ingress`), and the gateway's namespace.
    exposed: foldhash::HashSet<NodeIndex>,
    ingress_namespace: String,
    /// Each dependency's target node, service by service in `dependsOn` order ([`NONE`]: an
    /// unknown name): service `i`'s are `targets[starts[i]..starts[i + 1]]`. Resolved once
    /// here, so that the rules and renderers that follow dependencies do not hash every
    /// target's name again (at 100,000 services, half a million lookups, each a few cache
    /// misses).
    targets: Vec<u32>,
    starts: Vec<u32>,
}

/// A dependency whose target is not in the graph, in [`MeshGraph`]'s `targets`.
const NONE: u32 = u32::MAX;

/// Services per block whose targets one core resolves at a time.
const TARGET_BLOCK: usize = 1024;

impl MeshGraph {
    /// The node of an entity.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.find(name).map(|i| &self.graph[i])
    }

    /// The position of an entity's node.
    fn find(&self, name: &str) -> Option<NodeIndex> {
        self.index.find(name_hash(name), |&i| self.graph[i].name == name).copied()
    }

    /// Adds an entity's node; the index keeps the first of two nodes of one name (the model
    /// stage reports and leaves out duplicates, so there are none).
    fn add_node(&mut self, node: Node) {
        let hash = name_hash(&node.name);
        let i = self.graph.add_node(node);
        let graph = &self.graph;
        let name = &graph[i].name;
        if let hashbrown::hash_table::Entry::Vacant(slot) =
            self.index.entry(hash, |&j| graph[j].name == *name, |&j| name_hash(&graph[j].name))
        {
            slot.insert(i);
        }
    }

    /// The target of each dependency of service `i` (its position in the inventory), in
    /// `dependsOn` order; `None` for a name the inventory does not declare.
    pub fn targets(&self, i: usize) -> impl ExactSizeIterator<Item = Option<&Node>> + '_ {
        let range = self.starts.get(i).zip(self.starts.get(i + 1)).map_or(0..0, |(&a, &b)| a as usize..b as usize);
        self.targets[range].iter().map(|&t| (t != NONE).then(|| &self.graph[NodeIndex::new(t as usize)]))
    }

    /// The entities that depend on `name` (its consumers), sorted by name.
    pub fn consumers(&self, name: &str) -> Vec<&Node> {
        let Some(i) = self.find(name) else { return Vec::new() };
        let mut v: Vec<&Node> =
            self.graph.neighbors_directed(i, petgraph::Direction::Incoming).map(|n| &self.graph[n]).collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v.dedup_by(|a, b| a.name == b.name);
        v
    }

    /// The dependency an edge stands for, in the inventory the graph was built from.
    fn dependency<'a>(&self, inv: &'a Inventory, e: petgraph::graph::EdgeReference<'_, u32>) -> &'a Dependency {
        let consumer = &self.graph[e.source()];
        let service = &inv.services[consumer.entity];
        debug_assert_eq!(service.name, consumer.name, "a graph is asked with another inventory");
        &service.depends_on[*e.weight() as usize]
    }

    /// The consumers of `name` with the dependency each declared on it, sorted by consumer;
    /// `inv` is the inventory the graph was built from.
    pub fn consumer_edges<'a>(&'a self, inv: &'a Inventory, name: &str) -> Vec<(&'a Node, &'a Dependency)> {
        let Some(i) = self.find(name) else { return Vec::new() };
        let mut v: Vec<(&Node, &Dependency)> = self
            .graph
            .edges_directed(i, petgraph::Direction::Incoming)
            .map(|e| (&self.graph[e.source()], self.dependency(inv, e)))
            .collect();
        v.sort_by(|a, b| a.0.name.cmp(&b.0.name));
        v
    }

    /// Every node, in inventory order (services, then externals).
    pub fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.graph.node_weights()
    }

    /// Every edge as (consumer, target, dependency), in declaration order; `inv` is the
    /// inventory the graph was built from.
    pub fn edges<'a>(&'a self, inv: &'a Inventory) -> impl Iterator<Item = (&'a Node, &'a Node, &'a Dependency)> {
        self.graph
            .edge_references()
            .map(move |e| (&self.graph[e.source()], &self.graph[e.target()], self.dependency(inv, e)))
    }

    /// The namespaces of `name`'s consumers, sorted; the ingress gateway's among them when
    /// it exposes `name`.
    pub fn consumer_namespaces(&self, name: &str) -> BTreeSet<&str> {
        let Some(i) = self.find(name) else { return BTreeSet::new() };
        // Straight into the set, which sorts and deduplicates: no list of consumers sorted
        // by name first (a cache miss per name compared, for every service of an estate).
        let mut set: BTreeSet<&str> = self
            .graph
            .neighbors_directed(i, petgraph::Direction::Incoming)
            .map(|n| self.graph[n].namespace.as_str())
            .collect();
        if self.exposed.contains(&i) {
            set.insert(&self.ingress_namespace);
        }
        set
    }

    /// The entities `name` depends on, sorted by name.
    pub fn dependencies(&self, name: &str) -> Vec<&Node> {
        let Some(i) = self.find(name) else { return Vec::new() };
        let mut v: Vec<&Node> = self.graph.edges(i).map(|e| &self.graph[e.target()]).collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v.dedup_by(|a, b| a.name == b.name);
        v
    }

    /// `name` and every entity within `depth` edges of it, following dependencies in either
    /// direction.
    pub fn neighbourhood(&self, name: &str, depth: usize) -> BTreeSet<&str> {
        let Some(start) = self.find(name) else { return BTreeSet::new() };
        let mut frontier = vec![start];
        let mut visited = std::collections::HashSet::from([start]);
        for _ in 0..depth {
            let mut next = Vec::new();
            for i in frontier {
                for n in self.graph.neighbors_undirected(i) {
                    if visited.insert(n) {
                        next.push(n);
                    }
                }
            }
            frontier = next;
        }
        visited.into_iter().map(|i| self.graph[i].name.as_str()).collect()
    }

    /// Everything that depends on `name`, directly or through others: each with its distance
    /// (1 = a direct consumer) and the entity it calls on the way (a shortest path), sorted by
    /// distance and name.
    pub fn impact(&self, name: &str) -> Vec<Impact<'_>> {
        let Some(start) = self.find(name) else { return Vec::new() };
        let mut out = Vec::new();
        let mut visited = std::collections::HashSet::from([start]);
        let mut frontier = vec![start];
        let mut depth = 0;
        while !frontier.is_empty() {
            depth += 1;
            let mut next = Vec::new();
            let mut level = Vec::new();
            // By name, so that `via` is the same whatever order the edges were added in.
            frontier.sort_by(|a, b| self.graph[*a].name.cmp(&self.graph[*b].name));
            for i in frontier {
                let mut callers: Vec<NodeIndex> =
                    self.graph.neighbors_directed(i, petgraph::Direction::Incoming).collect();
                callers.sort_by(|a, b| self.graph[*a].name.cmp(&self.graph[*b].name));
                for c in callers {
                    if visited.insert(c) {
                        level.push(Impact { node: &self.graph[c], depth, via: &self.graph[i] });
                        next.push(c);
                    }
                }
            }
            level.sort_by(|a, b| a.node.name.cmp(&b.node.name));
            out.extend(level);
            frontier = next;
        }
        out
    }

    /// Number of nodes and edges.
    pub fn size(&self) -> (usize, usize) {
        (self.graph.node_count(), self.graph.edge_count())
    }
}

/// The dependency cycles: every strongly connected component of two or more nodes, by
/// Tarjan's algorithm, iterative, over the resolved targets (service `i`'s at
/// `targets[starts[i]..starts[i + 1]]`, as [`MeshGraph`] keeps them) rather than
/// petgraph's edge lists, whose walk was a cache miss per edge at 100,000 services. Only
/// services depend on anything, so an external API (or an unknown name, [`NONE`]) is in no
/// cycle and is not visited; a self-dependency or a repeated one changes no component.
fn cycles(starts: &[u32], targets: &[u32]) -> Vec<Vec<u32>> {
    /// The walk's state: each service's visit number and lowest reachable one (`NONE`
    /// while unvisited), the services of the components being built, and the services
    /// being visited with the position of the next target to follow.
    struct Walk {
        index: Vec<u32>,
        low: Vec<u32>,
        on_stack: Vec<bool>,
        stack: Vec<u32>,
        calls: Vec<(u32, usize)>,
        next: u32,
    }
    impl Walk {
        fn enter(&mut self, v: u32) {
            let v_ = v as usize;
            (self.index[v_], self.low[v_], self.on_stack[v_]) = (self.next, self.next, true);
            self.next += 1;
            self.stack.push(v);
            self.calls.push((v, 0));
        }
    }
    let services = starts.len().saturating_sub(1);
    let edges = |v: u32| &targets[starts[v as usize] as usize..starts[v as usize + 1] as usize];
    let mut w = Walk {
        index: vec![NONE; services],
        low: vec![0; services],
        on_stack: vec![false; services],
        stack: Vec::new(),
        calls: Vec::new(),
        next: 0,
    };
    let mut found = Vec::new();
    for root in 0..services as u32 {
        if w.index[root as usize] != NONE {
            continue;
        }
        w.enter(root);
        while let Some(&(v, at)) = w.calls.last() {
            let v_ = v as usize;
            if let Some(&t) = edges(v).get(at) {
                if let Some(call) = w.calls.last_mut() {
                    call.1 += 1;
                }
                let t_ = t as usize;
                if t_ >= services {
                    continue; // an external API, or an unknown name
                }
                if w.index[t_] == NONE {
                    w.enter(t);
                } else if w.on_stack[t_] {
                    w.low[v_] = w.low[v_].min(w.index[t_]);
                }
                continue;
            }
            w.calls.pop();
            if let Some(&(parent, _)) = w.calls.last() {
                w.low[parent as usize] = w.low[parent as usize].min(w.low[v_]);
            }
            if w.low[v_] == w.index[v_] {
                let from = w.stack.iter().rposition(|&u| u == v).unwrap_or(0);
                let members: Vec<u32> = w.stack.drain(from..).collect();
                for &u in &members {
                    w.on_stack[u as usize] = false;
                }
                if members.len() > 1 {
                    found.push(members);
                }
            }
        }
    }
    found
}

/// Builds the graph and reports unknown targets and cycles.
pub fn build(inv: &Inventory, diags: &mut Diagnostics) -> MeshGraph {
    let entities = inv.services.len() + inv.externals.len();
    let calls: usize = inv.services.iter().map(|s| s.depends_on.len()).sum();
    // Sized up front: grown by doubling, the node and edge arrays of 100,000 services were
    // copied (and their memory first touched) several times over.
    let mut g = MeshGraph {
        graph: DiGraph::with_capacity(entities, calls),
        index: hashbrown::HashTable::with_capacity(entities),
        // Services are the first nodes, in order: service `i` is node `i`.
        exposed: inv
            .services
            .iter()
            .enumerate()
            .filter(|(_, s)| s.ingress.is_some())
            .map(|(i, _)| NodeIndex::new(i))
            .collect(),
        ingress_namespace: inv.project.ingress_gateway.namespace.clone(),
        targets: Vec::new(),
        starts: Vec::with_capacity(inv.services.len() + 1),
    };
    let nodes = inv
        .services
        .iter()
        .enumerate()
        .map(|(i, s)| (&s.name, &s.namespace, NodeKind::Service, i))
        .chain(inv.externals.iter().enumerate().map(|(i, e)| (&e.name, &e.namespace, NodeKind::External, i)));
    for (name, namespace, kind, entity) in nodes {
        g.add_node(Node { name: name.clone(), namespace: namespace.clone(), kind, entity });
    }
    // Each dependency's target, looked up on every core: half a million lookups of names
    // spread over the whole table are cache misses, which the cores take in parallel.
    // In blocks of services, each block's targets end to end (a vector per service was an
    // allocation per service, freed on another core).
    let blocks: Vec<&[Box<crate::model::Service>]> = inv.services.chunks(TARGET_BLOCK).collect();
    let resolved: Vec<(Vec<u32>, Vec<u32>)> = crate::par::map_owned(blocks, |block| {
        let mut targets = Vec::new();
        let counts = block
            .iter()
            .map(|s| {
                targets.extend(s.depends_on.iter().map(|d| g.find(&d.target).map_or(NONE, |t| t.index() as u32)));
                // Positions in `dependsOn` (and node counts) are 32 bits, as in the model.
                s.depends_on.len() as u32
            })
            .collect();
        (targets, counts)
    });
    g.targets.reserve_exact(calls);
    let mut total = 0;
    for (targets, counts) in resolved {
        for count in counts {
            g.starts.push(total);
            total += count;
        }
        g.targets.extend_from_slice(&targets);
    }
    g.starts.push(total);
    // The names and hosts a misspelt target is compared with; gathered at the first one.
    let mut names: Option<crate::model::NameHelp<'_>> = None;
    // Which consumer last listed each node: `seen[to] == from + 1` when `from` already
    // depends on `to`. One array for the whole estate, where a set per service was an
    // allocation per service.
    let mut seen: Vec<u32> = vec![0; g.graph.node_count()];
    // Services are the first nodes, in order: service `i` is node `i`. A service's entry is
    // read only for a finding (the common case reads the arrays alone).
    for from in 0..inv.services.len() {
        let mark = from as u32 + 1;
        let range = g.starts[from] as usize..g.starts[from + 1] as usize;
        for k in 0..range.len() {
            let to = g.targets[range.start + k];
            let dep = || {
                let service = &inv.services[from];
                (service, &service.depends_on[k])
            };
            if to == NONE {
                let (service, dep) = dep();
                // Declared but invalid: its own errors are already reported.
                if !inv.invalid.contains(&*dep.target) {
                    diags.push(
                        Diagnostic::error(
                            "unknown-dependency",
                            dep.origin(service),
                            format!(
                                "`{}` depends on unknown `{}`",
                                service.name,
                                crate::model::validate::shown(&dep.target)
                            ),
                        )
                        .maybe_help(names.get_or_insert_with(|| crate::model::NameHelp::new(inv)).help(&dep.target)),
                    );
                }
            } else if to as usize == from || std::mem::replace(&mut seen[to as usize], mark) == mark {
                let (service, dep) = dep();
                let (code, message, help) = if to as usize == from {
                    ("self-dependency", "depends on itself", "remove it: a service may always call itself")
                } else {
                    ("duplicate-dependency", "is listed twice", "remove the duplicate")
                };
                diags.push(
                    Diagnostic::warning(code, dep.origin(service), format!("`{}` {message}", dep.target)).help(help),
                );
            } else {
                // Positions in `dependsOn` are 32 bits in the model too (`Dependency::index`).
                g.graph.add_edge(NodeIndex::new(from), NodeIndex::new(to as usize), k as u32);
            }
        }
    }
    for scc in cycles(&g.starts, &g.targets) {
        let mut members: Vec<&Node> = scc.iter().map(|&i| &g.graph[NodeIndex::new(i as usize)]).collect();
        members.sort_by(|a, b| a.name.cmp(&b.name));
        let list: Vec<String> = members.iter().map(|n| format!("`{}`", n.name)).collect();
        let first = members[0];
        let mut d = Diagnostic::warning("dependency-cycle", first.origin(inv).clone().key(), format!("dependency cycle between {}", list.join(", ")))
            .help("cycles are legal in a mesh, but make startup order and failure isolation harder; check that each call is needed");
        for n in &members[1..] {
            d = d.related(n.origin(inv).clone().key(), format!("`{}` is part of the cycle", n.name));
        }
        diags.push(d);
    }
    g
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The components of two or more nodes, each sorted, in a sorted list.
    fn normalised(mut sccs: Vec<Vec<u32>>) -> Vec<Vec<u32>> {
        sccs.retain(|c| c.len() > 1);
        sccs.iter_mut().for_each(|c| c.sort_unstable());
        sccs.sort();
        sccs
    }

    #[test]
    fn cycles_are_the_strongly_connected_components_petgraph_finds() {
        // Pseudo-random graphs (a fixed LCG): services with up to six targets each, among
        // them externals (nodes past the services), unknown names, self-dependencies and
        // repeats; sparse ones are mostly acyclic, dense ones one large component.
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut random = |n: u64| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % n
        };
        let mut components = 0;
        for round in 0..200 {
            let services = 1 + random(60) as u32;
            let externals = random(5) as u32;
            let (mut starts, mut targets) = (vec![0u32], Vec::new());
            let mut g: DiGraph<(), ()> = DiGraph::new();
            for _ in 0..services + externals {
                g.add_node(());
            }
            for v in 0..services {
                for _ in 0..random(if round % 2 == 0 { 3 } else { 7 }) {
                    let t = match random(10) {
                        0 => NONE,
                        1 => v,
                        _ => random(u64::from(services + externals)) as u32,
                    };
                    targets.push(t);
                    if t != NONE {
                        g.add_edge(NodeIndex::new(v as usize), NodeIndex::new(t as usize), ());
                    }
                }
                starts.push(targets.len() as u32);
            }
            let expected: Vec<Vec<u32>> = petgraph::algo::tarjan_scc(&g)
                .into_iter()
                .map(|c| c.into_iter().map(|i| i.index() as u32).collect())
                .collect();
            let expected = normalised(expected);
            components += expected.len();
            assert_eq!(normalised(cycles(&starts, &targets)), expected, "round {round}");
        }
        // The rounds did find cycles to compare.
        assert!(components > 100, "{components} components");
        assert!(cycles(&[0], &[]).is_empty());
    }
}

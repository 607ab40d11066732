//! Finds the line and column of a YAML path in a source file.
//!
//! Values carry no positions (they are shared by every stage, and most of them are never
//! pointed at), so this locator walks the file's parser events once (granit-parser's, which
//! carry spans) and indexes every node by its YAML path. It runs only when a diagnostic is
//! printed, so clean builds never pay for it.

use std::collections::HashMap;

use granit_parser::{Event, Parser, ScalarStyle, Span, StructureStyle};

use crate::diag::{Part, join_path};

/// A 1-based line and column plus the width of the node's first line, for carets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub col: usize,
    /// How many characters to underline.
    pub width: usize,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    key: Option<Position>,
    value: Position,
}

/// An index from (document, YAML path) to source positions for one file.
#[derive(Debug, Default)]
pub struct Locator {
    entries: HashMap<(usize, String), Entry>,
}

enum Frame {
    Map { path: String, key: Option<(String, Position)> },
    Seq { path: String, index: usize },
}

#[derive(Default)]
struct Walker {
    entries: HashMap<(usize, String), Entry>,
    stack: Vec<Frame>,
    doc: usize,
    started: bool,
    /// A block collection without a key (a list item, the root) whose position is that of
    /// its first child, where its content starts.
    pending: Option<String>,
}

fn position(span: &Span, width: usize) -> Position {
    let m = super::full::mark(span);
    Position { line: m.line, col: m.column, width: width.max(1) }
}

impl Walker {
    /// Gives a pending block collection the position of its first child.
    fn settle(&mut self, pos: Position) {
        if let Some(path) = self.pending.take()
            && let Some(e) = self.entries.get_mut(&(self.doc, path))
        {
            e.value = pos;
        }
    }

    /// The path of the node that starts now, and the key position if it is a mapping value.
    /// Returns None when the node is a mapping key.
    fn place(&mut self) -> Option<(String, Option<Position>)> {
        match self.stack.last_mut() {
            None => Some((String::new(), None)),
            Some(Frame::Map { path, key }) => {
                let (k, pos) = key.take()?;
                Some((join_path(path, &k), Some(pos)))
            }
            Some(Frame::Seq { path, index }) => {
                let p = join_path(path, &format!("[{index}]"));
                *index += 1;
                Some((p, None))
            }
        }
    }

    fn record(&mut self, path: String, key: Option<Position>, value: Position) {
        self.entries.entry((self.doc, path)).or_insert(Entry { key, value });
    }

    fn on_event(&mut self, ev: Event<'_>, span: &Span) {
        if matches!(ev, Event::Scalar(..) | Event::Alias(_) | Event::MappingStart(..) | Event::SequenceStart(..)) {
            self.settle(position(span, 1));
        }
        match ev {
            Event::DocumentStart(_) => {
                if self.started {
                    self.doc += 1;
                }
                self.started = true;
                self.stack.clear();
            }
            Event::Scalar(value, style, _, _) => {
                let width = match style {
                    ScalarStyle::Plain => value.chars().count(),
                    ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => value.chars().count() + 2,
                    _ => 1,
                };
                let pos = position(span, width);
                match self.place() {
                    Some((path, key)) => self.record(path, key, pos),
                    None => {
                        if let Some(Frame::Map { key, .. }) = self.stack.last_mut() {
                            *key = Some((value.into_owned(), pos));
                        }
                    }
                }
            }
            Event::Alias(_) => {
                if let Some((path, key)) = self.place() {
                    self.record(path, key, position(span, 1));
                } else if let Some(Frame::Map { key, .. }) = self.stack.last_mut() {
                    *key = Some(("*".into(), position(span, 1)));
                }
            }
            Event::MappingStart(style, ..) | Event::SequenceStart(style, ..) => {
                let is_map = matches!(ev, Event::MappingStart(..));
                // A collection used as a mapping key is rare; index it under a placeholder.
                let (path, key) = match self.place() {
                    Some(p) => p,
                    None => {
                        if let Some(Frame::Map { key, .. }) = self.stack.last_mut() {
                            *key = Some(("?".into(), position(span, 1)));
                        }
                        ("?".into(), None)
                    }
                };
                let value = match (style, key) {
                    (StructureStyle::Flow, _) => position(span, 1),
                    // A block collection under a key: point at the key (`tls:`).
                    (StructureStyle::Block, Some(k)) => k,
                    (StructureStyle::Block, None) => {
                        self.pending = Some(path.clone());
                        position(span, 1)
                    }
                };
                self.record(path.clone(), key, value);
                self.stack.push(if is_map { Frame::Map { path, key: None } } else { Frame::Seq { path, index: 0 } });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

impl Locator {
    /// Indexes `text`. A file that does not parse is indexed up to the error.
    pub fn new(text: &str) -> Locator {
        let mut walker = Walker::default();
        // Stops at an error: the reader has already reported it with its position.
        for (ev, span) in Parser::new_from_str(text).map_while(Result::ok) {
            walker.on_event(ev, &span);
        }
        Locator { entries: walker.entries }
    }

    /// The position of `path` in document `doc`. When the exact path is absent (a missing
    /// field), the closest existing ancestor is returned.
    pub fn find(&self, doc: usize, path: &str, part: Part) -> Option<Position> {
        let mut p = path.to_string();
        let mut exact = true;
        loop {
            if let Some(e) = self.entries.get(&(doc, p.clone())) {
                return Some(match (part, e.key, exact) {
                    (Part::Key, Some(k), true) => k,
                    (_, Some(k), false) => k,
                    _ => e.value,
                });
            }
            if p.is_empty() {
                return None;
            }
            exact = false;
            p = parent_path(&p);
        }
    }
}

/// The YAML path of the parent node (`a.b[2]` → `a.b`, `a.b` → `a`, `a` → ``).
pub fn parent_path(path: &str) -> String {
    match path.rfind(['.', '[']) {
        Some(i) => path[..i].to_string(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = "services:\n  catalog:\n    host: catalog.shop\n    vms:\n      - address: 10.0.0.1\n      - {address: \"10.0.0.2\", labels: {version: v2}}\n---\nexternals:\n  pay: {hosts: [a.com]}\n";

    #[test]
    fn finds_values_keys_and_ancestors() {
        let l = Locator::new(SRC);
        let p = l.find(0, "services.catalog.host", Part::Value).unwrap();
        assert_eq!((p.line, p.col, p.width), (3, 11, 12));
        let k = l.find(0, "services.catalog.host", Part::Key).unwrap();
        assert_eq!((k.line, k.col), (3, 5));
        let v = l.find(0, "services.catalog.vms[1].address", Part::Value).unwrap();
        assert_eq!((v.line, v.col, v.width), (6, 19, 10));
        let lab = l.find(0, "services.catalog.vms[1].labels.version", Part::Value).unwrap();
        assert_eq!((lab.line, lab.col), (6, 49));
        // A missing field points at the key of the closest ancestor.
        let m = l.find(0, "services.catalog.ports", Part::Value).unwrap();
        assert_eq!((m.line, m.col), (2, 3));
        // Block collections: under a key, the key; as a list item, its first child.
        let vms = l.find(0, "services.catalog.vms", Part::Value).unwrap();
        assert_eq!((vms.line, vms.col), (4, 5));
        let vm = l.find(0, "services.catalog.vms[0]", Part::Value).unwrap();
        assert_eq!((vm.line, vm.col), (5, 9));
        let flow = l.find(0, "services.catalog.vms[1]", Part::Value).unwrap();
        assert_eq!((flow.line, flow.col), (6, 9));
        assert_eq!(l.find(0, "", Part::Value).map(|p| (p.line, p.col)), Some((1, 1)));
        let h = l.find(1, "externals.pay.hosts[0]", Part::Value).unwrap();
        assert_eq!((h.line, h.col), (9, 17));
    }

    #[test]
    fn flow_collections_on_one_line_are_told_from_block_ones() {
        let l = Locator::new("a: {é: [1, {c: ü}], d: {e: 1}}\nb:\n  - {x: 1}\n");
        let p = |path: &str| l.find(0, path, Part::Value).map(|p| (p.line, p.col));
        assert_eq!(p("a"), Some((1, 4)));
        assert_eq!(p("a.é"), Some((1, 8)));
        assert_eq!(p("a.é[1]"), Some((1, 12)));
        assert_eq!(p("a.d"), Some((1, 24)));
        assert_eq!(p("b[0]"), Some((3, 5)));
    }

    #[test]
    fn deep_or_broken_input_does_not_panic() {
        let deep = "[".repeat(100_000);
        let _ = Locator::new(&deep).find(0, "x", Part::Value);
        let _ = Locator::new("a: [b\nc: d").find(0, "c", Part::Value);
    }
}

//! The complete reader: any YAML text, through granit-parser's events (the pure-Rust parser
//! under serde-saphyr), built into values here rather than by a serde deserializer, so that
//! every rule about what meshgen accepts is written in one place:
//!
//! - plain scalars resolve by [`resolve`], the same function as the fast reader's;
//! - mapping keys must be strings, and appear once per mapping;
//! - only the core schema's tags (`!!str`, `!!int`, ...) are understood;
//! - nesting stops at [`MAX_DEPTH`] and alias expansion at a budget, each with its own
//!   [`ErrorKind`], so hostile input fails fast and says why.
//!
//! The builder keeps its own stack of open collections: nothing recurses, however deep the
//! input.

use std::collections::HashMap;

use granit_parser::{Event, Parser, ScalarStyle, ScanError, Span, Tag};
use serde_json::{Map, Value};

use super::error::{Error, ErrorKind, Mark};
use super::scalar::{Unfit, resolve};

/// Deepest nesting of collections accepted (serde_yaml's recursion limit was the same).
pub const MAX_DEPTH: usize = 128;

/// Aliases may copy at least this many values into a document...
const ALIAS_MIN: usize = 100_000;
/// ...or this many times the values the document itself writes, if that is more: a linear
/// bound on memory, where an alias bomb of a few hundred bytes would otherwise expand to
/// billions of values.
const ALIAS_FACTOR: usize = 10;

/// Where a span starts.
pub(super) fn mark(span: &Span) -> Mark {
    Mark { line: span.start.line(), column: span.start.col() + 1 }
}

/// A parser error, with its position. The parser's context ("while parsing a flow mapping,
/// ...") is left out: the position says where, and the messages stay those of the reader
/// before (libyaml's, which granit-parser's words follow).
pub(super) fn scan_error(e: &ScanError, doc: usize) -> Error {
    let m = e.marker();
    let info = e.info();
    let problem = info.strip_prefix("while ").and_then(|r| r.split_once(", ")).map_or(info, |(_, p)| p);
    Error::new(ErrorKind::Syntax(problem.to_string()), Mark { line: m.line(), column: m.col() + 1 }, doc)
}

/// A syntax error on a line indented with a tab is about the tab (YAML indents with spaces
/// only), whatever the parser's wording: the error, pointing at the first tab. The parser
/// may stop at the end of the line before the tab, so that line counts too.
fn tab_indent(text: &str, e: &Error) -> Error {
    let Some(at) = e.at.filter(|_| matches!(e.kind, ErrorKind::Syntax(_))) else { return e.clone() };
    let tab = text.lines().enumerate().skip(at.line.saturating_sub(1)).take(2).find_map(|(i, line)| {
        let indent = &line[..line.len() - line.trim_start_matches([' ', '\t']).len()];
        indent.find('\t').map(|col| Mark { line: i + 1, column: col + 1 })
    });
    match tab {
        Some(mark) => Error::new(ErrorKind::TabIndent, mark, e.doc),
        None => e.clone(),
    }
}

/// A collection being read.
enum Open {
    Seq(Vec<Value>),
    /// A mapping, and the key whose value comes next.
    Map(Map<String, Value>, Option<String>),
}

struct Frame {
    open: Open,
    /// Its anchor (0 for none).
    anchor: usize,
    /// How many values it holds, itself included (for the alias budget).
    size: usize,
}

/// Reads documents from events.
#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    root: Option<Value>,
    /// Anchored values of this document, and their sizes.
    anchors: HashMap<usize, (Value, usize)>,
    /// Values written in this document (node events), and values copied by aliases.
    written: usize,
    copied: usize,
    doc: usize,
}

/// Every document of `text`, up to the first error.
pub(super) fn parse(text: &str) -> (Vec<Value>, Option<Error>) {
    let mut docs = Vec::new();
    let mut b = Builder::default();
    for next in Parser::new_from_str(text) {
        let step = match next {
            Ok((event, span)) => b.event(event, &span, &mut docs),
            Err(e) => Err(tab_indent(text, &scan_error(&e, b.doc))),
        };
        if let Err(e) = step {
            return (docs, Some(e));
        }
    }
    // A text without any document still reads as one null document.
    if docs.is_empty() {
        docs.push(Value::Null);
    }
    (docs, None)
}

impl Builder {
    fn event(&mut self, event: Event<'_>, span: &Span, docs: &mut Vec<Value>) -> Result<(), Error> {
        let at = || mark(span);
        match event {
            Event::DocumentStart(_) => {
                self.stack.clear();
                self.root = None;
                self.anchors.clear();
                (self.written, self.copied) = (0, 0);
            }
            Event::DocumentEnd => {
                docs.push(self.root.take().unwrap_or(Value::Null));
                self.doc += 1;
            }
            Event::Scalar(text, style, anchor, tag) => {
                self.written += 1;
                if self.wants_key() {
                    let key = key(&text, style, tag.as_deref()).map_err(|k| self.error(k, at()))?;
                    return self.set_key(key, at());
                }
                let value = scalar(&text, style, tag.as_deref()).map_err(|k| self.error(k, at()))?;
                self.complete(value, 1, anchor);
            }
            Event::SequenceStart(_, anchor, ref tag) | Event::MappingStart(_, anchor, ref tag) => {
                self.written += 1;
                let is_map = matches!(event, Event::MappingStart(..));
                if let Some(t) = tag.as_deref()
                    && !t.is_yaml_core_schema_tag(if is_map { "map" } else { "seq" })
                {
                    return Err(self.error(ErrorKind::Tag(shown(t)), at()));
                }
                if self.wants_key() {
                    let written = if is_map { "{…}" } else { "[…]" };
                    return Err(self.error(ErrorKind::KeyNotString(written.into()), at()));
                }
                if self.stack.len() >= MAX_DEPTH {
                    return Err(self.error(ErrorKind::TooDeep(MAX_DEPTH), at()));
                }
                let open = if is_map { Open::Map(Map::new(), None) } else { Open::Seq(Vec::new()) };
                self.stack.push(Frame { open, anchor, size: 1 });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some(frame) = self.stack.pop() {
                    let value = match frame.open {
                        Open::Seq(items) => Value::Array(items),
                        Open::Map(map, _) => Value::Object(map),
                    };
                    self.complete(value, frame.size, frame.anchor);
                }
            }
            Event::Alias(id) => {
                self.written += 1;
                let Some((value, size)) = self.anchors.get(&id) else {
                    return Err(self.error(ErrorKind::Syntax("unknown anchor".into()), at()));
                };
                let (value, size) = (value.clone(), *size);
                self.copied += size;
                let budget = ALIAS_MIN.max(ALIAS_FACTOR * self.written);
                if self.copied > budget {
                    return Err(self.error(ErrorKind::AliasesTooLarge(budget), at()));
                }
                if self.wants_key() {
                    return match value {
                        Value::String(k) => self.set_key(k, at()),
                        other => Err(self.error(ErrorKind::KeyNotString(super::write::inline(&other)), at())),
                    };
                }
                self.complete(value, size, 0);
            }
            Event::StreamStart | Event::StreamEnd | Event::Comment(..) | Event::Nothing => {}
        }
        Ok(())
    }

    fn error(&self, kind: ErrorKind, at: Mark) -> Error {
        Error::new(kind, at, self.doc)
    }

    /// Whether the next node is a mapping key.
    fn wants_key(&self) -> bool {
        matches!(self.stack.last(), Some(Frame { open: Open::Map(_, None), .. }))
    }

    fn set_key(&mut self, key: String, at: Mark) -> Result<(), Error> {
        if let Some(Frame { open: Open::Map(map, pending), .. }) = self.stack.last_mut() {
            if map.contains_key(&key) {
                return Err(Error::new(ErrorKind::DuplicateKey(key), at, self.doc));
            }
            *pending = Some(key);
        }
        Ok(())
    }

    /// A finished value of `size` values: into its anchor, then its parent (or the root).
    fn complete(&mut self, value: Value, size: usize, anchor: usize) {
        if anchor != 0 {
            self.anchors.insert(anchor, (value.clone(), size));
        }
        match self.stack.last_mut() {
            None => self.root = Some(value),
            Some(parent) => {
                parent.size += size;
                match &mut parent.open {
                    Open::Seq(items) => items.push(value),
                    Open::Map(map, pending) => {
                        if let Some(k) = pending.take() {
                            map.insert(k, value);
                        }
                    }
                }
            }
        }
    }
}

/// A tag as written: `!!str` for the core schema's, `!name` for local ones.
fn shown(tag: &Tag) -> String {
    if tag.is_yaml_core_schema() { format!("!!{}", tag.suffix) } else { tag.to_string() }
}

/// The value of a scalar, by its style and tag.
fn scalar(text: &str, style: ScalarStyle, tag: Option<&Tag>) -> Result<Value, ErrorKind> {
    let plain = style == ScalarStyle::Plain;
    let Some(tag) = tag else {
        return if plain { unfit(text, resolve(text)) } else { Ok(Value::String(text.to_owned())) };
    };
    let known = ["str", "null", "bool", "int", "float"];
    if !tag.is_yaml_core_schema() || !known.contains(&tag.suffix.as_str()) {
        return Err(ErrorKind::Tag(shown(tag)));
    }
    if tag.suffix == "str" {
        return Ok(Value::String(text.to_owned()));
    }
    // `!!int "8080"` and the like: the text read as a plain scalar, which must then be what
    // the tag says.
    let value = unfit(text, resolve(text))?;
    let fits = match tag.suffix.as_str() {
        "null" => value.is_null(),
        "bool" => value.is_boolean(),
        "int" => value.is_i64() || value.is_u64(),
        _ => value.is_number(),
    };
    if fits { Ok(value) } else { Err(ErrorKind::Syntax(format!("`{text}` is not a valid `{}`", shown(tag)))) }
}

fn unfit(text: &str, value: Result<Value, Unfit>) -> Result<Value, ErrorKind> {
    value.map_err(|u| match u {
        Unfit::TooBig => ErrorKind::IntegerTooBig(text.to_owned()),
        Unfit::NotFinite => ErrorKind::NotFinite(text.to_owned()),
    })
}

/// A mapping key: a scalar that reads as a string.
fn key(text: &str, style: ScalarStyle, tag: Option<&Tag>) -> Result<String, ErrorKind> {
    match scalar(text, style, tag)? {
        Value::String(s) => Ok(s),
        // An empty key (`: x`) reads as null; name it so.
        _ if text.is_empty() => Err(ErrorKind::KeyNotString("null".into())),
        _ => Err(ErrorKind::KeyNotString(text.to_owned())),
    }
}

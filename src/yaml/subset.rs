//! A fast reader for the plain subset of YAML that inventories (and meshgen's own output) are
//! written in: block mappings and sequences, single-line flow collections, single-line plain and
//! quoted scalars, comments and `---` separators.
//!
//! It exists for speed: a complete YAML parser was a large share of a big build, and this
//! reader builds the same values several times faster (numbers in docs/decisions.md, "YAML
//! reader"). It never decides anything the complete reader
//! ([`super::full`]) would decide differently: at the first construct outside the subset
//! (anchors, tags, block scalars, multi-line scalars or flow collections, tabs, unusual
//! escapes, keys that are not strings, duplicate keys, odd indentation, numbers JSON cannot
//! hold, any error at all) it gives up and the caller reads the whole text again with the
//! complete reader, which also produces every error message. Where it answers, it answers the
//! same values and the same number of documents (plain scalars go through the same
//! [`resolve`]); the differential tests in `tests/yaml_subset.rs` hold it to that.

use serde_json::{Map, Value};

use super::scalar::resolve;

/// Deepest nesting read here; deeper input is left to the complete reader (and its limit).
const MAX_DEPTH: usize = 64;
/// YAML limits implicit keys to 1024 characters; longer keys are left to the complete reader.
const MAX_KEY: usize = 1000;

/// The documents of `text`, or `None` when the text is outside the subset (or not valid YAML).
pub(super) fn parse(text: &str) -> Option<Vec<Value>> {
    if !plain_characters(text) {
        return None;
    }
    let mut r = Reader { s: text.as_bytes(), text, pos: 0, line_start: 0, depth: 0 };
    r.skip_blank_lines();
    let mut docs = Vec::new();
    loop {
        let explicit = r.at_marker(b"---");
        if explicit {
            r.pos += 3;
            r.end_of_line()?;
            r.next_line();
        }
        if r.at_marker(b"...") {
            return None;
        }
        match r.indent() {
            Some(_) => {
                docs.push(r.block(-1)?);
                if r.indent().is_some() {
                    return None;
                }
            }
            None if explicit => docs.push(Value::Null),
            None => {}
        }
        if r.pos >= r.s.len() {
            // A text without any document still reads as one null document.
            if docs.is_empty() {
                docs.push(Value::Null);
            }
            return Some(docs);
        }
    }
}

/// Whether every character is one this reader handles the way the complete reader does: printable, no
/// tabs, no carriage returns, none of the characters YAML 1.1 counts as line breaks (NEL,
/// U+2028, U+2029) and no byte-order mark.
fn plain_characters(text: &str) -> bool {
    if text.bytes().all(|b| (b' '..0x7f).contains(&b) || b == b'\n') {
        return true;
    }
    text.chars().all(|c| {
        matches!(c, ' '..='~' | '\n' | '\u{a0}'..='\u{2027}' | '\u{202a}'..='\u{d7ff}' | '\u{e000}'..='\u{fefe}')
            || matches!(c, '\u{ff00}'..='\u{fffd}' | '\u{10000}'..)
    })
}

/// Give up: the caller falls back to the complete reader.
type Read<T> = Option<T>;

struct Reader<'a> {
    s: &'a [u8],
    text: &'a str,
    pos: usize,
    line_start: usize,
    depth: usize,
}

impl Reader<'_> {
    fn peek(&self) -> u8 {
        self.byte(0)
    }

    /// The byte `k` ahead, or 0 at the end.
    fn byte(&self, k: usize) -> u8 {
        self.s.get(self.pos + k).copied().unwrap_or(0)
    }

    /// Whether the byte `k` ahead is a space, a line break or the end of the text.
    fn blank_at(&self, k: usize) -> bool {
        matches!(self.byte(k), b' ' | b'\n' | 0)
    }

    fn col(&self) -> usize {
        self.pos - self.line_start
    }

    fn skip_spaces(&mut self) {
        while self.peek() == b' ' {
            self.pos += 1;
        }
    }

    /// Moves to the line break that ends this line (or the end of the text): past a comment.
    fn skip_to_line_end(&mut self) {
        self.pos = self.s[self.pos..].iter().position(|&b| b == b'\n').map_or(self.s.len(), |i| self.pos + i);
    }

    /// A document marker (`---` or `...`) starting this line.
    fn at_marker(&self, marker: &[u8]) -> bool {
        self.col() == 0 && self.s[self.pos..].starts_with(marker) && self.blank_at(3)
    }

    /// Column of the content at the position (which [`Reader::next_line`] left at the first
    /// character of a line's content), or `None` at the end of the text or a document marker.
    fn indent(&self) -> Option<usize> {
        if self.pos >= self.s.len() || self.at_marker(b"---") || self.at_marker(b"...") {
            return None;
        }
        Some(self.col())
    }

    /// Accepts the rest of the line: spaces, then a comment or nothing. Leaves the position
    /// at the line break (or the end).
    fn end_of_line(&mut self) -> Read<()> {
        self.skip_spaces();
        let spaced = self.pos == self.line_start || self.s[self.pos - 1] == b' ';
        match self.peek() {
            b'\n' | 0 => Some(()),
            b'#' if spaced => {
                self.skip_to_line_end();
                Some(())
            }
            _ => None,
        }
    }

    /// From a line break, moves to the first content of the next line that has any.
    fn next_line(&mut self) {
        if self.peek() == b'\n' {
            self.pos += 1;
            self.line_start = self.pos;
        }
        self.skip_blank_lines();
    }

    /// From the start of a line, skips lines that are empty, blank or only a comment, and the
    /// indentation of the first other one.
    fn skip_blank_lines(&mut self) {
        loop {
            self.skip_spaces();
            match self.peek() {
                b'\n' => {}
                b'#' => self.skip_to_line_end(),
                _ => return,
            }
            if self.pos >= self.s.len() {
                return;
            }
            self.pos += 1;
            self.line_start = self.pos;
        }
    }

    fn enter(&mut self) -> Read<()> {
        self.depth += 1;
        (self.depth <= MAX_DEPTH).then_some(())
    }

    /// A block node starting at the position, more indented than `parent`. Returns with the
    /// position at the next line's content.
    fn block(&mut self, parent: isize) -> Read<Value> {
        self.enter()?;
        let c = self.col();
        let value = match self.peek() {
            b'-' if self.blank_at(1) => self.block_sequence(c)?,
            b'[' | b'{' => {
                let v = self.flow()?;
                self.scalar_line_end(parent)?;
                v
            }
            _ => {
                let start = self.pos;
                let scalar = self.scalar(true)?;
                if self.peek() == b':' && self.blank_at(1) {
                    if self.pos - start > MAX_KEY {
                        return None;
                    }
                    self.block_mapping(c, key_of(scalar)?)?
                } else {
                    self.scalar_line_end(parent)?;
                    scalar
                }
            }
        };
        self.depth -= 1;
        Some(value)
    }

    /// After a scalar or flow node that ends its line: the next content must not be more
    /// indented than the node's parent (it would continue a multi-line scalar, or be an error).
    fn scalar_line_end(&mut self, parent: isize) -> Read<()> {
        self.end_of_line()?;
        self.next_line();
        match self.indent() {
            Some(i) if i as isize > parent => None,
            _ => Some(()),
        }
    }

    /// A block mapping whose first key (at column `c`) has been read; the position is at its
    /// `:`.
    fn block_mapping(&mut self, c: usize, first: String) -> Read<Value> {
        let mut map = Map::new();
        let mut key = first;
        loop {
            self.pos += 1; // the `:`
            let value = self.mapping_value(c)?;
            if map.insert(key, value).is_some() {
                return None; // a duplicate key: the complete reader's error
            }
            match self.indent() {
                Some(i) if i == c => {
                    if matches!(self.peek(), b'-' | b'[' | b'{') {
                        return None;
                    }
                    let start = self.pos;
                    key = key_of(self.scalar(true)?)?;
                    if !(self.peek() == b':' && self.blank_at(1)) || self.pos - start > MAX_KEY {
                        return None;
                    }
                }
                Some(i) if i > c => return None,
                _ => return Some(Value::Object(map)),
            }
        }
    }

    /// The value after a block mapping key at column `c` (position just past the `:`).
    fn mapping_value(&mut self, c: usize) -> Read<Value> {
        self.skip_spaces();
        if matches!(self.peek(), b'\n' | b'#' | 0) {
            self.end_of_line()?;
            self.next_line();
            return match self.indent() {
                Some(i) if i > c => self.block(c as isize),
                // A sequence may sit at its key's column.
                Some(i) if i == c && self.peek() == b'-' && self.blank_at(1) => {
                    self.enter()?;
                    let v = self.block_sequence(c);
                    self.depth -= 1;
                    v
                }
                _ => Some(Value::Null),
            };
        }
        let value = match self.peek() {
            b'[' | b'{' => self.flow()?,
            _ => {
                let v = self.scalar(true)?;
                if self.peek() == b':' {
                    return None; // `a: b: c`
                }
                v
            }
        };
        self.scalar_line_end(c as isize)?;
        Some(value)
    }

    /// A block sequence whose first `-` is at the position, column `c`.
    fn block_sequence(&mut self, c: usize) -> Read<Value> {
        let mut items = Vec::new();
        loop {
            self.pos += 1; // the `-`
            self.skip_spaces();
            if matches!(self.peek(), b'\n' | b'#' | 0) {
                self.end_of_line()?;
                self.next_line();
                match self.indent() {
                    Some(i) if i > c => items.push(self.block(c as isize)?),
                    _ => items.push(Value::Null),
                }
            } else {
                items.push(self.block(c as isize)?);
            }
            match self.indent() {
                Some(i) if i == c && self.peek() == b'-' && self.blank_at(1) => {}
                Some(i) if i > c => return None,
                _ => return Some(Value::Array(items)),
            }
        }
    }

    /// A single-line scalar: quoted, or plain (`block` context: may hold `,[]{}`; stops at
    /// `: `, ` #` and the end of the line).
    fn scalar(&mut self, block: bool) -> Read<Value> {
        match self.peek() {
            b'\'' | b'"' => self.quoted().map(Value::String),
            _ => self.plain(block),
        }
    }

    fn plain(&mut self, block: bool) -> Read<Value> {
        let first = self.peek();
        if matches!(
            first,
            b'-' | b'?'
                | b':'
                | b','
                | b'['
                | b']'
                | b'{'
                | b'}'
                | b'#'
                | b'&'
                | b'*'
                | b'!'
                | b'|'
                | b'>'
                | b'\''
                | b'"'
                | b'%'
                | b'@'
                | b'`'
                | b' '
                | b'\n'
                | 0
        ) {
            return None;
        }
        let start = self.pos;
        let mut end = start;
        while self.pos < self.s.len() {
            let b = self.peek();
            match b {
                b'\n' => break,
                b':' if self.blank_at(1) => break,
                b':' if !block => return None,
                b'#' if self.s[self.pos - 1] == b' ' => break,
                b',' | b'[' | b']' | b'{' | b'}' if !block => break,
                b' ' => {}
                _ => end = self.pos + 1,
            }
            self.pos += 1;
        }
        // Trailing spaces are not part of the scalar; leave them to the caller.
        self.pos = end;
        resolve(&self.text[start..end]).ok()
    }

    /// A quoted scalar on one line: `'` (where `''` is a quote) or `"` (with the common
    /// escapes; rarer ones are left to the complete reader).
    fn quoted(&mut self) -> Read<String> {
        let quote = self.peek();
        self.pos += 1;
        let mut out = String::new();
        let mut run = self.pos;
        loop {
            let b = self.peek();
            let unescaped = match b {
                b'\n' | 0 => return None,
                b'\'' if quote == b'\'' && self.byte(1) == b'\'' => '\'',
                b'\\' if quote == b'"' => match self.byte(1) {
                    b'\\' => '\\',
                    b'"' => '"',
                    b'/' => '/',
                    b'n' => '\n',
                    b't' => '\t',
                    b'r' => '\r',
                    b'0' => '\0',
                    _ => return None,
                },
                _ if b == quote => {
                    out.push_str(&self.text[run..self.pos]);
                    self.pos += 1;
                    return Some(out);
                }
                _ => {
                    self.pos += 1;
                    continue;
                }
            };
            out.push_str(&self.text[run..self.pos]);
            out.push(unescaped);
            self.pos += 2;
            run = self.pos;
        }
    }

    /// A flow collection on one line (`[...]` or `{...}`), at its opening bracket.
    fn flow(&mut self) -> Read<Value> {
        self.enter()?;
        let open = self.peek();
        self.pos += 1;
        self.skip_spaces();
        let close = if open == b'[' { b']' } else { b'}' };
        let value = if self.peek() == close {
            self.pos += 1;
            if open == b'[' { Value::Array(Vec::new()) } else { Value::Object(Map::new()) }
        } else if open == b'[' {
            let mut items = Vec::new();
            loop {
                items.push(self.flow_node()?);
                if self.flow_separator(close)? {
                    break Value::Array(items);
                }
            }
        } else {
            let mut map = Map::new();
            loop {
                if matches!(self.peek(), b'[' | b'{') {
                    return None;
                }
                let key = key_of(self.scalar(false)?)?;
                if !(self.peek() == b':' && self.byte(1) == b' ') {
                    return None;
                }
                self.pos += 1;
                self.skip_spaces();
                let value = self.flow_node()?;
                if map.insert(key, value).is_some() {
                    return None;
                }
                if self.flow_separator(close)? {
                    break Value::Object(map);
                }
            }
        };
        self.depth -= 1;
        Some(value)
    }

    fn flow_node(&mut self) -> Read<Value> {
        match self.peek() {
            b'[' | b'{' => self.flow(),
            _ => self.scalar(false),
        }
    }

    /// After a flow item: `, ` (another follows: false) or the closing bracket (true).
    fn flow_separator(&mut self, close: u8) -> Read<bool> {
        self.skip_spaces();
        match self.peek() {
            b',' => {
                self.pos += 1;
                self.skip_spaces();
                // A trailing comma, or a line break inside the collection: left to the
                // complete reader.
                (!matches!(self.peek(), b']' | b'}' | b',' | b'\n' | b'#' | 0)).then_some(false)
            }
            b if b == close => {
                self.pos += 1;
                Some(true)
            }
            _ => None,
        }
    }
}

/// A mapping key: a string, or `None` (numbers, booleans and nulls as keys are the complete
/// reader's error).
fn key_of(v: Value) -> Read<String> {
    match v {
        Value::String(s) => Some(s),
        _ => None,
    }
}

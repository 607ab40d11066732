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
//! [`resolve_scalar`]); the differential tests in `tests/yaml_subset.rs` hold it to that.
//!
//! It is a serde [`Deserializer`] over the text, so a document can be read straight into a
//! typed value ([`documents`]) without a [`Value`] tree in between, its strings borrowed from
//! the text until the typed value keeps them; [`parse`] reads [`Value`]s through the same
//! code. Towards the type it behaves as deserialising the document's [`Value`] would, or
//! gives up: a caller that gets nothing reads the values and deserialises those, whose errors
//! say what is wrong. So a type's own error (an unknown field, a wrong shape) is a give-up
//! too, as is any request that a [`Value`] would answer differently from how a type
//! expects (a list where a struct is wanted, a mapping as an enum).

use std::borrow::Cow;
use std::fmt;

use serde::de::value::CowStrDeserializer;
use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::scalar::{Scalar, resolve_scalar};

/// Deepest nesting read here; deeper input is left to the complete reader (and its limit).
const MAX_DEPTH: usize = 64;
/// YAML limits implicit keys to 1024 characters; longer keys are left to the complete reader.
const MAX_KEY: usize = 1000;
/// The bytes where a plain scalar may end, or that end it in some contexts (and the end of
/// the text, 0): every other byte is part of the scalar.
static STOPS: [bool; 256] = {
    let mut stops = [false; 256];
    let mut i = 0;
    let bytes = b"\n :#,[]{}\0";
    while i < bytes.len() {
        stops[bytes[i] as usize] = true;
        i += 1;
    }
    stops
};
/// Keys of one mapping are compared one by one for duplicates up to this many, then hashed:
/// a hostile mapping of 100,000 keys would otherwise take quadratic time.
const FEW_KEYS: usize = 32;

/// The documents of `text`, or `None` when the text is outside the subset (or not valid YAML).
pub(super) fn parse(text: &str) -> Option<Vec<Value>> {
    documents(text)
}

/// The documents of `text`, each deserialised as a `T`; `None` when the text is outside the
/// subset, or a document is not a `T` (see the module's documentation).
pub(super) fn documents<'a, T: Deserialize<'a>>(text: &'a str) -> Option<Vec<T>> {
    if !plain_characters(text) {
        return None;
    }
    let mut r =
        Reader { s: text.as_bytes(), text, pos: 0, line_start: 0, depth: 0, keys: Vec::new(), untracked_value: false };
    r.skip_blank_lines();
    let mut docs = Vec::new();
    loop {
        let explicit = r.at_marker(b"---");
        if explicit {
            r.pos += 3;
            r.end_of_line().ok()?;
            r.next_line();
        }
        if r.at_marker(b"...") {
            return None;
        }
        match r.indent() {
            Some(_) => {
                docs.push(T::deserialize(Node { r: &mut r, at: At::Block(-1) }).ok()?);
                if r.indent().is_some() {
                    return None;
                }
            }
            None if explicit => docs.push(T::deserialize(Node { r: &mut r, at: At::Null }).ok()?),
            None => {}
        }
        if r.pos >= r.s.len() {
            // A text without any document still reads as one null document.
            if docs.is_empty() {
                docs.push(T::deserialize(Node { r: &mut r, at: At::Null }).ok()?);
            }
            return Some(docs);
        }
    }
}

/// Whether every character is one this reader handles the way the complete reader does: printable, no
/// tabs, no carriage returns, none of the characters YAML 1.1 counts as line breaks (NEL,
/// U+2028, U+2029) and no byte-order mark.
fn plain_characters(text: &str) -> bool {
    // Blocks without an early exit inside, which the compiler turns into vector
    // instructions: it looks at every byte of every inventory.
    let printable = |block: &[u8]| block.iter().fold(true, |ok, &b| ok & (b.wrapping_sub(b' ') < 0x5f || b == b'\n'));
    if text.as_bytes().chunks(64).all(printable) {
        return true;
    }
    text.chars().all(|c| {
        matches!(c, ' '..='~' | '\n' | '\u{a0}'..='\u{2027}' | '\u{202a}'..='\u{d7ff}' | '\u{e000}'..='\u{fefe}')
            || matches!(c, '\u{ff00}'..='\u{fffd}' | '\u{10000}'..)
    })
}

/// Giving up: the text is outside the subset, or not what the type wants. It carries nothing,
/// because whoever gets it reads the text again with the complete path, which says why.
#[derive(Debug)]
pub(super) struct GiveUp;

impl fmt::Display for GiveUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("outside the plain subset of YAML")
    }
}

impl std::error::Error for GiveUp {}

impl de::Error for GiveUp {
    fn custom<T: fmt::Display>(_: T) -> Self {
        GiveUp
    }
}

type Read<T> = Result<T, GiveUp>;

/// `Ok` when `ok`, else a give-up.
fn require(ok: bool) -> Read<()> {
    if ok { Ok(()) } else { Err(GiveUp) }
}

struct Reader<'a> {
    s: &'a [u8],
    text: &'a str,
    pos: usize,
    line_start: usize,
    depth: usize,
    /// The keys of the mappings being read, innermost last, for the duplicate check
    /// ([`Keys`]).
    keys: Vec<Cow<'a, str>>,
    /// Set while the next node is the value of a struct's entry whose key was not recorded
    /// (see [`Keys::tracked`]): the node gives up if the struct ignores it.
    untracked_value: bool,
}

/// Where a node starts, as its context says how to read it.
enum At<'a> {
    /// An explicit empty document, or a text without any.
    Null,
    /// A block node more indented than its parent's column (−1 for a document).
    Block(isize),
    /// After the `:` of a block mapping's key at this column.
    AfterKey(usize),
    /// After the `-` of a block sequence's item at this column.
    AfterDash(usize),
    /// An item of a flow collection, or a value of a flow mapping.
    Flow,
    /// Already begun (see [`Reader::start`]).
    Started(Start<'a>),
}

/// A node once its kind is known.
enum Start<'a> {
    /// A scalar, read to the end of its line when in a block.
    Scalar(Scalar<'a>),
    /// A block sequence whose first `-` (at this column) is at the position.
    BlockSeq(usize),
    /// A block mapping at this column whose first key has been read; the position is at its
    /// `:`.
    BlockMap(usize, Cow<'a, str>),
    /// A flow collection at its opening bracket; in a block, the column of the parent,
    /// which the lines after it must not be indented beyond.
    Flow(Option<isize>),
}

impl<'a> Reader<'a> {
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
            b'\n' | 0 => Ok(()),
            b'#' if spaced => {
                self.skip_to_line_end();
                Ok(())
            }
            _ => Err(GiveUp),
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
        require(self.depth <= MAX_DEPTH)
    }

    /// Reads a node as far as its kind: a scalar whole, a collection to its first key or
    /// item.
    fn start(&mut self, at: At<'a>) -> Read<Start<'a>> {
        match at {
            At::Started(start) => Ok(start),
            At::Null => Ok(Start::Scalar(Scalar::Null)),
            At::Block(parent) => self.block(parent),
            At::AfterKey(c) => self.mapping_value(c),
            At::AfterDash(c) => {
                self.skip_spaces();
                if !matches!(self.peek(), b'\n' | b'#' | 0) {
                    return self.block(c as isize);
                }
                self.end_of_line()?;
                self.next_line();
                match self.indent() {
                    Some(i) if i > c => self.block(c as isize),
                    _ => Ok(Start::Scalar(Scalar::Null)),
                }
            }
            At::Flow => match self.peek() {
                b'[' | b'{' => Ok(Start::Flow(None)),
                _ => Ok(Start::Scalar(self.scalar(false)?)),
            },
        }
    }

    /// A block node starting at the position, more indented than `parent`. A scalar returns
    /// with the position at the next line's content.
    fn block(&mut self, parent: isize) -> Read<Start<'a>> {
        self.enter()?;
        let c = self.col();
        match self.peek() {
            b'-' if self.blank_at(1) => Ok(Start::BlockSeq(c)),
            b'[' | b'{' => Ok(Start::Flow(Some(parent))),
            _ => {
                let start = self.pos;
                let scalar = self.scalar(true)?;
                if self.peek() == b':' && self.blank_at(1) {
                    require(self.pos - start <= MAX_KEY)?;
                    Ok(Start::BlockMap(c, key_of(scalar)?))
                } else {
                    self.scalar_line_end(parent)?;
                    Ok(Start::Scalar(scalar))
                }
            }
        }
    }

    /// After a scalar or flow node that ends its line: the next content must not be more
    /// indented than the node's parent (it would continue a multi-line scalar, or be an error).
    fn scalar_line_end(&mut self, parent: isize) -> Read<()> {
        self.end_of_line()?;
        self.next_line();
        match self.indent() {
            Some(i) if i as isize > parent => Err(GiveUp),
            _ => Ok(()),
        }
    }

    /// The value after a block mapping key at column `c` (position just past the `:`).
    fn mapping_value(&mut self, c: usize) -> Read<Start<'a>> {
        self.skip_spaces();
        if matches!(self.peek(), b'\n' | b'#' | 0) {
            self.end_of_line()?;
            self.next_line();
            return match self.indent() {
                Some(i) if i > c => self.block(c as isize),
                // A sequence may sit at its key's column.
                Some(i) if i == c && self.peek() == b'-' && self.blank_at(1) => {
                    self.enter()?;
                    Ok(Start::BlockSeq(c))
                }
                _ => Ok(Start::Scalar(Scalar::Null)),
            };
        }
        if matches!(self.peek(), b'[' | b'{') {
            return Ok(Start::Flow(Some(c as isize)));
        }
        let v = self.scalar(true)?;
        require(self.peek() != b':')?; // `a: b: c`
        self.scalar_line_end(c as isize)?;
        Ok(Start::Scalar(v))
    }

    /// The next key of a block mapping at column `c`, or `None` where the mapping ends.
    fn block_key(&mut self, c: usize) -> Read<Option<Cow<'a, str>>> {
        match self.indent() {
            Some(i) if i == c => {
                require(!matches!(self.peek(), b'-' | b'[' | b'{'))?;
                let start = self.pos;
                let key = key_of(self.scalar(true)?)?;
                require(self.peek() == b':' && self.blank_at(1) && self.pos - start <= MAX_KEY)?;
                Ok(Some(key))
            }
            Some(i) if i > c => Err(GiveUp),
            _ => Ok(None),
        }
    }

    /// Whether another item of a block sequence at column `c` follows (at its `-`).
    fn block_item(&self, c: usize) -> Read<bool> {
        match self.indent() {
            Some(i) if i == c && self.peek() == b'-' && self.blank_at(1) => Ok(true),
            Some(i) if i > c => Err(GiveUp),
            _ => Ok(false),
        }
    }

    /// A single-line scalar: quoted, or plain (`block` context: may hold `,[]{}`; stops at
    /// `: `, ` #` and the end of the line).
    fn scalar(&mut self, block: bool) -> Read<Scalar<'a>> {
        match self.peek() {
            b'\'' | b'"' => self.quoted().map(Scalar::Str),
            _ => self.plain(block),
        }
    }

    fn plain(&mut self, block: bool) -> Read<Scalar<'a>> {
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
            return Err(GiveUp);
        }
        let start = self.pos;
        let mut end = start;
        loop {
            // Runs of bytes that can only be content are skipped at once.
            let run = self.s[self.pos..].iter().position(|&b| STOPS[usize::from(b)]).unwrap_or(self.s.len() - self.pos);
            if run > 0 {
                self.pos += run;
                end = self.pos;
            }
            match self.peek() {
                b'\n' | 0 => break,
                b':' if self.blank_at(1) => break,
                b':' if !block => return Err(GiveUp),
                b'#' if self.s[self.pos - 1] == b' ' => break,
                b',' | b'[' | b']' | b'{' | b'}' if !block => break,
                b' ' => {}
                _ => end = self.pos + 1,
            }
            self.pos += 1;
        }
        // Trailing spaces are not part of the scalar; leave them to the caller.
        self.pos = end;
        let text: &'a str = self.text;
        resolve_scalar(&text[start..end]).map_err(|_| GiveUp)
    }

    /// A quoted scalar on one line: `'` (where `''` is a quote) or `"` (with the common
    /// escapes; rarer ones are left to the complete reader). Borrowed when nothing is escaped.
    fn quoted(&mut self) -> Read<Cow<'a, str>> {
        let text: &'a str = self.text;
        let quote = self.peek();
        self.pos += 1;
        let mut out: Option<String> = None;
        let mut run = self.pos;
        loop {
            let b = self.peek();
            let unescaped = match b {
                b'\n' | 0 => return Err(GiveUp),
                b'\'' if quote == b'\'' && self.byte(1) == b'\'' => '\'',
                b'\\' if quote == b'"' => match self.byte(1) {
                    b'\\' => '\\',
                    b'"' => '"',
                    b'/' => '/',
                    b'n' => '\n',
                    b't' => '\t',
                    b'r' => '\r',
                    b'0' => '\0',
                    _ => return Err(GiveUp),
                },
                _ if b == quote => {
                    let last = &text[run..self.pos];
                    self.pos += 1;
                    return Ok(match out {
                        None => Cow::Borrowed(last),
                        Some(mut s) => {
                            s.push_str(last);
                            Cow::Owned(s)
                        }
                    });
                }
                _ => {
                    self.pos += 1;
                    continue;
                }
            };
            let s = out.get_or_insert_with(String::new);
            s.push_str(&text[run..self.pos]);
            s.push(unescaped);
            self.pos += 2;
            run = self.pos;
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
                require(!matches!(self.peek(), b']' | b'}' | b',' | b'\n' | b'#' | 0))?;
                Ok(false)
            }
            b if b == close => {
                self.pos += 1;
                Ok(true)
            }
            _ => Err(GiveUp),
        }
    }

    /// The next key of a flow mapping, at the position, up to its `:`.
    fn flow_key(&mut self) -> Read<Cow<'a, str>> {
        require(!matches!(self.peek(), b'[' | b'{'))?;
        let key = key_of(self.scalar(false)?)?;
        require(self.peek() == b':' && self.byte(1) == b' ')?;
        Ok(key)
    }
}

/// A mapping key: a string, or a give-up (numbers, booleans and nulls as keys are the complete
/// reader's error).
fn key_of(s: Scalar<'_>) -> Read<Cow<'_, str>> {
    match s {
        Scalar::Str(s) => Ok(s),
        _ => Err(GiveUp),
    }
}

/// The keys of one mapping read so far: a duplicate is the complete reader's error. Few are
/// kept on the reader's stack, more in a set of their own.
struct Keys<'a> {
    /// Where this mapping's keys start on [`Reader::keys`].
    base: usize,
    many: Option<foldhash::HashSet<Cow<'a, str>>>,
    /// Whether the keys are recorded. A struct's are not: a struct deserialised by serde's
    /// derive refuses a field given twice itself (`duplicate_field`, a give-up like any
    /// error of the type), and a key it does not know is refused (`deny_unknown_fields`,
    /// as every struct of the inventory) or ignored, which gives up here (see
    /// [`Reader::untracked_value`]), as an ignored key could be a repeated one. Recording
    /// the keys of every VM and service was a twentieth of reading an inventory.
    tracked: bool,
}

impl<'a> Keys<'a> {
    fn new(r: &Reader<'a>, want: Want) -> Keys<'a> {
        Keys { base: r.keys.len(), many: None, tracked: want != Want::Struct }
    }

    /// Records `key` and hands it back; a give-up if it was already there.
    fn insert(&mut self, r: &mut Reader<'a>, key: Cow<'a, str>) -> Read<Cow<'a, str>> {
        if !self.tracked {
            return Ok(key);
        }
        if let Some(set) = &mut self.many {
            require(set.insert(key.clone()))?;
            return Ok(key);
        }
        let mine = &r.keys[self.base..];
        require(!mine.contains(&key))?;
        if mine.len() < FEW_KEYS {
            r.keys.push(key.clone());
        } else {
            let mut set: foldhash::HashSet<_> = r.keys.drain(self.base..).collect();
            set.insert(key.clone());
            self.many = Some(set);
        }
        Ok(key)
    }

    /// The mapping is read: its keys leave the stack.
    fn done(&self, r: &mut Reader<'a>) {
        r.keys.truncate(self.base);
    }
}

/// What the type asked for, in the terms of [`Value`]'s own deserialiser, which answers each
/// request only from some kinds of values.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Want {
    Any,
    Option,
    Newtype,
    Ignored,
    Unit,
    Bool,
    Number,
    Str,
    Seq,
    Map,
    /// A mapping, for a struct ([`Keys::tracked`]).
    Struct,
    Enum,
}

/// A node of the text, as a serde deserialiser.
struct Node<'r, 'a> {
    r: &'r mut Reader<'a>,
    at: At<'a>,
}

impl<'a> Node<'_, 'a> {
    fn visit<V: Visitor<'a>>(self, want: Want, v: V) -> Read<V::Value> {
        let r = self.r;
        let depth = r.depth;
        // A struct ignores this entry's value (its key is not a field): the key was not
        // recorded, so it may be a repeated one, which the complete reader refuses.
        require(!(std::mem::take(&mut r.untracked_value) && want == Want::Ignored))?;
        let start = r.start(self.at)?;
        let out = match (want, start) {
            (Want::Option, Start::Scalar(Scalar::Null)) => v.visit_none(),
            (Want::Option, start) => v.visit_some(Node { r: &mut *r, at: At::Started(start) }),
            (Want::Newtype, start) => v.visit_newtype_struct(Node { r: &mut *r, at: At::Started(start) }),
            (Want::Ignored, start) => {
                Node { r: &mut *r, at: At::Started(start) }.visit(Want::Any, IgnoredAny)?;
                v.visit_unit()
            }
            (want, Start::Scalar(s)) => scalar(s, want, v),
            (Want::Any | Want::Seq, Start::BlockSeq(c)) => {
                let mut items = BlockSeq { r: &mut *r, c, first: true, done: false };
                let out = v.visit_seq(&mut items)?;
                require(items.done).map(|()| out)
            }
            (Want::Any | Want::Map | Want::Struct, Start::BlockMap(c, first)) => {
                let keys = Keys::new(r, want);
                let mut entries = BlockMap { r: &mut *r, c, first: Some(first), keys, done: false };
                let out = v.visit_map(&mut entries)?;
                require(entries.done).map(|()| out)
            }
            (Want::Any | Want::Seq | Want::Map | Want::Struct, Start::Flow(parent)) => {
                let out = flow(r, want, v)?;
                if let Some(parent) = parent {
                    r.scalar_line_end(parent)?;
                }
                Ok(out)
            }
            _ => Err(GiveUp),
        };
        r.depth = depth;
        out
    }
}

/// A scalar as [`Value`]'s deserialiser hands it to what `want`s it.
fn scalar<'a, V: Visitor<'a>>(s: Scalar<'a>, want: Want, v: V) -> Read<V::Value> {
    match (want, s) {
        (Want::Any | Want::Unit, Scalar::Null) => v.visit_unit(),
        (Want::Any | Want::Bool, Scalar::Bool(b)) => v.visit_bool(b),
        (Want::Any | Want::Number, Scalar::Unsigned(n)) => v.visit_u64(n),
        (Want::Any | Want::Number, Scalar::Negative(n)) => v.visit_i64(n),
        (Want::Any | Want::Number, Scalar::Float(f)) => v.visit_f64(f),
        (Want::Any | Want::Str, Scalar::Str(Cow::Borrowed(s))) => v.visit_borrowed_str(s),
        (Want::Any | Want::Str, Scalar::Str(Cow::Owned(s))) => v.visit_string(s),
        (Want::Enum, Scalar::Str(s)) => v.visit_enum(CowStrDeserializer::new(s)),
        _ => Err(GiveUp),
    }
}

/// A flow collection, at its opening bracket.
fn flow<'a, V: Visitor<'a>>(r: &mut Reader<'a>, want: Want, v: V) -> Read<V::Value> {
    r.enter()?;
    let open = r.peek();
    r.pos += 1;
    r.skip_spaces();
    let close = if open == b'[' { b']' } else { b'}' };
    let empty = r.peek() == close;
    if empty {
        r.pos += 1;
    }
    if open == b'[' {
        require(want != Want::Map && want != Want::Struct)?;
        let mut items = FlowSeq { r, close, first: true, done: empty };
        let out = v.visit_seq(&mut items)?;
        require(items.done).map(|()| out)
    } else {
        require(want != Want::Seq)?;
        let keys = Keys::new(r, want);
        let mut entries = FlowMap { r, close, first: true, keys, done: empty };
        let out = v.visit_map(&mut entries)?;
        require(entries.done).map(|()| out)
    }
}

/// The requests a [`Node`] answers, each as the [`Want`] it is.
macro_rules! wants {
    ($($method:ident($($arg:ident: $ty:ty),*) => $want:ident;)*) => {
        $(fn $method<V: Visitor<'a>>(self, $($arg: $ty,)* v: V) -> Read<V::Value> {
            $(let _ = $arg;)*
            self.visit(Want::$want, v)
        })*
    };
}

impl<'a> Deserializer<'a> for Node<'_, 'a> {
    type Error = GiveUp;

    wants! {
        deserialize_any() => Any;
        deserialize_bool() => Bool;
        deserialize_i8() => Number;
        deserialize_i16() => Number;
        deserialize_i32() => Number;
        deserialize_i64() => Number;
        deserialize_i128() => Number;
        deserialize_u8() => Number;
        deserialize_u16() => Number;
        deserialize_u32() => Number;
        deserialize_u64() => Number;
        deserialize_u128() => Number;
        deserialize_f32() => Number;
        deserialize_f64() => Number;
        deserialize_char() => Str;
        deserialize_str() => Str;
        deserialize_string() => Str;
        deserialize_bytes() => Str;
        deserialize_byte_buf() => Str;
        deserialize_identifier() => Str;
        deserialize_option() => Option;
        deserialize_unit() => Unit;
        deserialize_unit_struct(name: &'static str) => Unit;
        deserialize_newtype_struct(name: &'static str) => Newtype;
        deserialize_seq() => Seq;
        deserialize_tuple(len: usize) => Seq;
        deserialize_tuple_struct(name: &'static str, len: usize) => Seq;
        deserialize_map() => Map;
        deserialize_struct(name: &'static str, fields: &'static [&'static str]) => Struct;
        deserialize_enum(name: &'static str, variants: &'static [&'static str]) => Enum;
        deserialize_ignored_any() => Ignored;
    }
}

/// The items of a block sequence.
struct BlockSeq<'r, 'a> {
    r: &'r mut Reader<'a>,
    c: usize,
    first: bool,
    done: bool,
}

impl<'a> SeqAccess<'a> for BlockSeq<'_, 'a> {
    type Error = GiveUp;

    fn next_element_seed<T: DeserializeSeed<'a>>(&mut self, seed: T) -> Read<Option<T::Value>> {
        if !self.first && !self.r.block_item(self.c)? {
            self.done = true;
            return Ok(None);
        }
        self.first = false;
        self.r.pos += 1; // the `-`
        seed.deserialize(Node { r: &mut *self.r, at: At::AfterDash(self.c) }).map(Some)
    }
}

/// The entries of a block mapping.
struct BlockMap<'r, 'a> {
    r: &'r mut Reader<'a>,
    c: usize,
    /// The first key, read to learn that the node is a mapping.
    first: Option<Cow<'a, str>>,
    keys: Keys<'a>,
    done: bool,
}

impl<'a> MapAccess<'a> for BlockMap<'_, 'a> {
    type Error = GiveUp;

    fn next_key_seed<K: DeserializeSeed<'a>>(&mut self, seed: K) -> Read<Option<K::Value>> {
        let key = match self.first.take() {
            Some(key) => key,
            None => match self.r.block_key(self.c)? {
                Some(key) => key,
                None => {
                    self.keys.done(self.r);
                    self.done = true;
                    return Ok(None);
                }
            },
        };
        key_seed(self.r, &mut self.keys, key, seed)
    }

    fn next_value_seed<V: DeserializeSeed<'a>>(&mut self, seed: V) -> Read<V::Value> {
        self.r.pos += 1; // the `:`
        self.r.untracked_value = !self.keys.tracked;
        seed.deserialize(Node { r: &mut *self.r, at: At::AfterKey(self.c) })
    }
}

/// Records a mapping's key and hands it to `seed`, as a string scalar.
fn key_seed<'a, K: DeserializeSeed<'a>>(
    r: &mut Reader<'a>,
    keys: &mut Keys<'a>,
    key: Cow<'a, str>,
    seed: K,
) -> Read<Option<K::Value>> {
    let key = keys.insert(r, key)?;
    seed.deserialize(Node { r, at: At::Started(Start::Scalar(Scalar::Str(key))) }).map(Some)
}

/// The items of a flow sequence.
struct FlowSeq<'r, 'a> {
    r: &'r mut Reader<'a>,
    close: u8,
    first: bool,
    done: bool,
}

impl<'a> SeqAccess<'a> for FlowSeq<'_, 'a> {
    type Error = GiveUp;

    fn next_element_seed<T: DeserializeSeed<'a>>(&mut self, seed: T) -> Read<Option<T::Value>> {
        if self.done || (!self.first && self.r.flow_separator(self.close)?) {
            self.done = true;
            return Ok(None);
        }
        self.first = false;
        seed.deserialize(Node { r: &mut *self.r, at: At::Flow }).map(Some)
    }
}

/// The entries of a flow mapping.
struct FlowMap<'r, 'a> {
    r: &'r mut Reader<'a>,
    close: u8,
    first: bool,
    keys: Keys<'a>,
    done: bool,
}

impl<'a> MapAccess<'a> for FlowMap<'_, 'a> {
    type Error = GiveUp;

    fn next_key_seed<K: DeserializeSeed<'a>>(&mut self, seed: K) -> Read<Option<K::Value>> {
        if self.done || (!self.first && self.r.flow_separator(self.close)?) {
            self.keys.done(self.r);
            self.done = true;
            return Ok(None);
        }
        self.first = false;
        let key = self.r.flow_key()?;
        key_seed(self.r, &mut self.keys, key, seed)
    }

    fn next_value_seed<V: DeserializeSeed<'a>>(&mut self, seed: V) -> Read<V::Value> {
        self.r.pos += 1; // the `:`
        self.r.skip_spaces();
        self.r.untracked_value = !self.keys.tracked;
        seed.deserialize(Node { r: &mut *self.r, at: At::Flow })
    }
}

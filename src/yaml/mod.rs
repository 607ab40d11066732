//! The one door for YAML: every YAML text meshgen reads or writes goes through this module,
//! and no other module names a YAML library.
//!
//! Values are [`serde_json::Value`]s (with key order kept): what the templates, the patches,
//! the CRD checks and the diff work on anyway, so nothing is converted twice. YAML that JSON
//! cannot hold is refused here, with its position, rather than found later: keys that are not
//! strings, tags outside the core schema, `.inf`/`.nan` and integers beyond 64 bits.
//!
//! - [`parse`]: every document of a text. The fast reader ([`parse_subset`], `subset.rs`)
//!   answers for the plain YAML inventories are written in; anything else goes to the complete
//!   reader (`full.rs`, on granit-parser's events), which also writes every error. Deep
//!   brackets are refused by a linear pre-scan before either runs.
//! - [`from_str`]: one document into a typed value; [`from_documents`]: every document of a
//!   plain text into typed values, without building [`Value`]s.
//! - [`locate`]: where a YAML path is in a text, for diagnostics.
//! - [`write`](mod@write): values as YAML text.
//! - [`Error`]: what went wrong, as an [`ErrorKind`] to choose help texts from.
//!
//! Why this reader and not another is recorded, with measurements, in docs/decisions.md
//! ("YAML reader").

mod error;
mod full;
pub mod locate;
mod scalar;
mod subset;
pub mod write;

use serde::de::DeserializeOwned;
pub use serde_json::{Map, Value};

pub use error::{Error, ErrorKind, Mark};
pub use full::MAX_DEPTH;

/// The documents read from a text, up to the first error.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The documents before the error (all of them without one). Null documents are kept,
    /// so indices match the text; a text without any document reads as one null document.
    pub docs: Vec<Value>,
    /// What stopped the reading: the YAML after it cannot be trusted.
    pub error: Option<Error>,
}

/// Reads every document of `text`.
pub fn parse(text: &str) -> Parsed {
    if let Some(docs) = subset::parse(text) {
        return Parsed { docs, error: None };
    }
    if let Some(at) = too_deep_flow(text) {
        return Parsed { docs: Vec::new(), error: Some(Error::new(ErrorKind::BracketsTooDeep(MAX_FLOW_DEPTH), at, 0)) };
    }
    let (docs, error) = full::parse(text);
    Parsed { docs, error }
}

/// Every document of `text`, or the first error.
pub fn parse_all(text: &str) -> Result<Vec<Value>, Error> {
    let parsed = parse(text);
    match parsed.error {
        Some(e) => Err(e),
        None => Ok(parsed.docs),
    }
}

/// Every document of `text` deserialised straight into a `T` (a null document as null),
/// without [`Value`]s in between, when the fast reader takes the text and every document is
/// a `T`; `None` otherwise. Nothing is reported: whoever gets `None` reads the text with
/// [`parse`] and deserialises the values, which says what is wrong and where. Where this
/// answers, that answers the same.
pub fn from_documents<T: DeserializeOwned>(text: &str) -> Option<Vec<T>> {
    subset::documents(text)
}

/// The documents of `text` if the fast reader takes it; `None` when the text is outside its
/// subset (the complete reader would then decide). For tests and benchmarks of the two.
pub fn parse_subset(text: &str) -> Option<Vec<Value>> {
    subset::parse(text)
}

/// The documents of `text` as the complete reader reads them, never the fast one. For tests
/// and benchmarks of the two.
pub fn parse_full(text: &str) -> Result<Vec<Value>, Error> {
    match full::parse(text) {
        (_, Some(e)) => Err(e),
        (docs, None) => Ok(docs),
    }
}

/// The one document of `text` as a `T`: a text of several documents is an error, one of
/// none reads as null.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, Error> {
    let mut docs = parse_all(text)?;
    if docs.len() > 1 {
        return Err(Error { kind: ErrorKind::SeveralDocuments, at: None, doc: 1 });
    }
    let doc = docs.pop().unwrap_or(Value::Null);
    T::deserialize(&doc).map_err(|e| Error { kind: ErrorKind::Shape(e.to_string()), at: None, doc: 0 })
}

/// A value as a YAML document (see [`write::document`]).
pub fn to_string(v: &Value) -> String {
    write::document(v)
}

/// Deepest `[`/`{` nesting accepted. A parser's scanner re-checks every open flow level for
/// each token, so its cost grows with depth × length (libyaml took 20 s over 100,000 `[`
/// before its own limit answered). This linear pre-scan refuses such input first.
pub const MAX_FLOW_DEPTH: usize = 100;

/// Where flow nesting first exceeds [`MAX_FLOW_DEPTH`], if it does. Quoted scalars and
/// comments are skipped; a quote only opens a scalar where YAML allows one to start, so
/// `don't` in a plain scalar is not mistaken for one.
fn too_deep_flow(text: &str) -> Option<Mark> {
    let (mut depth, mut line, mut col) = (0usize, 1usize, 0usize);
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut prev = '\n'; // the last character outside a quoted scalar
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        col += 1;
        if c == '\n' {
            line += 1;
            col = 0;
        }
        match quote {
            Some('"') if escaped => escaped = false,
            Some('"') if c == '\\' => escaped = true,
            Some(q) if c == q => {
                // `''` inside a single-quoted scalar is an escaped quote.
                if q == '\'' && chars.peek() == Some(&'\'') {
                    chars.next();
                    col += 1;
                } else {
                    quote = None;
                    prev = c;
                }
            }
            Some(_) => {}
            None => {
                match c {
                    '#' if prev.is_whitespace() => {
                        for n in chars.by_ref() {
                            if n == '\n' {
                                line += 1;
                                col = 0;
                                break;
                            }
                        }
                        prev = '\n';
                        continue;
                    }
                    '"' | '\'' if prev.is_whitespace() || matches!(prev, ':' | '-' | '[' | '{' | ',' | '?') => {
                        quote = Some(c)
                    }
                    '[' | '{' => {
                        depth += 1;
                        if depth > MAX_FLOW_DEPTH {
                            return Some(Mark { line, column: col });
                        }
                    }
                    ']' | '}' => depth = depth.saturating_sub(1),
                    _ => {}
                }
                prev = c;
            }
        }
    }
    None
}

#[cfg(test)]
mod tests;

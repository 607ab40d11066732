//! What can go wrong reading YAML, as types: callers choose their help text from the variant,
//! never from a parser's wording.

use std::fmt;

/// A 1-based line and column (in characters) in a YAML text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

/// Why a YAML text could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// Not YAML; the parser's description of what it found.
    Syntax(String),
    /// A tab in the indentation of a line, which YAML does not allow.
    TabIndent,
    /// Flow collections (`[`, `{`) nest deeper than the limit; found by a linear pre-scan,
    /// before a parser spends time on it.
    BracketsTooDeep(usize),
    /// Collections nest deeper than the limit.
    TooDeep(usize),
    /// Aliases expand to more values than the limit (an alias bomb).
    AliasesTooLarge(usize),
    /// A key appears twice in one mapping.
    DuplicateKey(String),
    /// A mapping key that is not a string: a number, boolean or null as written, or a
    /// collection.
    KeyNotString(String),
    /// A tag other than the core schema's (`!!str`, `!!int`, ...).
    Tag(String),
    /// An integer beyond 64 bits.
    IntegerTooBig(String),
    /// `.inf` or `.nan`: JSON, and so every manifest, has no such number.
    NotFinite(String),
    /// More than one document where one was expected.
    SeveralDocuments,
    /// The document does not have the shape asked for (`from_str`): serde's message.
    Shape(String),
}

/// A YAML text that could not be read: why, where, and in which document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// Why.
    pub kind: ErrorKind,
    /// Where, when known.
    pub at: Option<Mark>,
    /// The 0-based index of the document it is in.
    pub doc: usize,
}

impl Error {
    pub(super) fn new(kind: ErrorKind, at: Mark, doc: usize) -> Error {
        Error { kind, at: Some(at), doc }
    }
}

impl ErrorKind {
    /// Whether the text is valid YAML that meshgen does not take (its values must be JSON's),
    /// rather than not YAML at all.
    pub fn unsupported(&self) -> bool {
        matches!(
            self,
            ErrorKind::KeyNotString(_) | ErrorKind::Tag(_) | ErrorKind::IntegerTooBig(_) | ErrorKind::NotFinite(_)
        )
    }
}

/// What is wrong, in the user's terms; [`ErrorKind::unsupported`] tells the headline
/// ("invalid YAML" or "unsupported YAML") that a diagnostic puts before it.
impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Syntax(m) => f.write_str(m),
            ErrorKind::TabIndent => f.write_str("a tab in the indentation"),
            ErrorKind::BracketsTooDeep(n) => write!(f, "brackets nest deeper than {n} levels"),
            ErrorKind::TooDeep(n) => write!(f, "collections nest deeper than {n} levels"),
            ErrorKind::AliasesTooLarge(n) => write!(f, "aliases expand to more than {n} values"),
            ErrorKind::DuplicateKey(k) => write!(f, "duplicate key `{k}`"),
            ErrorKind::KeyNotString(k) => write!(f, "the key `{k}` is not a string"),
            ErrorKind::Tag(t) => write!(f, "tag `{t}`"),
            ErrorKind::IntegerTooBig(n) => write!(f, "the integer `{n}` does not fit in 64 bits"),
            ErrorKind::NotFinite(n) => write!(f, "`{n}` is not a finite number"),
            ErrorKind::SeveralDocuments => f.write_str("expected one YAML document, found several"),
            ErrorKind::Shape(m) => f.write_str(m),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind)?;
        match self.at {
            Some(m) => write!(f, " at line {} column {}", m.line, m.column),
            None => Ok(()),
        }
    }
}

impl std::error::Error for Error {}

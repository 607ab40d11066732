//! The lexer of the CEL subset: source text to tokens, each with its character offset.
//!
//! Literals are read as cel-go reads them (decimal, hex and unsigned ints, doubles with
//! exponents, single, double, triple-quoted and raw strings with CEL's escapes); a reserved
//! word used as an identifier is an error here, as it is in cel-go.

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    /// Magnitude of an int literal; the range is checked by the parser, where the sign is known.
    Int(i128),
    Uint(u64),
    Double(f64),
    Str(String),
    Ident(String),
    True,
    False,
    Null,
    In,
    LParen,
    RParen,
    LBracket,
    RBracket,
    LBrace,
    RBrace,
    Dot,
    Comma,
    Colon,
    Question,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Bang,
    Lt,
    Le,
    Gt,
    Ge,
    EqEq,
    Ne,
    AndAnd,
    OrOr,
    Eof,
}

/// Words CEL reserves; using one as an identifier is a syntax error in cel-go too.
const RESERVED: &[&str] = &[
    "as",
    "break",
    "const",
    "continue",
    "else",
    "for",
    "function",
    "if",
    "import",
    "let",
    "loop",
    "package",
    "namespace",
    "return",
    "var",
    "void",
    "while",
];

/// Splits the source into tokens, each with its character offset (for error messages).
pub(super) fn lex(src: &str) -> Result<Vec<(Tok, usize)>, String> {
    let cs: Vec<char> = src.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < cs.len() {
        let c = cs[i];
        let start = i;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '/' && cs.get(i + 1) == Some(&'/') {
            while i < cs.len() && cs[i] != '\n' {
                i += 1;
            }
            continue;
        }
        let two: String = cs[i..cs.len().min(i + 2)].iter().collect();
        let op2 = match two.as_str() {
            "<=" => Some(Tok::Le),
            ">=" => Some(Tok::Ge),
            "==" => Some(Tok::EqEq),
            "!=" => Some(Tok::Ne),
            "&&" => Some(Tok::AndAnd),
            "||" => Some(Tok::OrOr),
            _ => None,
        };
        if let Some(t) = op2 {
            toks.push((t, start));
            i += 2;
            continue;
        }
        let is_digit_at = |j: usize| cs.get(j).is_some_and(|c| c.is_ascii_digit());
        let op1 = match c {
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            '[' => Some(Tok::LBracket),
            ']' => Some(Tok::RBracket),
            '{' => Some(Tok::LBrace),
            '}' => Some(Tok::RBrace),
            '.' if !is_digit_at(i + 1) => Some(Tok::Dot),
            ',' => Some(Tok::Comma),
            ':' => Some(Tok::Colon),
            '?' => Some(Tok::Question),
            '+' => Some(Tok::Plus),
            '-' => Some(Tok::Minus),
            '*' => Some(Tok::Star),
            '/' => Some(Tok::Slash),
            '%' => Some(Tok::Percent),
            '!' => Some(Tok::Bang),
            '<' => Some(Tok::Lt),
            '>' => Some(Tok::Gt),
            _ => None,
        };
        if let Some(t) = op1 {
            toks.push((t, start));
            i += 1;
            continue;
        }
        if c.is_ascii_digit() || c == '.' {
            let (tok, next) = lex_number(&cs, i)?;
            toks.push((tok, start));
            i = next;
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' {
            // String prefixes: r"raw", b"bytes" (and combinations).
            let mut j = i;
            while j < cs.len() && (cs[j].is_ascii_alphanumeric() || cs[j] == '_') {
                j += 1;
            }
            let word: String = cs[i..j].iter().collect();
            if cs.get(j).is_some_and(|&q| q == '"' || q == '\'')
                && word.len() <= 2
                && word.chars().all(|p| "rRbB".contains(p))
            {
                if word.contains(['b', 'B']) {
                    return Err(format!("bytes literals are not supported (offset {start})"));
                }
                let (s, next) = lex_string(&cs, j, true)?;
                toks.push((Tok::Str(s), start));
                i = next;
                continue;
            }
            let tok = match word.as_str() {
                "true" => Tok::True,
                "false" => Tok::False,
                "null" => Tok::Null,
                "in" => Tok::In,
                w if RESERVED.contains(&w) => {
                    return Err(format!("reserved word {w:?} at offset {start}"));
                }
                _ => Tok::Ident(word),
            };
            toks.push((tok, start));
            i = j;
            continue;
        }
        if c == '"' || c == '\'' {
            let (s, next) = lex_string(&cs, i, false)?;
            toks.push((Tok::Str(s), start));
            i = next;
            continue;
        }
        return Err(format!("unexpected character {c:?} at offset {start}"));
    }
    toks.push((Tok::Eof, cs.len()));
    Ok(toks)
}

fn lex_number(cs: &[char], start: usize) -> Result<(Tok, usize), String> {
    let mut i = start;
    let text_of = |a: usize, b: usize| cs[a..b].iter().collect::<String>();
    if cs[i] == '0' && matches!(cs.get(i + 1), Some('x') | Some('X')) {
        i += 2;
        let digits_start = i;
        while i < cs.len() && cs[i].is_ascii_hexdigit() {
            i += 1;
        }
        let digits = text_of(digits_start, i);
        if matches!(cs.get(i), Some('u') | Some('U')) {
            let v = u64::from_str_radix(&digits, 16).map_err(|_| format!("invalid uint literal at offset {start}"))?;
            return Ok((Tok::Uint(v), i + 1));
        }
        let v = i128::from_str_radix(&digits, 16).map_err(|_| format!("invalid int literal at offset {start}"))?;
        return Ok((Tok::Int(v), i));
    }
    while i < cs.len() && cs[i].is_ascii_digit() {
        i += 1;
    }
    let mut is_float = false;
    if cs.get(i) == Some(&'.') && cs.get(i + 1).is_some_and(|c| c.is_ascii_digit()) {
        is_float = true;
        i += 1;
        while i < cs.len() && cs[i].is_ascii_digit() {
            i += 1;
        }
    }
    if matches!(cs.get(i), Some('e') | Some('E')) {
        let mut j = i + 1;
        if matches!(cs.get(j), Some('+') | Some('-')) {
            j += 1;
        }
        if cs.get(j).is_some_and(|c| c.is_ascii_digit()) {
            is_float = true;
            i = j;
            while i < cs.len() && cs[i].is_ascii_digit() {
                i += 1;
            }
        }
    }
    let text = text_of(start, i);
    if is_float {
        let v: f64 = text.parse().map_err(|_| format!("invalid double literal {text:?}"))?;
        return Ok((Tok::Double(v), i));
    }
    if matches!(cs.get(i), Some('u') | Some('U')) {
        let v: u64 = text.parse().map_err(|_| format!("invalid uint literal {text:?}"))?;
        return Ok((Tok::Uint(v), i + 1));
    }
    let v: i128 = text.parse().map_err(|_| format!("invalid int literal {text:?}"))?;
    Ok((Tok::Int(v), i))
}

/// Lexes a quoted string starting at `cs[start]` (the opening quote). Supports single and
/// triple quotes, raw strings and the CEL escape sequences.
fn lex_string(cs: &[char], start: usize, raw: bool) -> Result<(String, usize), String> {
    let q = cs[start];
    let triple = cs.get(start + 1) == Some(&q) && cs.get(start + 2) == Some(&q);
    let mut i = start + if triple { 3 } else { 1 };
    let mut out = String::new();
    loop {
        let Some(&c) = cs.get(i) else {
            return Err(format!("unterminated string starting at offset {start}"));
        };
        if triple {
            if c == q && cs.get(i + 1) == Some(&q) && cs.get(i + 2) == Some(&q) {
                return Ok((out, i + 3));
            }
        } else if c == q {
            return Ok((out, i + 1));
        } else if c == '\n' || c == '\r' {
            return Err(format!("newline in string starting at offset {start}"));
        }
        if c == '\\' && !raw {
            let Some(&e) = cs.get(i + 1) else {
                return Err("unterminated escape sequence".to_string());
            };
            i += 2;
            let simple = match e {
                '\\' => Some('\\'),
                '"' => Some('"'),
                '\'' => Some('\''),
                '`' => Some('`'),
                '?' => Some('?'),
                'a' => Some('\u{7}'),
                'b' => Some('\u{8}'),
                'f' => Some('\u{c}'),
                'n' => Some('\n'),
                'r' => Some('\r'),
                't' => Some('\t'),
                'v' => Some('\u{b}'),
                _ => None,
            };
            if let Some(ch) = simple {
                out.push(ch);
                continue;
            }
            let (len, radix) = match e {
                'x' | 'X' => (2, 16),
                'u' => (4, 16),
                'U' => (8, 16),
                '0'..='3' => {
                    i -= 1; // the first octal digit is part of the number
                    (3, 8)
                }
                _ => return Err(format!("invalid escape sequence \\{e}")),
            };
            let digits: String = cs.get(i..i + len).unwrap_or_default().iter().collect();
            if digits.chars().count() != len {
                return Err("truncated escape sequence".to_string());
            }
            let code = u32::from_str_radix(&digits, radix)
                .map_err(|_| format!("invalid escape sequence digits {digits:?}"))?;
            let ch =
                char::from_u32(code).ok_or_else(|| format!("escape sequence is not a valid code point: {code:#x}"))?;
            out.push(ch);
            i += len;
            continue;
        }
        out.push(c);
        i += 1;
    }
}

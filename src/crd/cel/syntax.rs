//! AST and recursive-descent parser for the CEL subset used by CRD validation rules (the
//! tokens come from [`super::lex`]).
//!
//! The grammar follows the CEL language definition (precedence from loosest to tightest:
//! `?:`, `||`, `&&`, relations `< <= >= > == != in`, `+ -`, `* / %`, unary `! -`, member
//! access / call / index). Macros (`has`, `all`, `exists`, `exists_one`) are expanded while
//! parsing, as cel-go does. Anything outside the supported subset (bytes literals, message
//! construction, `map`/`filter` macros, unknown functions, reserved words) is a parse error, so
//! an unsupported rule can never be loaded and silently pass.

use regex::Regex;

use super::lex::{Tok, lex};

/// A literal constant.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Lit {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Double(f64),
    Str(String),
}

/// Functions the evaluator implements (CEL standard library plus the Kubernetes `url` and
/// strings-extension functions that these CRDs use).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Func {
    Size,
    Contains,
    StartsWith,
    EndsWith,
    Substring,
    Int,
    Duration,
    Url,
    IsUrl,
    GetScheme,
    GetHost,
    GetHostname,
    GetPort,
}

impl Func {
    fn from_name(name: &str) -> Option<Func> {
        Some(match name {
            "size" => Func::Size,
            "contains" => Func::Contains,
            "startsWith" => Func::StartsWith,
            "endsWith" => Func::EndsWith,
            "substring" => Func::Substring,
            "int" => Func::Int,
            "duration" => Func::Duration,
            "url" => Func::Url,
            "isURL" => Func::IsUrl,
            "getScheme" => Func::GetScheme,
            "getHost" => Func::GetHost,
            "getHostname" => Func::GetHostname,
            "getPort" => Func::GetPort,
            _ => return None,
        })
    }

    /// The CEL name, for error messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Func::Size => "size",
            Func::Contains => "contains",
            Func::StartsWith => "startsWith",
            Func::EndsWith => "endsWith",
            Func::Substring => "substring",
            Func::Int => "int",
            Func::Duration => "duration",
            Func::Url => "url",
            Func::IsUrl => "isURL",
            Func::GetScheme => "getScheme",
            Func::GetHost => "getHost",
            Func::GetHostname => "getHostname",
            Func::GetPort => "getPort",
        }
    }
}

/// Comprehension macros over lists (elements) and maps (keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Quant {
    All,
    Exists,
    ExistsOne,
}

/// Unary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UnOp {
    Not,
    Neg,
}

/// Binary operators other than the short-circuiting `&&` / `||`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
}

impl BinOp {
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::In => "in",
        }
    }
}

/// A parsed CEL expression.
#[derive(Debug, Clone)]
pub(crate) enum Expr {
    Lit(Lit),
    Ident(String),
    Select {
        operand: Box<Expr>,
        field: String,
    },
    /// `has(operand.field)`.
    Has {
        operand: Box<Expr>,
        field: String,
    },
    Index {
        operand: Box<Expr>,
        index: Box<Expr>,
    },
    /// A function call; `target` is the receiver of the method form `x.f(…)`.
    Call {
        func: Func,
        target: Option<Box<Expr>>,
        args: Vec<Expr>,
    },
    /// `s.matches(re)` or `matches(s, re)`; a constant pattern is compiled at load time.
    Matches {
        target: Box<Expr>,
        pattern: Box<Expr>,
        compiled: Option<Regex>,
    },
    Unary {
        op: UnOp,
        operand: Box<Expr>,
    },
    Binary {
        op: BinOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Cond {
        cond: Box<Expr>,
        then: Box<Expr>,
        otherwise: Box<Expr>,
    },
    List(Vec<Expr>),
    Map(Vec<(Expr, Expr)>),
    Quant {
        kind: Quant,
        range: Box<Expr>,
        var: String,
        body: Box<Expr>,
    },
}

impl Expr {
    /// Whether the identifier `name` occurs free (not bound by a macro variable).
    pub(crate) fn mentions(&self, name: &str) -> bool {
        match self {
            Expr::Lit(_) => false,
            Expr::Ident(n) => n == name,
            Expr::Select { operand, .. } | Expr::Has { operand, .. } => operand.mentions(name),
            Expr::Index { operand, index } => operand.mentions(name) || index.mentions(name),
            Expr::Call { target, args, .. } => {
                target.as_ref().is_some_and(|t| t.mentions(name)) || args.iter().any(|a| a.mentions(name))
            }
            Expr::Matches { target, pattern, .. } => target.mentions(name) || pattern.mentions(name),
            Expr::Unary { operand, .. } => operand.mentions(name),
            Expr::Binary { lhs, rhs, .. } | Expr::And(lhs, rhs) | Expr::Or(lhs, rhs) => {
                lhs.mentions(name) || rhs.mentions(name)
            }
            Expr::Cond { cond, then, otherwise } => {
                cond.mentions(name) || then.mentions(name) || otherwise.mentions(name)
            }
            Expr::List(items) => items.iter().any(|i| i.mentions(name)),
            Expr::Map(entries) => entries.iter().any(|(k, v)| k.mentions(name) || v.mentions(name)),
            Expr::Quant { range, var, body, .. } => range.mentions(name) || (var != name && body.mentions(name)),
        }
    }
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    pos: usize,
}

/// Parses a CEL expression. Errors describe the problem and its character offset.
pub(crate) fn parse(src: &str) -> Result<Expr, String> {
    let mut p = Parser { toks: lex(src)?, pos: 0 };
    let e = p.expr()?;
    if p.peek() != &Tok::Eof {
        return Err(p.unexpected("end of expression"));
    }
    Ok(e)
}

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos].0
    }

    fn bump(&mut self) -> Tok {
        let t = self.toks[self.pos].0.clone();
        if t != Tok::Eof {
            self.pos += 1;
        }
        t
    }

    fn eat(&mut self, t: &Tok) -> bool {
        if self.peek() == t {
            self.bump();
            true
        } else {
            false
        }
    }

    fn unexpected(&self, wanted: &str) -> String {
        let (t, off) = &self.toks[self.pos];
        format!("expected {wanted}, found {t:?} at offset {off}")
    }

    fn expect(&mut self, t: &Tok, wanted: &str) -> Result<(), String> {
        if self.eat(t) { Ok(()) } else { Err(self.unexpected(wanted)) }
    }

    fn expr(&mut self) -> Result<Expr, String> {
        let cond = self.or()?;
        if self.eat(&Tok::Question) {
            let then = self.or()?;
            self.expect(&Tok::Colon, "':'")?;
            let otherwise = self.expr()?;
            return Ok(Expr::Cond { cond: Box::new(cond), then: Box::new(then), otherwise: Box::new(otherwise) });
        }
        Ok(cond)
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut e = self.and()?;
        while self.eat(&Tok::OrOr) {
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut e = self.relation()?;
        while self.eat(&Tok::AndAnd) {
            e = Expr::And(Box::new(e), Box::new(self.relation()?));
        }
        Ok(e)
    }

    fn relation(&mut self) -> Result<Expr, String> {
        let mut e = self.addition()?;
        loop {
            let op = match self.peek() {
                Tok::Lt => BinOp::Lt,
                Tok::Le => BinOp::Le,
                Tok::Gt => BinOp::Gt,
                Tok::Ge => BinOp::Ge,
                Tok::EqEq => BinOp::Eq,
                Tok::Ne => BinOp::Ne,
                Tok::In => BinOp::In,
                _ => return Ok(e),
            };
            self.bump();
            let rhs = self.addition()?;
            e = Expr::Binary { op, lhs: Box::new(e), rhs: Box::new(rhs) };
        }
    }

    fn addition(&mut self) -> Result<Expr, String> {
        let mut e = self.multiplication()?;
        loop {
            let op = match self.peek() {
                Tok::Plus => BinOp::Add,
                Tok::Minus => BinOp::Sub,
                _ => return Ok(e),
            };
            self.bump();
            let rhs = self.multiplication()?;
            e = Expr::Binary { op, lhs: Box::new(e), rhs: Box::new(rhs) };
        }
    }

    fn multiplication(&mut self) -> Result<Expr, String> {
        let mut e = self.unary()?;
        loop {
            let op = match self.peek() {
                Tok::Star => BinOp::Mul,
                Tok::Slash => BinOp::Div,
                Tok::Percent => BinOp::Rem,
                _ => return Ok(e),
            };
            self.bump();
            let rhs = self.unary()?;
            e = Expr::Binary { op, lhs: Box::new(e), rhs: Box::new(rhs) };
        }
    }

    fn unary(&mut self) -> Result<Expr, String> {
        let op = match self.peek() {
            Tok::Bang => UnOp::Not,
            Tok::Minus => UnOp::Neg,
            _ => return self.member(),
        };
        self.bump();
        // Fold `-<int literal>` so that the most negative int64 is expressible.
        if op == UnOp::Neg
            && let Tok::Int(v) = self.peek().clone()
        {
            self.bump();
            let v = i64::try_from(-v).map_err(|_| format!("int literal -{v} out of range"))?;
            return self.member_suffix(Expr::Lit(Lit::Int(v)));
        }
        let operand = self.unary()?;
        Ok(Expr::Unary { op, operand: Box::new(operand) })
    }

    fn member(&mut self) -> Result<Expr, String> {
        let e = self.primary()?;
        self.member_suffix(e)
    }

    fn member_suffix(&mut self, mut e: Expr) -> Result<Expr, String> {
        loop {
            if self.eat(&Tok::Dot) {
                let Tok::Ident(name) = self.bump() else {
                    self.pos -= 1;
                    return Err(self.unexpected("a field or method name after '.'"));
                };
                if self.eat(&Tok::LParen) {
                    let args = self.args(&Tok::RParen)?;
                    e = self.method(e, &name, args)?;
                } else {
                    e = Expr::Select { operand: Box::new(e), field: name };
                }
            } else if self.eat(&Tok::LBracket) {
                let index = self.expr()?;
                self.expect(&Tok::RBracket, "']'")?;
                e = Expr::Index { operand: Box::new(e), index: Box::new(index) };
            } else {
                return Ok(e);
            }
        }
    }

    /// Parses a comma-separated list up to `close` (a trailing comma is allowed).
    fn args(&mut self, close: &Tok) -> Result<Vec<Expr>, String> {
        let mut out = Vec::new();
        if self.eat(close) {
            return Ok(out);
        }
        loop {
            out.push(self.expr()?);
            if self.eat(close) {
                return Ok(out);
            }
            self.expect(&Tok::Comma, "',' or a closing bracket")?;
            if self.eat(close) {
                return Ok(out);
            }
        }
    }

    fn method(&mut self, target: Expr, name: &str, mut args: Vec<Expr>) -> Result<Expr, String> {
        let quant = match name {
            "all" => Some(Quant::All),
            "exists" => Some(Quant::Exists),
            "exists_one" => Some(Quant::ExistsOne),
            _ => None,
        };
        if let Some(kind) = quant {
            if args.len() != 2 {
                return Err(format!("macro {name}() takes 2 arguments"));
            }
            let body = args.pop().expect("two args");
            let Some(Expr::Ident(var)) = args.pop() else {
                return Err(format!("first argument of {name}() must be a variable name"));
            };
            return Ok(Expr::Quant { kind, range: Box::new(target), var, body: Box::new(body) });
        }
        if name == "matches" {
            if args.len() != 1 {
                return Err("matches() takes 1 argument".to_string());
            }
            return matches_expr(target, args.pop().expect("one arg"));
        }
        let func = Func::from_name(name).ok_or_else(|| format!("unsupported function or macro {name}()"))?;
        Ok(Expr::Call { func, target: Some(Box::new(target)), args })
    }

    fn primary(&mut self) -> Result<Expr, String> {
        let off = self.toks[self.pos].1;
        match self.bump() {
            Tok::Int(v) => i64::try_from(v)
                .map(|v| Expr::Lit(Lit::Int(v)))
                .map_err(|_| format!("int literal {v} out of range (offset {off})")),
            Tok::Uint(v) => Ok(Expr::Lit(Lit::Uint(v))),
            Tok::Double(v) => Ok(Expr::Lit(Lit::Double(v))),
            Tok::Str(s) => Ok(Expr::Lit(Lit::Str(s))),
            Tok::True => Ok(Expr::Lit(Lit::Bool(true))),
            Tok::False => Ok(Expr::Lit(Lit::Bool(false))),
            Tok::Null => Ok(Expr::Lit(Lit::Null)),
            Tok::LParen => {
                let e = self.expr()?;
                self.expect(&Tok::RParen, "')'")?;
                Ok(e)
            }
            Tok::LBracket => Ok(Expr::List(self.args(&Tok::RBracket)?)),
            Tok::LBrace => {
                let mut entries = Vec::new();
                if !self.eat(&Tok::RBrace) {
                    loop {
                        let k = self.expr()?;
                        self.expect(&Tok::Colon, "':' in map literal")?;
                        let v = self.expr()?;
                        entries.push((k, v));
                        if self.eat(&Tok::RBrace) {
                            break;
                        }
                        self.expect(&Tok::Comma, "',' or '}'")?;
                        if self.eat(&Tok::RBrace) {
                            break;
                        }
                    }
                }
                Ok(Expr::Map(entries))
            }
            Tok::Ident(name) => {
                if self.eat(&Tok::LParen) {
                    let args = self.args(&Tok::RParen)?;
                    return global_call(&name, args);
                }
                if self.peek() == &Tok::LBrace {
                    return Err(format!("message construction {name}{{…}} is not supported (offset {off})"));
                }
                Ok(Expr::Ident(name))
            }
            Tok::Dot => Err(format!("root-scoped identifiers (.name) are not supported (offset {off})")),
            _ => {
                self.pos -= 1;
                Err(self.unexpected("an expression"))
            }
        }
    }
}

fn matches_expr(target: Expr, pattern: Expr) -> Result<Expr, String> {
    // cel-go (and the Kubernetes CRD compiler) rejects constant patterns that do not compile.
    let compiled = match &pattern {
        Expr::Lit(Lit::Str(p)) => Some(crate::formats::re2::compile(p)?),
        _ => None,
    };
    Ok(Expr::Matches { target: Box::new(target), pattern: Box::new(pattern), compiled })
}

fn global_call(name: &str, mut args: Vec<Expr>) -> Result<Expr, String> {
    match name {
        "has" => {
            if args.len() != 1 {
                return Err("has() takes 1 argument".to_string());
            }
            match args.pop().expect("one arg") {
                Expr::Select { operand, field } => Ok(Expr::Has { operand, field }),
                _ => Err("has() argument must be a field selection (x.f)".to_string()),
            }
        }
        "matches" => {
            if args.len() != 2 {
                return Err("matches() takes 2 arguments".to_string());
            }
            let pattern = args.pop().expect("two args");
            matches_expr(args.pop().expect("two args"), pattern)
        }
        _ => {
            let func = Func::from_name(name).ok_or_else(|| format!("unsupported function {name}()"))?;
            Ok(Expr::Call { func, target: None, args })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rule_forms() {
        for src in [
            "duration(self) >= duration('1ms')",
            "0 < self && self <= 65535",
            "!self.contains(\"*\")",
            "self.all(key, size(key) < 63 && key.matches(\"^[a-z]$\"))",
            "(has(self.a) ? 1 : 0) + (has(self.b) ? 1 : 0) <= 1",
            "self in [\"\", \"HTTP\", \"HTTPS\",]",
            "url(self).getScheme() in ['http', 'https']",
            "(has(self.x) ? self.x : {}).size() > 0",
            "self.all(l1, self.exists_one(l2, l1.number == l2.number))",
            "a ? b : c ? d : e",
            "r'\\d' == '\\\\d' && '''tri\"ple''' != \"\\x41\\u00e9\\101\"",
            "-9223372036854775808 < 1 && 1u < 2u && 1.5e3 > .5",
            "// comment\n self[0]['k'].size() == 1",
        ] {
            parse(src).unwrap_or_else(|e| panic!("{src}: {e}"));
        }
    }

    #[test]
    fn rejects_unsupported() {
        // Each refusal says what was refused, not just that parsing failed.
        for (src, says) in [
            ("self.map(x, x + 1)", "unsupported function or macro map()"),
            ("self.filter(x, x)", "unsupported function or macro filter()"),
            ("foo(self)", "unsupported function foo()"),
            ("self.lowerAscii()", "unsupported function or macro lowerAscii()"),
            ("b'abc' == self", "bytes literals are not supported (offset 0)"),
            ("Msg{a: 1}", "message construction Msg{…} is not supported (offset 0)"),
            (".self", "root-scoped identifiers (.name) are not supported (offset 0)"),
            ("self +", "expected an expression"),
            ("self.matches('(?=x)')", "invalid regular expression \"(?=x)\""),
            ("has(self)", "has() argument must be a field selection (x.f)"),
            ("if", "reserved word \"if\" at offset 0"),
            ("self.all(1, true)", "first argument of all() must be a variable name"),
            ("'unterminated", "unterminated string starting at offset 0"),
        ] {
            let e = parse(src).err().map(|e| e.to_string()).unwrap_or_else(|| panic!("{src} parsed"));
            assert!(e.starts_with(says), "{src}: {e}");
        }
    }

    #[test]
    fn escapes_and_precedence() {
        let Expr::Lit(Lit::Str(s)) = parse(r#""\x41\u00e9\101\n""#).unwrap() else { panic!() };
        assert_eq!(s, "AéA\n");
        // `a || b && c` groups as `a || (b && c)`.
        assert!(matches!(parse("a || b && c").unwrap(), Expr::Or(_, r) if matches!(*r, Expr::And(..))));
        assert!(parse("self.oldSelf").is_ok_and(|e| !e.mentions("oldSelf")));
        assert!(parse("self == oldSelf").is_ok_and(|e| e.mentions("oldSelf")));
    }
}

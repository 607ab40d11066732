//! The built-in templates, compiled once into a few instructions and run without Tera.
//!
//! Tera interprets a template anew for every object: it looks each path up through its call
//! stack and passes every value through its filter machinery, for every object of a build.
//! The built-in templates use a small part of the language (text,
//! `{{ path }}`, the filters `q` and `yaml(indent=N)`, `if`, `for … in`, `include` and
//! comments, with Tera's whitespace control), so they are compiled here into a tree that
//! writes the same bytes directly. The templates stay the single source of what the output
//! looks like; this is only a faster way to run them.
//!
//! Anything outside that subset, in the text or at run time (an undefined variable, a
//! float, a loop over a map), makes [`compile`] or [`Program::render`] give up, and the
//! caller falls back to Tera, which renders it or reports the error as it always did. User
//! overrides always run on Tera. The tests render every fixture and hostile values both
//! ways and require identical bytes.

use std::collections::HashMap;

use super::filters;
use crate::yaml::write::{Node, Shape};

/// How a value is written out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Filter {
    /// `{{ path }}`: strings as they are, integers and booleans as text.
    Raw,
    /// `{{ path | q }}`.
    Q,
    /// `{{ path | yaml(indent=N) }}`.
    Yaml(usize),
}

/// A template as parsed: paths as written, includes by name.
#[derive(Debug, Clone)]
enum Op {
    Text(String),
    Out(Vec<String>, Filter),
    If(Vec<String>, Vec<Op>),
    For(String, Vec<String>, Vec<Op>),
    Include(String),
}

/// A template linked for running: includes inlined, and every path's first name resolved
/// once, to a loop variable or to a slot of the context's top level, so that an object's
/// dozen lookups cost an index each instead of a scan of the context's keys.
#[derive(Debug, Clone)]
enum Step {
    Text(String),
    Out(Path, Filter),
    If(Path, Vec<Step>),
    For(Path, Vec<Step>),
}

/// A path whose first name is resolved (see [`Step`]).
#[derive(Debug, Clone)]
struct Path {
    root: Root,
    rest: Vec<Segment>,
}

/// Where a path starts.
#[derive(Debug, Clone, Copy)]
enum Root {
    /// The loop variable of the `n`th enclosing loop, outermost first.
    Local(usize),
    /// The value of the context's top-level key in this slot of [`Linked::names`].
    Context(usize),
}

/// A later part of a path: a key of a mapping, or, on a sequence, its position (what the
/// key reads as, parsed once).
#[derive(Debug, Clone)]
struct Segment {
    key: String,
    index: Option<usize>,
}

/// A template ready to run.
#[derive(Debug)]
struct Linked {
    steps: Vec<Step>,
    /// The context's top-level keys the template reads, by slot.
    names: Vec<String>,
}

/// A token before whitespace control and nesting are applied.
#[derive(Debug)]
enum Token {
    Text(String),
    /// A tag with its `-` markers (left, right).
    Tag(bool, bool, Tag),
}

#[derive(Debug)]
enum Tag {
    Out(Vec<String>, Filter),
    If(Vec<String>),
    EndIf,
    For(String, Vec<String>),
    EndFor,
    Include(String),
    Comment,
}

/// The compiled built-in templates, by name.
#[derive(Debug, Default)]
pub(super) struct Program {
    templates: foldhash::HashMap<String, Linked>,
}

/// Includes nested deeper than this are taken for a cycle, and the template left to Tera.
const MAX_INCLUDE_DEPTH: usize = 8;

impl Program {
    /// Compiles every template that stays within the subset (and includes only such
    /// templates); the others are left to Tera.
    pub(super) fn new<'a>(templates: impl IntoIterator<Item = (&'a str, &'a str)>) -> Program {
        let parsed: HashMap<String, Vec<Op>> =
            templates.into_iter().filter_map(|(n, t)| Some((n.to_string(), compile(t)?))).collect();
        let templates = parsed
            .iter()
            .filter_map(|(name, ops)| {
                let mut names = Vec::new();
                let steps = link(ops, &parsed, &mut Vec::new(), &mut names, 0)?;
                Some((name.clone(), Linked { steps, names }))
            })
            .collect();
        Program { templates }
    }

    /// Renders `name` with `context`; `None` when the template is not compiled or needs
    /// something only Tera does (then Tera must render it).
    pub(super) fn render<'v>(&self, name: &str, context: impl Node<'v>) -> Option<String> {
        let mut out = String::with_capacity(1024);
        self.render_into(name, context, &mut out)?;
        Some(out)
    }

    /// Renders `name` with `context` at the end of `out`, as [`Program::render`] does; on
    /// `None`, `out` is as it was.
    pub(super) fn render_into<'v>(&self, name: &str, context: impl Node<'v>, out: &mut String) -> Option<()> {
        let template = self.templates.get(name)?;
        // The context's top level, looked up once for every path that starts there. The
        // first of equal keys wins, as a lookup would find it.
        let mut slots = vec![None; template.names.len()];
        for (key, value) in context.entries() {
            if let Some(slot) = template.names.iter().position(|n| n == key)
                && slots[slot].is_none()
            {
                slots[slot] = Some(value);
            }
        }
        let start = out.len();
        let mut locals = Vec::new();
        let done = run(&template.steps, &slots, &mut locals, out);
        if done.is_none() {
            out.truncate(start);
        }
        done
    }
}

/// Resolves `ops` in the scope of the loop variables `scope` (outermost first), inlining
/// includes; `names` collects the top-level keys read. `None` when an include is missing
/// (not compiled) or nested too deep.
fn link<'o>(
    ops: &'o [Op],
    parsed: &'o HashMap<String, Vec<Op>>,
    scope: &mut Vec<&'o str>,
    names: &mut Vec<String>,
    depth: usize,
) -> Option<Vec<Step>> {
    let mut steps = Vec::with_capacity(ops.len());
    for op in ops {
        match op {
            Op::Text(t) => steps.push(Step::Text(t.clone())),
            Op::Out(p, f) => steps.push(Step::Out(resolve(p, scope, names)?, *f)),
            Op::If(p, body) => {
                let path = resolve(p, scope, names)?;
                steps.push(Step::If(path, link(body, parsed, scope, names, depth)?));
            }
            Op::For(var, p, body) => {
                let path = resolve(p, scope, names)?;
                scope.push(var);
                let body = link(body, parsed, scope, names, depth);
                scope.pop();
                steps.push(Step::For(path, body?));
            }
            Op::Include(name) if depth < MAX_INCLUDE_DEPTH => {
                steps.extend(link(parsed.get(name)?, parsed, scope, names, depth + 1)?);
            }
            Op::Include(_) => return None,
        }
    }
    Some(steps)
}

/// A path as written, resolved in `scope`: the innermost loop variable of its first name,
/// else a slot of the context's top level.
fn resolve(path: &[String], scope: &[&str], names: &mut Vec<String>) -> Option<Path> {
    let (first, rest) = path.split_first()?;
    let root = match scope.iter().rposition(|v| v == first) {
        Some(i) => Root::Local(i),
        None => Root::Context(match names.iter().position(|n| n == first) {
            Some(slot) => slot,
            None => {
                names.push(first.clone());
                names.len() - 1
            }
        }),
    };
    let rest = rest.iter().map(|k| Segment { key: k.clone(), index: k.parse().ok() }).collect();
    Some(Path { root, rest })
}

fn run<'v, N: Node<'v>>(steps: &[Step], slots: &[Option<N>], locals: &mut Vec<N>, out: &mut String) -> Option<()> {
    for step in steps {
        match step {
            Step::Text(t) => out.push_str(t),
            Step::Out(path, filter) => write_value(lookup(slots, locals, path)?, *filter, out)?,
            Step::If(path, body) => {
                if lookup(slots, locals, path).is_some_and(truthy) {
                    run(body, slots, locals, out)?;
                }
            }
            Step::For(path, body) => {
                let items = lookup(slots, locals, path)?;
                let Shape::Seq(_) = items.shape() else { return None };
                for item in items.items() {
                    locals.push(item);
                    let done = run(body, slots, locals, out);
                    locals.pop();
                    done?;
                }
            }
        }
    }
    Some(())
}

/// The value at a resolved path.
fn lookup<'v, N: Node<'v>>(slots: &[Option<N>], locals: &[N], path: &Path) -> Option<N> {
    let mut v = match path.root {
        Root::Local(i) => *locals.get(i)?,
        Root::Context(slot) => (*slots.get(slot)?)?,
    };
    for seg in &path.rest {
        v = match v.shape() {
            Shape::Map(_) => v.get(&seg.key)?,
            Shape::Seq(_) => v.items().nth(seg.index?)?,
            _ => return None,
        };
    }
    Some(v)
}

/// Tera's truthiness: empty strings and collections, zero, false and null are false.
fn truthy<'v>(v: impl Node<'v>) -> bool {
    match v.shape() {
        Shape::Null => false,
        Shape::Bool(b) => b,
        Shape::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Shape::Str(s) => !s.is_empty(),
        Shape::Seq(n) | Shape::Map(n) => n > 0,
    }
}

fn write_value<'v>(v: impl Node<'v>, filter: Filter, out: &mut String) -> Option<()> {
    match filter {
        Filter::Yaml(indent) => filters::block_into(out, v, indent),
        Filter::Q => filters::q_into(out, v)?,
        Filter::Raw => match v.shape() {
            Shape::Str(s) => out.push_str(s),
            Shape::Bool(b) => out.push_str(if b { "true" } else { "false" }),
            // Tera formats floats its own way: leave those to it.
            Shape::Number(n) if n.is_i64() || n.is_u64() => crate::yaml::write::number_into(out, n),
            _ => return None,
        },
    }
    Some(())
}

/// Compiles a template, or `None` when it uses anything outside the subset.
fn compile(text: &str) -> Option<Vec<Op>> {
    let mut tokens = tokenize(text)?;
    apply_whitespace_control(&mut tokens);
    let mut iter = tokens.into_iter();
    let (ops, end) = nest(&mut iter)?;
    end.is_none().then_some(ops)
}

fn tokenize(text: &str) -> Option<Vec<Token>> {
    let mut tokens = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        let opener = rest[start..].get(..2);
        let close = match opener {
            Some("{{") => "}}",
            Some("{%") => "%}",
            Some("{#") => "#}",
            _ => {
                // A lone `{` is text.
                let (lit, tail) = rest.split_at(start + 1);
                push_text(&mut tokens, lit);
                rest = tail;
                continue;
            }
        };
        push_text(&mut tokens, &rest[..start]);
        let body_start = start + 2;
        let end = body_start + rest[body_start..].find(close)?;
        let inner = &rest[body_start..end];
        rest = &rest[end + 2..];
        let left = inner.starts_with('-');
        let right = inner.ends_with('-') && inner.len() > usize::from(left);
        let inner = inner.strip_prefix('-').unwrap_or(inner);
        let inner = if right { &inner[..inner.len() - 1] } else { inner };
        let tag = match opener {
            Some("{#") => Tag::Comment,
            Some("{{") => expression(inner.trim())?,
            _ => statement(inner.trim())?,
        };
        tokens.push(Token::Tag(left, right, tag));
    }
    push_text(&mut tokens, rest);
    Some(tokens)
}

fn push_text(tokens: &mut Vec<Token>, s: &str) {
    if !s.is_empty() {
        match tokens.last_mut() {
            Some(Token::Text(t)) => t.push_str(s),
            _ => tokens.push(Token::Text(s.to_string())),
        }
    }
}

fn path(s: &str) -> Option<Vec<String>> {
    let ok = !s.is_empty()
        && s.split('.').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
    ok.then(|| s.split('.').map(str::to_string).collect())
}

fn expression(s: &str) -> Option<Tag> {
    let (p, filter) = match s.split_once('|') {
        None => (s, Filter::Raw),
        Some((p, f)) => {
            let f: String = f.chars().filter(|c| !c.is_whitespace()).collect();
            let filter = if f == "q" {
                Filter::Q
            } else {
                let n = f.strip_prefix("yaml(indent=")?.strip_suffix(')')?;
                Filter::Yaml(n.parse().ok()?)
            };
            (p.trim(), filter)
        }
    };
    Some(Tag::Out(path(p)?, filter))
}

fn statement(s: &str) -> Option<Tag> {
    let words: Vec<&str> = s.split_whitespace().collect();
    Some(match words[..] {
        ["if", p] => Tag::If(path(p)?),
        ["endif"] => Tag::EndIf,
        ["for", var, "in", p] => Tag::For(path(var)?.pop()?, path(p)?),
        ["endfor"] => Tag::EndFor,
        ["include", name] => Tag::Include(name.strip_prefix('"')?.strip_suffix('"')?.to_string()),
        _ => return None,
    })
}

/// Tera's whitespace control: `{%-` trims the whitespace that ends the text before the tag,
/// `-%}` the whitespace that starts the text after it. Tera does not apply the right-hand
/// trim of a comment that opens the template.
fn apply_whitespace_control(tokens: &mut [Token]) {
    for i in 0..tokens.len() {
        let Token::Tag(left, right, ref tag) = tokens[i] else { continue };
        let leading_comment = i == 0 && matches!(tag, Tag::Comment);
        if left
            && i > 0
            && let Token::Text(t) = &mut tokens[i - 1]
        {
            let n = t.trim_end().len();
            t.truncate(n);
        }
        if right
            && !leading_comment
            && let Some(Token::Text(t)) = tokens.get_mut(i + 1)
        {
            *t = t.trim_start().to_string();
        }
    }
}

/// Builds the tree; returns the ops up to the closing tag that ended them (if any).
fn nest(tokens: &mut impl Iterator<Item = Token>) -> Option<(Vec<Op>, Option<Tag>)> {
    let mut ops = Vec::new();
    while let Some(t) = tokens.next() {
        match t {
            Token::Text(s) if s.is_empty() => {}
            Token::Text(s) => ops.push(Op::Text(s)),
            Token::Tag(_, _, tag) => match tag {
                Tag::Comment => {}
                Tag::Out(p, f) => ops.push(Op::Out(p, f)),
                Tag::Include(n) => ops.push(Op::Include(n)),
                Tag::If(p) => match nest(tokens)? {
                    (body, Some(Tag::EndIf)) => ops.push(Op::If(p, body)),
                    _ => return None,
                },
                Tag::For(v, p) => match nest(tokens)? {
                    (body, Some(Tag::EndFor)) => ops.push(Op::For(v, p, body)),
                    _ => return None,
                },
                end @ (Tag::EndIf | Tag::EndFor) => return Some((ops, Some(end))),
            },
        }
    }
    Some((ops, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same bytes as Tera, on the whitespace cases the built-ins rely on.
    #[test]
    fn whitespace_control_matches_tera() {
        let ctx = serde_json::json!({"n": "x", "e": true, "f": false, "l": [{"k": 1}, {"k": "s"}], "i": 7});
        for t in [
            "a \n{#- c -#}\n b",
            "a\n{# c #}\nb",
            "{#- c -#}\n\nx",
            "x {{- n -}} \ny",
            "{% if e -%}\n  a\n{%- endif %}\nb",
            "{% if f %}no{% endif %}\nyes",
            "{% for p in l %}\n- {{ p.k }}{% endfor %}",
            "k:{{ l | yaml(indent=2) }}\nq: {{ n | q }} {{ i }}",
        ] {
            let mut tera = tera::Tera::default();
            tera.autoescape_on(vec![]);
            tera.register_filter("q", filters::q_filter);
            tera.register_filter("yaml", filters::yaml_filter);
            tera.add_raw_template("t", t).unwrap();
            let want = tera.render("t", &tera::Context::from_value(ctx.clone()).unwrap()).unwrap();
            let program = Program::new([("t", t)]);
            assert_eq!(program.render("t", &ctx).as_deref(), Some(want.as_str()), "{t:?}");
            let tape = super::super::tape::Tape::new(&ctx);
            assert_eq!(program.render("t", tape.root()).as_deref(), Some(want.as_str()), "{t:?}");
        }
    }

    #[test]
    fn anything_else_is_left_to_tera() {
        for t in
            ["{% if a %}x{% else %}y{% endif %}", "{{ a | upper }}", "{% set a = 1 %}", "{{ a + 1 }}", "{% if a %}"]
        {
            assert!(compile(t).is_none(), "{t}");
        }
        let program = Program::new([("t", "{{ missing }}"), ("f", "{{ x }}")]);
        assert_eq!(program.render("t", &serde_json::json!({})), None);
        assert_eq!(program.render("f", &serde_json::json!({"x": 1.5})), None);
    }
}

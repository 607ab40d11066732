//! A small CEL (Common Expression Language) implementation for `x-kubernetes-validations`.
//!
//! # Why hand-written rather than the `cel` crate
//!
//! The 382 rules in Istio's CRDs are 31 distinct expressions that use a narrow subset of CEL:
//! literals, `has()`, `all`/`exists`/`exists_one`, `?:`, `&&`/`||`/`!`, comparisons, `in`,
//! `+`, `size`, `contains`/`startsWith`/`endsWith`/`matches`, `int()`, `duration()`, plus
//! two Kubernetes extensions: `substring()` (strings library) and `url().getScheme()`.
//!
//! * Weight: `cel` 0.15 pulls in 47 crates (antlr4rust, chrono, chrono-tz, parking_lot, nom,
//!   uuid, …), several times the build time of `regex` alone, which meshgen already compiles
//!   (through `ignore` and `tera`). This module adds no crate beyond `regex`.
//! * Semantics we must get exactly right are the Kubernetes ones, not the generic CEL ones:
//!   `duration()` must parse Go duration strings (`1µs`, `.5s`), `url()` must accept what
//!   Go's `net/url.ParseRequestURI` accepts, a `null` in a non-nullable field is pruned before
//!   rules run, and `matches()` uses RE2's ASCII `\d`/`\w`. With the crate we would have had to
//!   register `substring`, `url`, `getScheme` ourselves and wrap its value conversion anyway.
//! * Loading must fail for any rule we do not understand. The parser here rejects every
//!   construct outside the subset, and the checker ([`check`]) type-checks each rule against
//!   its schema node like the API server does at CRD creation, so unknown functions, wrong
//!   overloads and undeclared fields are load errors rather than run-time surprises.
//!
//! Cost limits and `messageExpression` are not implemented (none of these CRDs rely on them;
//! `messageExpression` and `fieldPath` are refused at load time).

mod check;
mod eval;
mod lex;
mod stdlib;
mod syntax;

use serde_json::Value;

use super::schema::Schema;

/// A compiled (parsed and type-checked) validation rule.
#[derive(Debug)]
pub(crate) struct Program {
    expr: syntax::Expr,
    transition: bool,
}

impl Program {
    /// Parses `src` and type-checks it with `self` typed from `node`.
    pub(crate) fn compile(src: &str, node: &Schema) -> Result<Program, String> {
        let expr = syntax::parse(src)?;
        let mut env = check::Env::new(check::schema_type(node));
        let ty = check::check(&expr, &mut env)?;
        if !matches!(ty, check::Ty::Bool | check::Ty::Dyn) {
            return Err(format!("rule must evaluate to a bool, found {ty:?}"));
        }
        let transition = expr.mentions("oldSelf");
        Ok(Program { expr, transition })
    }

    /// Whether the rule compares with the previous object (`oldSelf`): such transition
    /// rules only run on updates, so validation of a single object skips them.
    pub(crate) fn is_transition(&self) -> bool {
        self.transition
    }

    /// Evaluates the rule with `self` bound to `value` (described by `node`).
    /// `Ok(false)` means the rule failed; `Err` is an evaluation error (which also rejects
    /// the object in the API server).
    pub(crate) fn eval(&self, value: &Value, node: &Schema) -> Result<bool, String> {
        let mut scope = eval::Scope::new(eval::from_json(value, Some(node)));
        match eval::eval(&self.expr, &mut scope)? {
            eval::Val::Bool(b) => Ok(b),
            other => Err(format!("rule did not evaluate to a bool: {other:?}")),
        }
    }
}

//! The templates' filters `q` and `yaml`: the only way inventory values reach YAML output.
//! They write through [`crate::yaml::write`], which says why the result cannot change the
//! structure of the output.

use std::collections::HashMap;

use serde_json::Value;

pub use crate::yaml::write::{block, block_into, q_into, scalar, scalar_into};

/// Tera filter `q`: a string (or number or boolean) as a YAML scalar.
pub fn q_filter(v: &Value, _: &HashMap<String, Value>) -> tera::Result<Value> {
    let mut out = String::new();
    q_into(&mut out, v)
        .ok_or_else(|| tera::Error::msg("filter `q` takes a string, number or boolean; use `yaml` for collections"))?;
    Ok(Value::String(out))
}

/// Tera filter `yaml(indent=N)`: any value as YAML (see [`block`]).
pub fn yaml_filter(v: &Value, args: &HashMap<String, Value>) -> tera::Result<Value> {
    let indent = match args.get("indent") {
        None => 0,
        Some(n) => n.as_u64().ok_or_else(|| tera::Error::msg("filter `yaml`: `indent` must be a number"))? as usize,
    };
    Ok(Value::String(block(v, indent)))
}

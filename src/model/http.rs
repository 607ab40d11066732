//! Istio's HTTP route settings that a route passes through as written: header manipulation,
//! CORS, redirects and direct responses. The shapes are Istio's own (VirtualService
//! `Headers`, `CorsPolicy`, `HTTPRedirect`, `HTTPDirectResponse`), so they read the same in
//! the inventory and in the output; `routes` checks what Istio's webhook would refuse.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::raw::StringMatch;

/// Istio's Headers: changes to a rule's (or a destination's) requests and responses.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Headers {
    /// Changes to the request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<HeaderOperations>,
    /// Changes to the response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<HeaderOperations>,
}

/// Istio's HeaderOperations.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HeaderOperations {
    /// Headers set, replacing any value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set: Option<BTreeMap<String, String>>,
    /// Headers appended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub add: Option<BTreeMap<String, String>>,
    /// Headers removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remove: Option<Vec<String>>,
}

/// Istio's CorsPolicy.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CorsPolicy {
    /// Origins allowed, as string matches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_origins: Option<Vec<StringMatch>>,
    /// Methods allowed (`Access-Control-Allow-Methods`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_methods: Option<Vec<String>>,
    /// Request headers allowed (`Access-Control-Allow-Headers`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_headers: Option<Vec<String>>,
    /// Response headers the browser may read (`Access-Control-Expose-Headers`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expose_headers: Option<Vec<String>>,
    /// How long a preflight may be cached (Go duration).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_age: Option<String>,
    /// Whether credentials may be sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_credentials: Option<bool>,
    /// `FORWARD` or `IGNORE` preflights that match no origin.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unmatched_preflights: Option<String>,
}

/// Istio's HTTPRedirect.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Redirect {
    /// Replaces the path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// Replaces the authority.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authority: Option<String>,
    /// Replaces the port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    /// `FROM_PROTOCOL_DEFAULT` or `FROM_REQUEST_PORT` (instead of `port`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub derive_port: Option<String>,
    /// Replaces the scheme.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    /// The status code (default 301).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_code: Option<u32>,
}

/// Istio's HTTPDirectResponse.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DirectResponse {
    /// Status code, 200–599.
    pub status: u32,
    /// The body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<Body>,
}

/// Istio's HTTPBody: text or base64 bytes.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Body {
    /// Text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub string: Option<String>,
    /// Base64-encoded bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<String>,
}

/// Istio's RegexRewrite: `uriRegexRewrite` of a route's `rewrite`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RegexRewrite {
    /// RE2 expression matched against the path.
    #[serde(rename = "match")]
    pub pattern: String,
    /// The replacement, with `\1` for groups.
    pub rewrite: String,
}

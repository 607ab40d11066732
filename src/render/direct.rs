//! The built-in templates written straight from their typed contexts: the fast path of a
//! build that overrides no template.
//!
//! The general path serialises each object's context (a [`super::api`] type) into a
//! [`super::tape::Tape`] and runs the compiled template over it (`compiled`), or Tera over
//! its JSON for an override. For the built-ins both the tape and the walk are overhead: the
//! layout of every built-in template is fixed, so each kind's [`Layout`] writes its text in
//! the template's order, its `{{ v | q }}` through [`scalar_into`], its
//! `{{ v | yaml(indent=N) }}` through [`block_of`] (the block writer as a serde serialiser,
//! the same lines from the typed value), and its `{% if v %}` by the truth the writer
//! reports. What every object shares, its labels and the annotation's key, is escaped once
//! per build ([`Head`]).
//!
//! An overridden template never comes here (`Templates::builtins_only`), and an error
//! (a value JSON cannot hold) sends the object back to the general path, which reports it
//! as it always did. The tests render every built-in kind of every fixture, the bundled
//! project and a synthetic estate both ways and require identical bytes; a change to a
//! built-in template must be made here too, which those tests enforce.

use serde::Serialize;

use super::api::{self, Spec};
use super::context::{ObjectLabels, SOURCE_ANNOTATION};
use crate::yaml::write::{Error, block_of, joined_into, number_into, scalar_into};

/// How a kind's template lays out its `spec`.
pub trait Layout: Spec {
    /// Writes the `spec:` block (from the line break before `spec:`) at the end of `out`.
    fn spec(&self, out: &mut String) -> Result<(), Error>;
}

/// What the text of every object of a build shares, escaped once.
#[derive(Debug)]
pub struct Head {
    /// The `labels` block of `metadata`, after `labels:`.
    labels: String,
    /// The `annotations` block up to the source annotation's value.
    annotation: String,
}

impl Head {
    /// The shared parts of a build's objects, from the project's labels; `None` should they
    /// not be writable (they always are: string keys), which leaves every object to the
    /// general path.
    pub fn new(inv: &crate::model::Inventory) -> Option<Head> {
        let mut labels = String::new();
        block_of(&mut labels, &ObjectLabels(&inv.project.labels), 4).ok()?;
        let mut annotation = String::from("\n  annotations:\n    ");
        scalar_into(&mut annotation, SOURCE_ANNOTATION);
        annotation.push_str(": ");
        Some(Head { labels, annotation })
    }

    /// Writes `context` at the end of `out` as its kind's built-in template renders it (before
    /// `render_one` trims the blank lines around it).
    pub fn write<S: Layout>(&self, context: &api::Context<S>, out: &mut String) -> Result<(), Error> {
        let m = &context.metadata;
        out.push_str("apiVersion: ");
        scalar_into(out, context.api_version);
        out.push_str("\nkind: ");
        out.push_str(S::KIND.as_str());
        out.push_str("\nmetadata:\n  name: ");
        scalar_into(out, m.name);
        out.push_str("\n  namespace: ");
        scalar_into(out, m.namespace);
        out.push_str("\n  labels:");
        out.push_str(&self.labels);
        out.push_str(&self.annotation);
        let source = m.annotations.0;
        joined_into(out, &[&source.file, "#", &source.path]);
        out.push_str("\nspec:");
        context.spec.spec(out)?;
        out.push('\n');
        Ok(())
    }
}

/// `key:{{ v | yaml(indent=N) }}`.
fn block<T: Serialize + ?Sized>(out: &mut String, key: &str, v: &T, indent: usize) -> Result<(), Error> {
    out.push_str(key);
    block_of(out, v, indent)?;
    Ok(())
}

/// `{% if v %}key:{{ v | yaml(indent=N) }}{% endif %}`: written, then taken back if the
/// value is false for the `if` (an absent field is never written).
fn optional<T: Serialize>(out: &mut String, key: &str, v: &Option<T>, indent: usize) -> Result<(), Error> {
    if let Some(v) = v {
        let mark = out.len();
        out.push_str(key);
        if !block_of(out, v, indent)? {
            out.truncate(mark);
        }
    }
    Ok(())
}

/// `key: {{ v | q }}`.
fn q(out: &mut String, key: &str, v: &str) {
    out.push_str(key);
    scalar_into(out, v);
}

/// `{% if v %}key: {{ v | q }}{% endif %}`.
fn optional_q(out: &mut String, key: &str, v: Option<&str>) {
    if let Some(v) = v.filter(|v| !v.is_empty()) {
        q(out, key, v);
    }
}

/// `{% if v %}key: {{ v }}{% endif %}` of a number.
fn optional_number(out: &mut String, key: &str, v: Option<u32>) {
    if let Some(v) = v.filter(|v| *v != 0) {
        out.push_str(key);
        number_into(out, &v.into());
    }
}

/// A field a template writes whatever it is: its absence is an error of the general path
/// (an undefined variable), so it is left to that path.
fn required<T>(v: Option<T>) -> Result<T, Error> {
    v.ok_or_else(|| <Error as serde::ser::Error>::custom("a field the template writes is absent"))
}

impl Layout for api::AuthorizationPolicy<'_> {
    fn spec(&self, out: &mut String) -> Result<(), Error> {
        block(out, "\n  selector:", &self.selector, 4)?;
        q(out, "\n  action: ", self.action);
        optional(out, "\n  rules:", &self.rules, 4)
    }
}

impl Layout for api::DestinationRule<'_> {
    fn spec(&self, out: &mut String) -> Result<(), Error> {
        q(out, "\n  host: ", self.host);
        optional(out, "\n  workloadSelector:", &self.workload_selector, 4)?;
        optional(out, "\n  trafficPolicy:", &self.traffic_policy, 4)?;
        optional(out, "\n  subsets:", &self.subsets, 4)?;
        optional(out, "\n  exportTo:", &self.export_to, 4)
    }
}

impl Layout for api::Gateway<'_> {
    fn spec(&self, out: &mut String) -> Result<(), Error> {
        block(out, "\n  selector:", self.selector, 4)?;
        block(out, "\n  servers:", &self.servers, 4)
    }
}

impl Layout for api::ServiceEntry<'_> {
    fn spec(&self, out: &mut String) -> Result<(), Error> {
        block(out, "\n  hosts:", &self.hosts, 4)?;
        optional(out, "\n  addresses:", &self.addresses, 4)?;
        out.push_str("\n  ports:");
        for p in &self.ports {
            q(out, "\n    - name: ", p.name);
            out.push_str("\n      number: ");
            number_into(out, &p.number.into());
            q(out, "\n      protocol: ", p.protocol);
            optional_number(out, "\n      targetPort: ", p.target_port);
        }
        q(out, "\n  location: ", self.location);
        q(out, "\n  resolution: ", self.resolution);
        optional(out, "\n  workloadSelector:\n    labels:", &self.workload_selector, 6)?;
        optional(out, "\n  endpoints:", &self.endpoints, 4)?;
        optional(out, "\n  subjectAltNames:", &self.subject_alt_names, 4)?;
        optional(out, "\n  exportTo:", &self.export_to, 4)
    }
}

impl Layout for api::Sidecar<'_> {
    fn spec(&self, out: &mut String) -> Result<(), Error> {
        block(out, "\n  workloadSelector:", &self.workload_selector, 4)?;
        block(out, "\n  egress:", &self.egress, 4)?;
        optional(out, "\n  outboundTrafficPolicy:", &self.outbound_traffic_policy, 4)
    }
}

impl Layout for api::VirtualService<'_> {
    fn spec(&self, out: &mut String) -> Result<(), Error> {
        block(out, "\n  hosts:", &self.hosts, 4)?;
        optional(out, "\n  gateways:", &self.gateways, 4)?;
        optional(out, "\n  http:", &self.http, 4)?;
        optional(out, "\n  tls:", &self.tls, 4)?;
        optional(out, "\n  tcp:", &self.tcp, 4)?;
        optional(out, "\n  exportTo:", &self.export_to, 4)
    }
}

impl Layout for api::Workload<'_> {
    fn spec(&self, out: &mut String) -> Result<(), Error> {
        q(out, "\n  address: ", self.address);
        block(out, "\n  labels:", required(self.labels)?, 4)?;
        optional(out, "\n  ports:", &self.ports, 4)?;
        optional_q(out, "\n  locality: ", self.locality);
        optional_q(out, "\n  network: ", self.network);
        optional_number(out, "\n  weight: ", self.weight);
        optional_q(out, "\n  serviceAccount: ", self.service_account);
        Ok(())
    }
}

impl Layout for api::WorkloadGroup<'_> {
    fn spec(&self, out: &mut String) -> Result<(), Error> {
        block(out, "\n  metadata:\n    labels:", self.labels, 6)?;
        block(out, "\n  template:", &self.template, 4)?;
        optional(out, "\n  probe:", &self.probe, 4)
    }
}

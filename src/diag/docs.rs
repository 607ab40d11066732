//! Where messages send a reader: sections of meshgen's documentation, by title, and
//! `meshgen` commands. Never a repository path: someone with only the binary or the
//! container image has no `docs/` directory.

/// The reference of every inventory field and its shape.
pub const INVENTORY: &str = "\"The inventory language\" in meshgen's documentation";

/// How environments and clusters are declared.
pub const ENVIRONMENTS: &str = "\"Environments and clusters\" in meshgen's documentation";

/// The permissions `diff --cluster` needs.
pub const DIFF_PERMISSIONS: &str = "\"Permissions\" of \"meshgen diff\" in meshgen's documentation";

/// The section explaining the diagnostic `code`.
pub fn check(code: &str) -> String {
    format!("`{code}` under \"Checks\" in meshgen's documentation")
}

/// What to do with an existing Kubernetes or Istio manifest. One place, so that it names
/// `meshgen import` once that command exists.
pub const MANIFEST_MIGRATION: &str = "convert existing Istio YAML with `meshgen import FILE...` (in an empty directory), or keep manifests meshgen does not generate beside its output (e.g. in the same kustomization as `out/`)";

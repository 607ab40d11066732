//! The text `--help` ends with, per command: examples, and the exit codes the command
//! really returns (see each command's module; `tests/flags.rs` snapshots every `--help`).

/// `meshgen --help`.
pub(super) const MESHGEN: &str = "\
Examples:
  meshgen check                      # analyse the project of this directory (or a parent)
  meshgen build                      # write the manifests into the output directory
  meshgen build --check              # CI: exit 1 if the output directory is stale
  meshgen -C deploy/mesh build -o json
  meshgen diff --against ../main/out -o markdown

Environment:
  MESHGEN_PROJECT, MESHGEN_COLOR, MESHGEN_ENV, MESHGEN_CRDS, MESHGEN_TEMPLATES
  set --project, --color, --env, --crds and --templates; a flag beats its variable.
  NO_COLOR turns colour off (with --color auto).

Exit codes:
  0  success
  1  findings: the inventory has errors, the output is out of date, diff found changes
  2  usage, I/O, template or cluster errors
Each command's --help lists its own.";

/// `meshgen build --help`.
pub(super) const BUILD: &str = "\
Examples:
  meshgen build                      # into the project's output directory (default out/)
  meshgen build --check              # write nothing; exit 1 with a diff if out/ is stale
  meshgen build --stdout | kubectl apply -f -
  meshgen build --env prod --out-dir /tmp/prod
  meshgen build -o github            # diagnostics as GitHub Actions annotations
  meshgen build -q                   # errors only

Exit codes:
  0  built (or, with --check, up to date); warnings do not fail the build
  1  the inventory has errors (warnings too, with --deny warnings), or --check found the
     output directory out of date; nothing was written
  2  usage, I/O or template errors";

/// `meshgen check --help`.
pub(super) const CHECK: &str = "\
Examples:
  meshgen check                      # findings with source excerpts, a summary on stderr
  meshgen check -o sarif > meshgen.sarif
  meshgen check --deny warnings -o concise
  meshgen check --crds path/to/istio-crds
  meshgen check --env prod --cluster prod-eu-west2
  meshgen check --live -o github     # also other owners' live objects that meet ours

Exit codes:
  0  no errors (warnings are reported but do not fail, unless --deny warnings)
  1  the inventory has errors
  2  usage or I/O errors (a missing project file, an unknown --allow code, a cluster that
     cannot be read with --live)";

/// `meshgen graph --help`.
pub(super) const GRAPH: &str = "\
Examples:
  meshgen graph                      # Mermaid, renders on GitHub in a ```mermaid block
  meshgen graph -o dot | dot -Tsvg > graph.svg
  meshgen graph -o json -n shop      # one namespace and its neighbours
  meshgen graph --focus catalog --depth 2

Exit codes:
  0  the graph was printed
  1  the inventory has errors (nothing is printed)
  2  usage or I/O errors (an unknown namespace or entity)";

/// `meshgen explain --help`.
pub(super) const EXPLAIN: &str = "\
Examples:
  meshgen explain catalog            # its objects, their files and the inventory lines behind them
  meshgen explain Sidecar/shop/catalog
  meshgen explain out/shop/serviceentry-catalog.yaml
  meshgen explain --impact payments -o json

Exit codes:
  0  explained
  1  the inventory has errors
  2  usage or I/O errors (a target that is no entity, object or output file)";

/// `meshgen diff --help`.
pub(super) const DIFF: &str = "\
Examples:
  meshgen diff --cluster                         # against the live cluster (read-only)
  meshgen diff --cluster prod-eu-west2 --context prod -n shop,data
  meshgen diff --cluster --server-side --field-manager argocd-controller
  meshgen diff --against ../main/out -o markdown > comment.md
  meshgen diff --against ../main/out -o json | jq .summary

Exit codes (as kubectl diff):
  0  nothing would change
  1  something would change (or conflicts with another field manager, with --server-side)
  2  errors, including an inventory with errors (there is nothing to compare then), and a
     namespace of -n that holds nothing on either side";

/// `meshgen templates --help`.
pub(super) const TEMPLATES: &str = "\
Examples:
  meshgen templates list             # the built-in templates, and those the project overrides
  meshgen templates eject virtual-service

Exit codes:
  0  done
  2  usage or I/O errors (see each command's --help)";

/// `meshgen templates list --help`.
pub(super) const TEMPLATES_LIST: &str = "\
Examples:
  meshgen templates list
  meshgen templates list --templates my-templates

Exit codes:
  0  listed
  2  usage or I/O errors (an unreadable template directory)";

/// `meshgen templates eject --help`.
pub(super) const TEMPLATES_EJECT: &str = "\
Examples:
  meshgen templates eject                        # every template, into templates/
  meshgen templates eject virtual-service --to my-templates
  meshgen -C deploy/mesh templates eject         # into deploy/mesh/templates/

Exit codes:
  0  written
  2  a file exists (use --force), an unknown template, or an I/O error";

/// `meshgen argocd --help`.
pub(super) const ARGOCD: &str = "\
Configured by ARGOCD_ENV_MESHGEN_* variables and parameters, never by MESHGEN_* variables;
of the global options only -C applies (the application's directory).

Examples:
  meshgen -C apps/mesh argocd generate
  meshgen -C apps/mesh argocd parameters

Exit codes:
  0  done
  1  the inventory has errors, or the render is empty
  2  bad settings or parameters, or I/O errors";

/// `meshgen argocd generate --help`.
pub(super) const ARGOCD_GENERATE: &str = "\
Run by argocd-cmp-server in the application's directory, configured by ARGOCD_ENV_MESHGEN_*
variables and parameters, never by MESHGEN_* variables; of the global options only -C
applies (the application's directory).

Examples:
  ARGOCD_ENV_MESHGEN_ENV=prod meshgen -C apps/mesh argocd generate   # try it locally

Exit codes:
  0  the manifests are on stdout
  1  the inventory has errors, or the render is empty (without allowEmpty: true)
  2  bad settings or parameters, or I/O errors";

/// `meshgen argocd parameters --help`.
pub(super) const ARGOCD_PARAMETERS: &str = "\
Examples:
  meshgen -C apps/mesh argocd parameters

Exit codes:
  0  the announcement is on stdout
  2  unreadable settings";

/// `meshgen completions --help`.
pub(super) const COMPLETIONS: &str = "\
Examples:
  meshgen completions bash > ~/.local/share/bash-completion/completions/meshgen
  meshgen completions zsh > \"${fpath[1]}/_meshgen\"
  meshgen completions fish > ~/.config/fish/completions/meshgen.fish
  meshgen completions powershell >> $PROFILE

Exit codes:
  0  printed
  2  usage errors";

/// `meshgen man --help`.
pub(super) const MAN: &str = "\
Examples:
  meshgen man | man -l -
  meshgen man --out-dir ~/.local/share/man/man1

Exit codes:
  0  printed or written
  2  usage or I/O errors";

/// `meshgen init --help`.
pub(super) const INIT: &str = "\
Creates meshgen.yaml, inventory/ (a VM service, a pod service and an external API, commented),
.meshgen/schemas/ (the JSON Schemas the files' `yaml-language-server` lines point at) and the
.gitignore entries for the build's lock file, in the current directory or in -C DIR (created
if missing). Nothing is overwritten: if any of these files exists, nothing is written.

Examples:
  meshgen init && meshgen check && meshgen build
  meshgen -C my-mesh init --minimal

Exit codes:
  0  created
  2  a file exists already, or it cannot be written";

/// `meshgen import --help`.
pub(super) const IMPORT: &str = "\
Reads ServiceEntries, WorkloadEntries, WorkloadGroups, DestinationRules, VirtualServices and
Gateways, groups them by host into services and external APIs, and writes meshgen.yaml and
inventory/<namespace>.yaml in the current directory or in -C DIR. The draft is compiled and
compared with the input: what the inventory language cannot say is kept as a `patch` on the
entity, and the report lists those patches, the objects built otherwise, those meshgen adds,
and every document it did not import (with file and document number). Objects keep their
names, so `meshgen diff --cluster` after an import shows no change of spec.
Nothing is overwritten: if meshgen.yaml or inventory/ exists, nothing is written.

Examples:
  kubectl get serviceentries,workloadentries,destinationrules,virtualservices -A -o yaml > live.yaml
  meshgen import --dry-run live.yaml
  meshgen -C new-project import --cluster -n shop,data     # the live objects, read-only
  meshgen -C new-project import manifests/ extra.yaml
  cat legacy.yaml | meshgen import -

Exit codes:
  0  imported (the report may list patches and differences to review)
  1  imported, but some documents were not (malformed YAML, other kinds): see the report
  2  usage errors, an unreadable path, or a project exists already";

/// `meshgen schema --help`.
pub(super) const SCHEMA: &str = "\
Editors read the schemas through a first line `# yaml-language-server: $schema=<path>`.

Examples:
  meshgen schema inventory > inventory.schema.json
  meshgen schema --out-dir .meshgen/schemas     # refresh the schemas `meshgen init` wrote

Exit codes:
  0  printed or written
  2  usage errors, or a file cannot be written";

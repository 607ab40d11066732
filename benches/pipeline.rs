//! Benchmarks of each pipeline stage on a synthetic 1,000-service inventory.
//!
//! ```text
//! cargo bench --bench pipeline                 # all stages, a few minutes
//! cargo bench --bench pipeline -- render       # one group
//! MESHGEN_BENCH_SERVICES=10000 cargo bench --bench pipeline
//! ```
//!
//! Every stage is measured on its own, its input prepared once outside the timed loop, with
//! the same public functions `meshgen::compile` composes (see `src/compile/mod.rs`); the
//! end-to-end benchmark is `meshgen::compile` itself, as `meshgen build --stdout` runs it. The
//! whole-process numbers (wall time and peak RSS for 1k/10k/100k services) come from
//! `scripts/bench.sh`; these benches are for finding which stage a change moved. `diff` is
//! measured as `meshgen diff --against` runs it after compiling: reading another build's
//! directory (1% of its objects changed), pairing identical documents, comparing the rest.

/// The allocator the binary uses (src/main.rs), so that the numbers are the binary's.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::cell::OnceCell;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, SamplingMode, criterion_group, criterion_main};
use meshgen::diag::Diagnostics;
use meshgen::graph::{self, MeshGraph};
use meshgen::load::{self, Source};
use meshgen::model::{self, Inventory, Layout, Project};
use meshgen::render::{self, Manifest, Templates};
use meshgen::{Goal, Options, Rendered, check, diff, emit};

/// The synthetic-estate generator, shared with the tests and `examples/gen_inventory.rs`.
#[path = "../tests/common/synth.rs"]
mod synth;

/// The seed of every benchmark inventory: fixed, so runs compare like with like.
const SEED: u64 = 1;

/// A generated project and the output of each stage, computed once.
struct Fixture {
    /// Keeps the generated project alive for the whole run.
    _dir: tempfile::TempDir,
    root: PathBuf,
    /// The project file, which the inventory walk leaves out.
    project_file: PathBuf,
    project: Project,
    sources: Vec<Source>,
    inventory: Inventory,
    graph: MeshGraph,
    templates: Templates,
    manifests: Vec<Manifest>,
    /// How long one render and the whole pipeline took while the fixture was built: they
    /// size the measurement time of the slow benchmarks without an extra run.
    render_time: Duration,
    pipeline_time: Duration,
}

impl Fixture {
    fn new(services: usize) -> Fixture {
        let dir = tempfile::tempdir().expect("temporary directory");
        let root = dir.path().join("project");
        let stats = synth::generate(services, SEED, &root).expect("generate the inventory");
        // The whole build, as `meshgen build` runs it; each stage's input comes from it.
        let started = Instant::now();
        let mut c = meshgen::compile(&Options::new(&root)).expect("compile");
        let pipeline_time = started.elapsed();
        let render_time = c.timings.stages().find(|(stage, _)| *stage == "render").expect("a render stage").1;
        // Benchmarking an inventory that fails would time the error paths instead.
        assert!(c.diags.is_empty(), "the generated inventory has findings: {:?}", c.diags.clone().sorted());
        let Some(Rendered::Manifests(manifests)) = c.rendered.take() else { panic!("nothing rendered") };
        let (inventory, graph) = (c.inventory.take().expect("an inventory"), c.graph.take().expect("a graph"));
        let (project, project_file) = (c.project, c.sources[0].path.clone());
        // The inventory's texts, which a build releases once it renders, read again for the
        // stages that parse them.
        let sources = load_inventory(&project, &project_file, &mut Diagnostics::default());
        let templates = Templates::load(project.templates.as_deref()).expect("templates");
        eprintln!(
            "bench inventory: {} services ({} VMs), {} externals, {} files -> {} manifests",
            stats.services,
            stats.vms,
            stats.externals,
            stats.files,
            manifests.len()
        );
        Fixture {
            _dir: dir,
            root,
            project_file,
            project,
            sources,
            inventory,
            graph,
            templates,
            manifests,
            render_time,
            pipeline_time,
        }
    }
}

/// Stage 1 as `compile` calls it for the base inventory: the project file and the output
/// are excluded.
fn load_inventory(project: &Project, project_file: &Path, diags: &mut Diagnostics) -> Vec<Source> {
    let exclude = [project_file.to_path_buf(), project.output.clone()];
    load::inventory(&project.root, &project.inventory, &exclude, project.limits, diags).expect("load the inventory")
}

/// Everything `meshgen build --stdout` does after argument parsing, into a sink.
fn build_to_stdout(root: &Path) {
    let c = meshgen::compile(&Options { goal: Goal::Stream, ..Options::new(root) }).expect("compile");
    assert!(c.rendered.is_some(), "{:?}", c.diags.clone().sorted());
    let mut documents = emit::Documents::new(std::io::sink());
    c.each_manifest(|m| Ok(documents.write(m)?)).expect("write");
    documents.finish().expect("write");
    black_box(c);
}

/// Measurement time for ten samples of one iteration that took `once`, with some slack.
fn budget(once: Duration) -> Duration {
    (once * 12).max(Duration::from_secs(2))
}

fn services() -> usize {
    std::env::var("MESHGEN_BENCH_SERVICES").ok().and_then(|s| s.parse().ok()).unwrap_or(1_000)
}

fn stages(c: &mut Criterion) {
    let f = Fixture::new(services());

    // Small sample counts: each iteration is milliseconds to a fraction of a second, and
    // the stages differ by orders of magnitude, so ten samples resolve what matters and keep
    // the whole run to a few minutes on two cores.
    let mut g = c.benchmark_group("stage");
    g.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(5));

    g.bench_function("load", |b| {
        b.iter(|| {
            let mut diags = Diagnostics::default();
            black_box(load_inventory(&f.project, &f.project_file, &mut diags))
        })
    });
    g.bench_function("model", |b| {
        b.iter(|| {
            let mut diags = Diagnostics::default();
            black_box(model::build(&f.project, &f.sources, &mut diags))
        })
    });
    g.bench_function("graph", |b| {
        b.iter(|| {
            let mut diags = Diagnostics::default();
            black_box(graph::build(&f.inventory, &mut diags))
        })
    });
    g.bench_function("check", |b| {
        b.iter(|| {
            let mut diags = Diagnostics::default();
            check::run(&f.inventory, &f.graph, &mut diags);
            black_box(diags)
        })
    });
    g.bench_function("emit/stdout", |b| {
        b.iter(|| emit::to_writer(black_box(&f.manifests), &mut std::io::sink()).expect("write"))
    });
    for (name, layout) in [("namespace", Layout::Namespace), ("object", Layout::Object)] {
        g.bench_function(format!("emit/plan-{name}"), |b| {
            b.iter(|| black_box(emit::plan(&f.manifests, layout).expect("plan")))
        });
        // An up-to-date directory: a rebuild with nothing changed reads and compares every
        // file and writes none. The first write happens once, and only if the benchmark is
        // selected (criterion calls the closure once per sample).
        let plan = emit::plan(&f.manifests, layout).expect("plan");
        let written = OnceCell::new();
        g.bench_function(format!("emit/write-unchanged-{name}"), |b| {
            let (_tmp, out) = written.get_or_init(|| {
                let tmp = tempfile::tempdir().expect("temporary directory");
                let out = tmp.path().join("out");
                emit::write(&out, &plan).expect("write");
                (tmp, out)
            });
            b.iter(|| {
                let report = emit::write(out, &plan).expect("write");
                assert_eq!(report.written, 0);
            })
        });
    }

    // `diff --against` a build in which every hundredth object differs (a label added).
    let mut older = f.manifests.clone();
    for m in older.iter_mut().step_by(100) {
        m.text = m.text.replacen("  labels:\n", "  labels:\n    changed: \"yes\"\n", 1).into();
    }
    let base = tempfile::tempdir().expect("temporary directory");
    emit::write(&base.path().join("out"), &emit::plan(&older, Layout::Object).expect("plan")).expect("write");
    // The steps of `meshgen diff --against` after the render, in order; the command parses
    // the changed documents on every core, this one by one.
    g.bench_function("diff/against-1pct-object-layout", |b| {
        b.iter(|| {
            let rendered = diff::rendered::read(&base.path().join("out")).expect("read");
            let texts: Vec<&str> = f.manifests.iter().map(|m| &*m.text).collect();
            let (desired, other, identical) = diff::split_identical(texts, rendered.documents());
            let desired = desired.into_iter().map(|t| diff::Object::from_yaml(t).expect("object")).collect();
            let other = other.into_iter().map(|d| diff::Object::from_yaml(d.text).expect("object")).collect();
            let plan = diff::compare(desired, other, &diff::Normalizer::default());
            assert_eq!(plan.unchanged + identical.len() + plan.changes.len(), f.manifests.len());
            black_box((plan, identical))
        })
    });

    // The slow ones, a few iterations each: flat sampling (the same iteration count per
    // sample) and a measurement time sized from one run, so that criterion neither warns that
    // it cannot finish nor runs a multi-second iteration fifty times. The runs that size them
    // happen anyway (building the fixture) or are cheap, so a filtered `cargo bench` does not
    // pay for benchmarks it skips.
    g.warm_up_time(Duration::from_millis(500)).sampling_mode(SamplingMode::Flat);
    g.measurement_time(budget(f.render_time));
    g.bench_function("render", |b| {
        b.iter(|| {
            let mut diags = Diagnostics::default();
            black_box(render::render(&f.inventory, &f.graph, &f.templates, &mut diags).expect("render"))
        })
    });
    // A fresh output directory per iteration (created outside the timing): the cost of a
    // first build, bound by creating and syncing files. The per-object layout is sized from
    // the per-namespace one by the number of files, which is what both are bound by.
    let namespace = emit::plan(&f.manifests, Layout::Namespace).expect("plan");
    let object = emit::plan(&f.manifests, Layout::Object).expect("plan");
    let tmp = tempfile::tempdir().expect("temporary directory");
    let started = Instant::now();
    emit::write(&tmp.path().join("out"), &namespace).expect("write");
    let per_file = started.elapsed() / namespace.files.len() as u32;
    for (name, plan) in [("namespace", &namespace), ("object", &object)] {
        g.measurement_time(budget(per_file * plan.files.len() as u32));
        g.bench_function(format!("emit/write-fresh-{name}"), |b| {
            b.iter_batched(
                || tempfile::tempdir().expect("temporary directory"),
                |out| {
                    let report = emit::write(&out.path().join("out"), plan).expect("write");
                    assert_eq!(report.written, plan.files.len());
                    out
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();

    let mut g = c.benchmark_group("end-to-end");
    g.sample_size(10).warm_up_time(Duration::from_millis(500)).sampling_mode(SamplingMode::Flat);
    g.measurement_time(budget(f.pipeline_time));
    g.bench_function("build-stdout", |b| b.iter(|| build_to_stdout(&f.root)));
    g.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);

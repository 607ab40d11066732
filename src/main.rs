//! The meshgen binary: everything lives in the library.

/// mimalloc instead of the system allocator: a build allocates and frees millions of small
/// objects (YAML values, strings, JSON contexts), where glibc's malloc took about a third
/// of a 10,000-service build. `--no-default-features` builds without it.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    meshgen::cli::main(std::env::args_os())
}

//! The meshgen binary: everything lives in the library.

fn main() -> std::process::ExitCode {
    meshgen::cli::main(std::env::args_os())
}

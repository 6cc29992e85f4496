//! `freeagentics`: see `freeagentics --help`. Everything lives in the workspace crates.
#![forbid(unsafe_code)]

use std::process::ExitCode;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // before the runtime's threads allocate (crates/server/src/memory.rs); the "serving" log line
    // says whether it took
    let _ = freeagentics_server::memory::disable_transparent_huge_pages();
    let outcome = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime.block_on(freeagentics_server::cli::run()),
        Err(error) => return failure(format_args!("starting the async runtime: {error}")),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => failure(format_args!("{error:#}")),
    }
}

fn failure(error: std::fmt::Arguments<'_>) -> ExitCode {
    // logging may not be initialised yet (bad configuration): stderr is the only channel
    #[allow(clippy::print_stderr)]
    {
        eprintln!("error: {error}");
    }
    ExitCode::FAILURE
}

//! `freeagentics`: see `freeagentics --help`. Everything lives in the workspace crates.
#![forbid(unsafe_code)]

use std::process::ExitCode;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    match freeagentics_server::cli::run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // logging may not be initialised yet (bad configuration): stderr is the only channel
            #[allow(clippy::print_stderr)]
            {
                eprintln!("error: {error:#}");
            }
            ExitCode::FAILURE
        }
    }
}

//! The `amiwatch` binary: parse flags, set up logging, pick a mode, run.

use std::process::ExitCode;

/// mimalloc: at 340 feeds glibc's malloc was a quarter of the dashboard's CPU, and kept freed
/// memory in per-thread arenas unless capped (see `Cargo.toml`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let (cli, given) = amiwatch::cli::Cli::parse_with_given();
    if let Err(e) = amiwatch::run::init_logging(cli.log_file.as_deref()) {
        eprintln!("amiwatch: cannot open the log file: {e}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("amiwatch: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = match runtime.block_on(amiwatch::run::run(cli, given)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("amiwatch: {e:#}");
            ExitCode::FAILURE
        }
    };
    // The work is done and the terminal given back: the tasks still holding data (hundreds of
    // feeds' snapshots) are not waited for, so quit is as quick with 340 feeds as with one.
    runtime.shutdown_background();
    code
}

//! The binary: parse the command line, hand over to the library, turn the outcome into an
//! exit code (78 = EX_CONFIG for any configuration problem).

use allo_gateway::cli::{Cli, Command};
use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // Serving runs one current-thread runtime per worker (`server::workers`), this thread's
    // being the first. The emulator alone (`sandbox`) runs on one multi-thread runtime.
    let mut builder = match (&cli.command, cli.workers) {
        (Some(Command::Sandbox { .. }), Some(n)) if n > 1 => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(usize::from(n));
            builder
        }
        (Some(Command::Sandbox { .. }), None) => tokio::runtime::Builder::new_multi_thread(),
        _ => tokio::runtime::Builder::new_current_thread(),
    };
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("allo-gateway: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(allo_gateway::main(cli));
    allo_gateway::telemetry::flush(std::time::Duration::from_secs(2));
    std::process::ExitCode::from(code)
}

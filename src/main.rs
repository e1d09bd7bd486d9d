//! The binary: parse the command line, hand over to the library, turn the outcome into an
//! exit code (78 = EX_CONFIG for any configuration problem).

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = allo_gateway::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("allo-gateway: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(allo_gateway::main(cli));
    std::process::ExitCode::from(code)
}

//! The command line (INTERFACE §1).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "allo-gateway",
    version,
    about = "Authenticating, validating, rate-limiting sidecar gateway for the Allo API"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Config file (TOML).
    #[arg(long, env = "ALLO_GATEWAY_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Worker threads: each accepts on its own `SO_REUSEPORT` listener and serves its
    /// connections on its own current-thread runtime, with its own upstream connections. 1
    /// runs everything on the main thread (the leanest); the default is one per available core.
    #[arg(long, env = "ALLO_GATEWAY_WORKERS", global = true, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub workers: Option<u16>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve (the default).
    Run,
    /// Load the config, resolve every secret, compile every schema, print a summary.
    Check,
    /// Print a new random caller token and its `token_sha256` config line.
    Token,
    /// Run only the built-in Allo emulator, accepting the teams' keys from the config.
    Sandbox {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8081")]
        listen: std::net::SocketAddr,
    },
    /// Print the effective endpoint table: method, path, scope, class, mode, and where each
    /// rule came from.
    Routes,
    /// Read Allo's API description: check a file, or compare two.
    Spec {
        #[command(subcommand)]
        command: SpecCommand,
    },
}

/// `allo-gateway spec ...` (INTERFACE §9).
#[derive(Debug, Subcommand)]
pub enum SpecCommand {
    /// Parse, resolve every $ref, compile every schema; list every problem; exit 0 or 78.
    Check {
        /// An OpenAPI 3.0 or 3.1 document (JSON, or YAML by extension).
        file: PathBuf,
    },
    /// One line per operation added, removed or changed; exit 0 equal, 1 different, 78 when
    /// a side cannot be read.
    Diff {
        /// A file, or the word `built-in`.
        old: PathBuf,
        /// A file, or the word `built-in`.
        new: PathBuf,
    },
}

//! `allo-gateway spec check FILE` and `spec diff OLD NEW` (INTERFACE §9): an operator's look at
//! an API description before the gateway is given it. `check` does what a load does (parse,
//! resolve every `$ref`, compile every schema with the built-in rules laid over) and lists
//! every problem with its JSON pointer; `diff` prints `routes::diff`'s lines. Exit codes as
//! diff(1) for a comparison, 78 (EX_CONFIG) for a document that cannot be used.

use std::path::Path;

use crate::cli::SpecCommand;
use crate::config::UnknownFields;
use crate::routes::{diff, Description, RouteTable, Rules, Source, SpecError};
use crate::EXIT_CONFIG;

/// Stands for the description carried in the binary, where a file is expected.
pub const BUILT_IN: &str = "built-in";

pub fn run(command: SpecCommand) -> u8 {
    match command {
        SpecCommand::Check { file } => check(&file),
        SpecCommand::Diff { old, new } => compare(&old, &new),
    }
}

fn check(file: &Path) -> u8 {
    let description = match load(file) {
        Ok(d) => d,
        Err(e) => return report(file, &e.problems.iter().map(ToString::to_string).collect::<Vec<_>>()),
    };
    match RouteTable::build(&description, &Rules::default(), UnknownFields::Reject) {
        Ok(table) => {
            match &description.source {
                Source::File { sha256, .. } => {
                    println!("{}: OK, {} operations (sha256 {sha256})", file.display(), table.len())
                }
                Source::BuiltIn => println!("{}: OK, {} operations", description.source, table.len()),
            }
            0
        }
        Err(e) => report(file, &e.problems),
    }
}

fn report(file: &Path, problems: &[String]) -> u8 {
    // A `$ref` to nowhere is found both where it is written and where it is followed.
    let mut unique: Vec<&String> = Vec::with_capacity(problems.len());
    for problem in problems {
        if !unique.contains(&problem) {
            unique.push(problem);
        }
    }
    eprintln!(
        "allo-gateway: {} is not a usable API description ({} problem(s)):",
        file.display(),
        unique.len()
    );
    for problem in unique {
        eprintln!("  - {problem}");
    }
    EXIT_CONFIG
}

fn load(side: &Path) -> Result<Description, SpecError> {
    if side == Path::new(BUILT_IN) {
        Description::builtin()
    } else {
        Description::load(side)
    }
}

fn compare(old: &Path, new: &Path) -> u8 {
    // Both sides read before either is reported, so one run names every problem.
    let (a, b) = (load(old), load(new));
    let (a, b) = match (a, b) {
        (Ok(a), Ok(b)) => (a, b),
        (a, b) => {
            for (side, result) in [(old, a), (new, b)] {
                if let Err(e) = result {
                    report(side, &e.problems.iter().map(ToString::to_string).collect::<Vec<_>>());
                }
            }
            return EXIT_CONFIG;
        }
    };
    let changes = diff::diff(&a, &b);
    for change in &changes {
        println!("{change}");
    }
    u8::from(!changes.is_empty())
}

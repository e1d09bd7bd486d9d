//! The config loader on arbitrary text: it must return a config or a list of problems, never
//! panic, and a refusal always names at least one problem.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // A folder that does not exist: relative paths (teams_dir, secret files) resolve nowhere.
    if let Err(e) = allo_gateway::config::from_str(text, Path::new("/nonexistent/allo-gateway-fuzz")) {
        assert!(!e.problems.is_empty());
    }
});

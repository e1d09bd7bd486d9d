//! The API description loader on arbitrary text, read as JSON and as YAML: it answers with a
//! description or a list of problems, never a panic or a hang, and whatever it accepts builds
//! an endpoint table or is refused with problems (schemas that do not compile).
#![no_main]

use allo_gateway::config::UnknownFields;
use allo_gateway::routes::{Description, RouteTable, Rules, Source};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for yaml in [false, true] {
        match Description::parse(text, yaml, Source::BuiltIn) {
            Ok(description) => {
                let _ = RouteTable::build(&description, &Rules::default(), UnknownFields::Reject);
            }
            Err(e) => assert!(!e.problems.is_empty(), "an error with no problem listed"),
        }
    }
});

//! An error and its whole `source()` chain as one line of text, for log fields and config
//! problems. A room of its own, depending on nothing in the crate, so that every room (the
//! limiters, the config, the telemetry that logs them) can use it without pointing back.

/// An error and its sources on one line (`a: b: c`).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot load")]
    struct Outer(#[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read")]
    struct Inner(#[source] std::fmt::Error);

    #[test]
    fn every_source_is_on_the_line() {
        assert_eq!(
            error_chain(&Outer(Inner(std::fmt::Error))),
            "cannot load: cannot read: an error occurred when formatting an argument"
        );
    }
}

//! A fast local upstream for the benchmark (replaced by the benchmark's author).
fn main() {}

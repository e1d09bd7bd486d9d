//! Micro-benchmarks of the hot path (replaced by the benchmark's author).
fn main() {}

//! Helpers shared by the benchmarks (filled in by the benchmark issue).

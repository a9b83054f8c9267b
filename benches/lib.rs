//! Benchmarks of ScoreMate, each measured beside a baseline taken in the same run.
//! Run them with `cargo bench -p benches`; see `docs/benchmarks.md`.

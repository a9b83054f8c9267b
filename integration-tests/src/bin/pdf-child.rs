//! The PDF sandbox child for the in-process test server (whose own executable is the test
//! binary, which has no `process-pdf` subcommand): the same protocol and limits.

fn main() -> std::process::ExitCode {
    score_pdf::child::run_stdio()
}

//! A standalone sandbox child: `score-pdf-child < request > response`. The `scoremate`
//! binary has the same as its hidden `process-pdf` subcommand.

fn main() -> std::process::ExitCode {
    score_pdf::child::run_stdio()
}

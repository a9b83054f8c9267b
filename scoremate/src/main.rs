use std::process::ExitCode;

use clap::Parser;
use scoremate::cli::{self, args::Cli};
use scoremate::telemetry;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.settings.log_format, &cli.settings.log);
    cli::run(cli).await
}

//! The `scoremate` command line: the arguments (`args`) and one module per subcommand
//! family, dispatched here.

pub mod args;

pub mod admin;
mod audit;
pub mod pdf;
pub mod processors;
mod projections;

use std::process::ExitCode;

use anyhow::Context;
use eventstore::Database;

use crate::app::{self, Application};
use crate::settings::Settings;
use args::{Cli, Command};

/// Runs the command `cli` names (`serve` when none) to its end.
pub async fn run(cli: Cli) -> ExitCode {
    let settings = cli.settings;
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings).await,
        Command::Worker => app::run_worker(settings, app::shutdown_signal())
            .await
            .context("running the worker"),
        Command::Migrate => {
            with_database(&settings, async |database| {
                println!("migrations applied ({})", database.backend().name());
                Ok(())
            })
            .await
        }
        Command::Admin(command) => {
            with_database(&settings, async |database| {
                println!("{}", admin::run(database, &command).await?);
                Ok(())
            })
            .await
        }
        Command::Audit(command) => {
            with_database(&settings, async |database| {
                audit::run(database, &command).await
            })
            .await
        }
        Command::Projections(command) => {
            with_database(&settings, async |database| {
                projections::run(database, &command).await
            })
            .await
        }
        Command::Processors(command) => processors::run(settings, &command)
            .await
            .context("running the processors command"),
        Command::Pdf(command) => pdf::run(&command).await,
        Command::ProcessPdf => return pdf::process_pdf(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "scoremate failed");
            eprintln!("scoremate: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let app = Application::build(settings)
        .await
        .context("starting the server")?;
    app.run_until(app::shutdown_signal()).await;
    Ok(())
}

/// Connects to the database of `settings`, migrates it, runs `command`, and closes the
/// pool whatever `command` answered.
async fn with_database(
    settings: &Settings,
    command: impl AsyncFnOnce(&Database) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let database = app::connect_database(settings)
        .await
        .context("connecting to the database")?;
    database.migrate().await.context("applying migrations")?;
    let outcome = command(&database).await;
    database.close().await;
    outcome
}

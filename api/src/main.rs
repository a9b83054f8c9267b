use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use scoremate::cli::{Cli, Command};
use scoremate::settings::Settings;
use scoremate::startup::{self, Application};
use scoremate::telemetry;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.settings.log_format, &cli.settings.log);
    let command = cli.command.unwrap_or(Command::Serve);
    if matches!(command, Command::ProcessPdf) {
        return scoremate::pdf_cli::process_pdf();
    }
    let result = match command {
        Command::Migrate => migrate(&cli.settings).await,
        Command::Admin(admin) => run_admin(&cli.settings, &admin).await,
        Command::Pdf(pdf) => scoremate::pdf_cli::run(&pdf).await,
        Command::Projections(projections) => run_projections(&cli.settings, &projections).await,
        Command::Audit(audit) => run_audit(&cli.settings, &audit).await,
        Command::Processors(command) => scoremate::processors_cli::run(cli.settings, &command)
            .await
            .context("running the processors command"),
        Command::Worker => startup::run_worker(cli.settings, startup::shutdown_signal())
            .await
            .context("running the worker"),
        _ => serve(cli.settings).await,
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
    app.run_until(startup::shutdown_signal()).await;
    Ok(())
}

async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let database = startup::connect_database(settings)
        .await
        .context("connecting to the database")?;
    database.migrate().await.context("applying migrations")?;
    println!("migrations applied ({})", database.backend().name());
    database.close().await;
    Ok(())
}

async fn run_admin(
    settings: &Settings,
    command: &scoremate::cli::AdminCommand,
) -> anyhow::Result<()> {
    let database = startup::connect_database(settings)
        .await
        .context("connecting to the database")?;
    database.migrate().await.context("applying migrations")?;
    let outcome = scoremate::admin::run(&database, command).await;
    database.close().await;
    println!("{}", outcome?);
    Ok(())
}

async fn run_audit(
    settings: &Settings,
    command: &scoremate::cli::AuditCommand,
) -> anyhow::Result<()> {
    let database = startup::connect_database(settings)
        .await
        .context("connecting to the database")?;
    database.migrate().await.context("applying migrations")?;
    let outcome = scoremate::audit_cli::run(&database, command).await;
    database.close().await;
    outcome
}

async fn run_projections(
    settings: &Settings,
    command: &scoremate::cli::ProjectionsCommand,
) -> anyhow::Result<()> {
    let database = startup::connect_database(settings)
        .await
        .context("connecting to the database")?;
    database.migrate().await.context("applying migrations")?;
    let outcome = scoremate::projections_cli::run(&database, command).await;
    database.close().await;
    outcome
}

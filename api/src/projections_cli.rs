//! `scoremate projections status` and `scoremate projections rebuild NAME|all`.

use std::time::Duration;

use anyhow::Context;
use eventstore::Database;
use indicatif::{ProgressBar, ProgressStyle};
use projections::{PROJECTION_NAMES, RebuildProgress, projection_name, rebuild_named, status};

use crate::cli::ProjectionsCommand;

pub async fn run(database: &Database, command: &ProjectionsCommand) -> anyhow::Result<()> {
    match command {
        ProjectionsCommand::Status => print_status(database).await,
        ProjectionsCommand::Rebuild { name } => {
            let names: Vec<&'static str> = if name == "all" {
                PROJECTION_NAMES.to_vec()
            } else {
                vec![projection_name(name)?]
            };
            for name in names {
                rebuild_one(database, name).await?;
            }
            Ok(())
        }
    }
}

async fn print_status(database: &Database) -> anyhow::Result<()> {
    let statuses = status(database).await.context("reading the checkpoints")?;
    println!(
        "{:<18} {:>12} {:>12} {:>8}",
        "projection", "checkpoint", "head", "lag"
    );
    for status in statuses {
        println!(
            "{:<18} {:>12} {:>12} {:>8}",
            status.name, status.checkpoint, status.head, status.lag
        );
    }
    Ok(())
}

async fn rebuild_one(database: &Database, name: &'static str) -> anyhow::Result<()> {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>18} [{bar:40}] {pos}/{len} events ({per_sec}, {elapsed})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_prefix(name);
    bar.enable_steady_tick(Duration::from_millis(200));
    let report = rebuild_named(name, database, |progress: RebuildProgress| {
        bar.set_length(progress.total.max(progress.applied));
        bar.set_position(progress.applied);
    })
    .await
    .with_context(|| format!("rebuilding {name}"))?;
    bar.finish_and_clear();
    println!(
        "{name}: rebuilt from {} events, now at position {}",
        report.applied, report.checkpoint.position
    );
    Ok(())
}

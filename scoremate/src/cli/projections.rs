//! `scoremate projections status` and `scoremate projections rebuild NAME|all`.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context;
use eventstore::Database;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use projections::{
    PROJECTION_NAMES, RebuildProgress, RebuildReport, projection_name, rebuild_all, rebuild_named,
    status,
};

use crate::cli::args::ProjectionsCommand;

pub async fn run(database: &Database, command: &ProjectionsCommand) -> anyhow::Result<()> {
    match command {
        ProjectionsCommand::Status => print_status(database).await,
        ProjectionsCommand::Rebuild { name } if name == "all" => rebuild_every(database).await,
        ProjectionsCommand::Rebuild { name } => rebuild_one(database, projection_name(name)?).await,
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

/// A progress bar for one projection's rebuild.
fn progress_bar(name: &'static str) -> ProgressBar {
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
    bar
}

fn show(bar: &ProgressBar, progress: RebuildProgress) {
    bar.set_length(progress.total.max(progress.applied));
    bar.set_position(progress.applied);
}

fn print_report(name: &str, report: &RebuildReport) {
    println!(
        "{name}: rebuilt from {} events, now at position {}",
        report.applied, report.checkpoint.position
    );
}

async fn rebuild_one(database: &Database, name: &'static str) -> anyhow::Result<()> {
    let bar = progress_bar(name);
    let report = rebuild_named(name, database, |progress| show(&bar, progress))
        .await
        .with_context(|| format!("rebuilding {name}"))?;
    bar.finish_and_clear();
    print_report(name, &report);
    Ok(())
}

/// Every projection at once, a bar each.
async fn rebuild_every(database: &Database) -> anyhow::Result<()> {
    let bars = MultiProgress::new();
    let bar_of: HashMap<&'static str, ProgressBar> = PROJECTION_NAMES
        .into_iter()
        .map(|name| (name, bars.add(progress_bar(name))))
        .collect();
    let reports = rebuild_all(database, |name, progress| {
        if let Some(bar) = bar_of.get(name) {
            show(bar, progress);
        }
    })
    .await
    .context("rebuilding the projections")?;
    for bar in bar_of.values() {
        bar.finish_and_clear();
    }
    for (name, report) in &reports {
        print_report(name, report);
    }
    Ok(())
}

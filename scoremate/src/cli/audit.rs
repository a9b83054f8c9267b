//! `scoremate audit quota USER [--as-of T] [--format table|json]` and
//! `scoremate audit verify-all`.

use std::time::Duration;

use aggregates::Account;
use anyhow::{Context, bail};
use eventstore::{AggregateStore, Database, RetryPolicy, Storage};
use indicatif::{ProgressBar, ProgressStyle};

use audit::{
    CONCURRENT_AUDITS, Patience, QuotaAudit, audit_each, audit_quota, audited_users, parse_as_of,
};

use crate::cli::args::{AuditCommand, OutputFormat};
use crate::users::resolve_user;

pub async fn run(database: &Database, command: &AuditCommand) -> anyhow::Result<()> {
    match command {
        AuditCommand::Quota {
            user,
            as_of,
            format,
        } => quota(database, user, as_of.as_deref(), *format).await,
        AuditCommand::VerifyAll => verify_all(database).await,
    }
}

async fn quota(
    database: &Database,
    user: &str,
    as_of: Option<&str>,
    format: OutputFormat,
) -> anyhow::Result<()> {
    let as_of = as_of
        .map(parse_as_of)
        .transpose()
        .map_err(|error| anyhow::anyhow!("--as-of {error}"))?;
    let unknown = || anyhow::anyhow!("no account for {user:?} (give an email or a user id)");
    let user_id = resolve_user(database, user)
        .await
        .context("looking the user up")?
        .ok_or_else(unknown)?;
    let accounts: AggregateStore<Account> =
        AggregateStore::new(database, Storage::Events, RetryPolicy::default());
    let account = accounts
        .load(&user_id.to_string())
        .await
        .map_err(|error| anyhow::anyhow!("loading the account: {error}"))?;
    if !account.aggregate.is_registered() {
        return Err(unknown());
    }
    let audit = audit_quota(database, user_id, as_of, Patience::NONE)
        .await
        .context("replaying the quota history")?;
    match format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&audit)?),
        OutputFormat::Table => print_table(&audit),
    }
    Ok(())
}

fn print_table(audit: &QuotaAudit) {
    println!(
        "{:>10} {:>5}  {:<27} {:<20} {:>14} {:>14} {:>14} {:>14} {:>14}  actor",
        "position",
        "ver",
        "occurred_at",
        "event",
        "Δused",
        "Δreserved",
        "used",
        "reserved",
        "limit"
    );
    for entry in &audit.results {
        println!(
            "{:>10} {:>5}  {:<27} {:<20} {:>14} {:>14} {:>14} {:>14} {:>14}  {}",
            entry.position,
            entry.version,
            entry
                .occurred_at
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            entry.event,
            entry.delta_used_bytes,
            entry.delta_reserved_bytes,
            entry.used_bytes_after,
            entry.reserved_bytes_after,
            entry.limit_bytes_after,
            entry.actor.as_deref().unwrap_or("-"),
        );
    }
    let state = &audit.state;
    let as_of = audit
        .as_of
        .map_or_else(|| "now".to_owned(), |as_of| as_of.to_rfc3339());
    println!(
        "\nstate as of {as_of}: limit {} used {} reserved {} available {} ({} events)",
        state.limit_bytes,
        state.used_bytes,
        state.reserved_bytes,
        state.available_bytes,
        audit.count
    );
    match &audit.divergence {
        None => println!("verified: read models agree ({})", audit.checked.join(", ")),
        Some(divergence) => println!("NOT verified: {divergence}"),
    }
}

async fn verify_all(database: &Database) -> anyhow::Result<()> {
    let users = audited_users(database).await.context("listing the users")?;
    let bar = ProgressBar::new(users.len() as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "verifying [{bar:40}] {pos}/{len} users ({per_sec}, {elapsed})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let mut diverged = 0_usize;
    let mut partial = 0_usize;
    audit_each(database, &users, CONCURRENT_AUDITS, |user_id, audit| {
        if audit.checked.len() < 4 {
            partial += 1;
        }
        if let Some(divergence) = &audit.divergence {
            diverged += 1;
            // `suspend`, not `println`: a hidden bar (no terminal) would drop the line.
            bar.suspend(|| println!("user {user_id}: {divergence}"));
        }
        bar.inc(1);
    })
    .await?;
    bar.finish_and_clear();
    let note = if partial > 0 {
        format!(
            "; for {partial} of them open_reservations/scores were not compared (their followers had not caught up with the log)"
        )
    } else {
        String::new()
    };
    if diverged > 0 {
        bail!(
            "{diverged} of {} users diverge from their quota history{note}",
            users.len()
        );
    }
    println!(
        "{} users verified: every read model agrees with the replay{note}",
        users.len()
    );
    Ok(())
}

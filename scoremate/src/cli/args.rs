//! The `scoremate` command line.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::settings::Settings;

/// ScoreMate: an event-sourced backend for musicians' sheet-music libraries.
///
/// Every setting can be given as a flag or as its `SCOREMATE_*` environment variable.
#[derive(Debug, Parser)]
#[command(
    name = "scoremate",
    version,
    propagate_version = true,
    args_override_self = true
)]
pub struct Cli {
    #[command(flatten)]
    pub settings: Settings,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP API with its in-process projections and processors (the default).
    Serve,
    /// Run the processors only, to scale them out; several may share one database.
    Worker,
    /// Apply the database migrations and exit.
    Migrate,
    /// Inspect or rebuild the read models.
    #[command(subcommand)]
    Projections(ProjectionsCommand),
    /// Operate the processors.
    #[command(subcommand)]
    Processors(ProcessorsCommand),
    /// Replay quota history from the event store.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Operator commands: quotas and roles.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Run the PDF pipeline on a local file, with the processors' sandbox and limits.
    #[command(subcommand)]
    Pdf(PdfCommand),
    /// Internal: process one PDF from stdin as the sandbox child of `pdf` and the processors.
    #[command(hide = true)]
    ProcessPdf,
}

#[derive(Debug, Subcommand)]
pub enum ProjectionsCommand {
    /// Per projection: checkpoint, head of the log, lag.
    Status,
    /// Rebuild one projection (or `all`) from the start of the log.
    Rebuild {
        /// accounts, sessions, scores, setlists, quota, quota_ledger, analytics,
        /// open_reservations, or all.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ProcessorsCommand {
    /// Run a score's failed PDF steps again (after a fix, or a transient cause), recording
    /// the new outcome on the score.
    Retry {
        /// The score's id.
        score: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// A user's quota history, replayed from the events, with its running balance.
    Quota {
        /// The user's email or id.
        user: String,
        /// Stop the replay at this instant (RFC 3339, inclusive).
        #[arg(long)]
        as_of: Option<String>,
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
    },
    /// Verify every user's quota read model against the replay; non-zero exit on divergence.
    VerifyAll,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Set a user's storage limit in bytes.
    SetQuota {
        /// The user's email or id.
        user: String,
        bytes: u64,
    },
    /// Grant a role (e.g. `auditor`).
    GrantRole { user: String, role: String },
    /// Revoke a role.
    RevokeRole { user: String, role: String },
}

#[derive(Debug, Subcommand)]
pub enum PdfCommand {
    /// Page count, page-1 size and document info of a PDF.
    Info {
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Render a page (page 1 unless `--page` names another) to a PNG thumbnail.
    Thumbnail {
        file: PathBuf,
        #[arg(short, long)]
        output: PathBuf,
        #[arg(long, default_value_t = 300)]
        width: u32,
        /// The 1-based page to render, as a page preview does.
        #[arg(long, default_value_t = 1)]
        page: u32,
    },
}

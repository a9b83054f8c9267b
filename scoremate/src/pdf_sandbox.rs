//! The child process every PDF job and `scoremate pdf` run in: this very binary's hidden
//! `process-pdf` subcommand, or a program of the settings' choosing.

use std::path::Path;

use anyhow::Context;
use score_pdf::{Limits, Sandbox};

/// The hidden subcommand the sandbox starts in a child process.
pub const CHILD_SUBCOMMAND: &str = "process-pdf";

/// A sandbox whose child is this very binary's [`CHILD_SUBCOMMAND`].
pub fn sandbox(limits: Limits) -> anyhow::Result<Sandbox> {
    let program = std::env::current_exe().context("locating the scoremate binary")?;
    Ok(Sandbox {
        program,
        args: vec![CHILD_SUBCOMMAND.to_owned()],
        limits,
    })
}

/// The processors' sandbox: `child` when set (a program speaking the protocol by itself),
/// else this binary's [`CHILD_SUBCOMMAND`].
pub fn processing_sandbox(child: Option<&Path>) -> anyhow::Result<Sandbox> {
    match child {
        Some(program) => Ok(Sandbox {
            program: program.to_owned(),
            args: Vec::new(),
            limits: Limits::default(),
        }),
        None => sandbox(Limits::default()),
    }
}

//! The sandbox child: lowers its own resource limits, reads one request from stdin,
//! processes it in-process and writes the framed result to stdout (see
//! [`crate::protocol`]). A binary calls [`run_stdio`] from a hidden subcommand; the
//! [`crate::Sandbox`] starts that binary.

use std::io::{BufReader, Write};
use std::process::ExitCode;

use crate::Limits;
use crate::protocol::{RequestError, read_request, write_response};

/// The environment variable through which the sandbox hands its [`Limits`] (JSON) to the
/// child. Without it the child uses [`Limits::default`].
pub const LIMITS_ENV: &str = "SCORE_PDF_LIMITS";

/// Exit status of a child whose request broke the protocol or that could not limit itself.
pub const EXIT_PROTOCOL: u8 = 2;

/// The child's entry point on the process's stdin and stdout.
pub fn run_stdio() -> ExitCode {
    let limits = match limits_from_env() {
        Ok(limits) => limits,
        Err(reason) => {
            eprintln!("score-pdf child: {reason}");
            return ExitCode::from(EXIT_PROTOCOL);
        }
    };
    let stdin = std::io::stdin();
    run(&limits, stdin.lock(), std::io::stdout().lock())
}

/// Lowers this process's limits (address space, CPU time, file size, open files, core
/// dumps), then serves one request. Call it only in a process of its own.
pub fn run(limits: &Limits, input: impl std::io::Read, output: impl Write) -> ExitCode {
    if let Err(error) = lower_limits(limits) {
        eprintln!("score-pdf child: could not lower its resource limits: {error}");
        return ExitCode::from(EXIT_PROTOCOL);
    }
    serve(limits, input, output)
}

/// Serves one request without touching resource limits (for tests of the protocol).
pub fn serve(limits: &Limits, input: impl std::io::Read, mut output: impl Write) -> ExitCode {
    let mut input = BufReader::new(input);
    let result = match read_request(&mut input, limits) {
        Ok((op, bytes)) => crate::guarded(|| crate::process(&bytes, op, limits)),
        Err(RequestError::Pdf(error)) => Err(error),
        Err(RequestError::Protocol(reason)) => {
            eprintln!("score-pdf child: {reason}");
            return ExitCode::from(EXIT_PROTOCOL);
        }
    };
    match write_response(&mut output, &result) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("score-pdf child: writing the response: {error}");
            ExitCode::from(EXIT_PROTOCOL)
        }
    }
}

/// The limits handed over in [`LIMITS_ENV`], else the defaults.
pub fn limits_from_env() -> Result<Limits, String> {
    match std::env::var(LIMITS_ENV) {
        Ok(json) => {
            serde_json::from_str(&json).map_err(|error| format!("bad {LIMITS_ENV}: {error}"))
        }
        Err(std::env::VarError::NotPresent) => Ok(Limits::default()),
        Err(error) => Err(format!("bad {LIMITS_ENV}: {error}")),
    }
}

/// Soft and hard limits for the child. The CPU hard limit is one second above the soft
/// one, so a child that ignores SIGXCPU is killed right after.
pub(crate) fn rlimits(limits: &Limits) -> [(rlimit::Resource, u64, u64); 5] {
    use rlimit::Resource;
    [
        (
            Resource::AS,
            limits.address_space_bytes,
            limits.address_space_bytes,
        ),
        (
            Resource::CPU,
            limits.cpu_secs,
            limits.cpu_secs.saturating_add(1),
        ),
        // The child writes no files. Its stdout is a pipe, which this does not limit,
        // unless someone runs it by hand with stdout redirected to a file: then the
        // response must still fit.
        (
            Resource::FSIZE,
            crate::protocol::max_response_bytes(limits),
            crate::protocol::max_response_bytes(limits),
        ),
        (Resource::NOFILE, 64, 64),
        (Resource::CORE, 0, 0),
    ]
}

fn lower_limits(limits: &Limits) -> std::io::Result<()> {
    for (resource, soft, hard) in rlimits(limits) {
        // Never raise a limit the parent already set lower.
        let (current_soft, current_hard) = resource.get()?;
        let hard = hard.min(current_hard);
        resource.set(soft.min(current_soft).min(hard), hard)?;
    }
    Ok(())
}

//! Runs the PDF work in a child process with bounded memory, CPU and wall-clock time.

use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

use crate::child::LIMITS_ENV;
use crate::protocol::{self, Operation, Outcome};
use crate::{Limits, PdfError};

/// How much of the child's stderr is kept to explain a crash.
const MAX_STDERR_BYTES: usize = 16 * 1024;

/// Starts `program args…` (a binary whose subcommand calls [`crate::child::run_stdio`])
/// once per PDF. The child gets an empty environment but for its limits.
#[derive(Debug, Clone)]
pub struct Sandbox {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub limits: Limits,
}

impl Sandbox {
    /// Processes `bytes` in a fresh child.
    ///
    /// # Errors
    /// The file's own [`PdfError`] as the child reported it; a child killed for breaking
    /// its CPU or memory limit or crashing is a permanent [`PdfError::LimitExceeded`] or
    /// [`PdfError::Crashed`]; one past the wall-clock limit is killed and reported as
    /// [`PdfError::TimedOut`]; a child that cannot be started or breaks the protocol is
    /// a transient [`PdfError::Sandbox`].
    pub async fn run(&self, bytes: &[u8], op: Operation) -> Result<Outcome, PdfError> {
        let limits = &self.limits;
        if bytes.len() as u64 > limits.max_input_bytes {
            return Err(PdfError::TooLarge {
                size: bytes.len() as u64,
                limit: limits.max_input_bytes,
            });
        }
        let limits_json = serde_json::to_string(limits).map_err(|error| PdfError::Sandbox {
            reason: format!("encoding the limits: {error}"),
        })?;
        let mut child = Command::new(&self.program)
            .args(&self.args)
            .env_clear()
            .env(LIMITS_ENV, limits_json)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| PdfError::Sandbox {
                reason: format!("could not start {}: {error}", self.program.display()),
            })?;
        // The child lowers its own limits first thing; setting them from here as well
        // holds even for a child that does not (it waits for its stdin meanwhile).
        #[cfg(target_os = "linux")]
        if let Some(pid) = child.id().and_then(|pid| i32::try_from(pid).ok()) {
            for (resource, soft, hard) in crate::child::rlimits(limits) {
                let _ = rlimit::prlimit(pid, resource, Some((soft, hard)), None);
            }
        }
        let (Some(mut stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(PdfError::Sandbox {
                reason: "the child's pipes are missing".to_owned(),
            });
        };
        let max_output = protocol::max_response_bytes(limits);
        let header = protocol::request_header(op);
        let exchange = async {
            let write = async {
                // A child that stops reading (it refused the file early or died) closes
                // the pipe; its exit status and output tell why.
                if stdin.write_all(&header).await.is_ok() {
                    let _ = stdin.write_all(bytes).await;
                }
                drop(stdin);
            };
            let (_, output, errors) = tokio::join!(
                write,
                read_capped(stdout, max_output),
                read_capped(stderr, MAX_STDERR_BYTES as u64)
            );
            let status = child.wait().await;
            (output, errors, status)
        };
        let timeout = Duration::from_secs(limits.timeout_secs);
        let Ok((output, errors, status)) = tokio::time::timeout(timeout, exchange).await else {
            let _ = child.start_kill();
            let _ = child.wait().await;
            return Err(PdfError::TimedOut {
                seconds: limits.timeout_secs,
            });
        };
        let status = status.map_err(|error| PdfError::Sandbox {
            reason: format!("waiting for the child: {error}"),
        })?;
        let stderr = String::from_utf8_lossy(&errors.bytes).into_owned();
        if status.success() {
            if output.overflowed {
                return Err(PdfError::Sandbox {
                    reason: format!("the child wrote more than {max_output} bytes"),
                });
            }
            return protocol::parse_response(&output.bytes)
                .map_err(|reason| PdfError::Sandbox { reason })?;
        }
        Err(failure(status, &stderr, limits))
    }
}

/// Explains a child that did not exit 0.
fn failure(status: ExitStatus, stderr: &str, limits: &Limits) -> PdfError {
    let last_line = stderr
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_owned();
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return killed_by(signal, stderr, limits);
        }
    }
    PdfError::Sandbox {
        reason: format!("the child exited with {status}: {last_line}"),
    }
}

#[cfg(unix)]
fn killed_by(signal: i32, stderr: &str, limits: &Limits) -> PdfError {
    const SIGABRT: i32 = 6;
    const SIGKILL: i32 = 9;
    const SIGSEGV: i32 = 11;
    const SIGXCPU: i32 = 24;
    const SIGXFSZ: i32 = 25;
    let memory = || {
        PdfError::limit(format!(
            "processing exceeded the memory limit of {} MiB",
            limits.address_space_bytes / (1024 * 1024)
        ))
    };
    match signal {
        SIGXCPU => PdfError::limit(format!(
            "processing exceeded the CPU limit of {} s",
            limits.cpu_secs
        )),
        SIGKILL => PdfError::limit(format!(
            "processing was killed (SIGKILL): it exceeded the CPU limit of {} s or the machine ran out of memory",
            limits.cpu_secs
        )),
        SIGXFSZ => PdfError::limit("processing tried to write too much"),
        _ if stderr.contains("memory allocation of") => memory(),
        _ if stderr.contains("overflowed its stack") => {
            PdfError::limit("the PDF is nested too deeply: processing ran out of stack")
        }
        SIGSEGV => PdfError::Crashed {
            reason: "the PDF child crashed (SIGSEGV), possibly at the memory limit".to_owned(),
        },
        SIGABRT => PdfError::Crashed {
            reason: "the PDF child aborted (SIGABRT)".to_owned(),
        },
        other => PdfError::Crashed {
            reason: format!("the PDF child was killed by signal {other}"),
        },
    }
}

struct Captured {
    bytes: Vec<u8>,
    overflowed: bool,
}

/// Reads a pipe to its end, keeping at most `cap` bytes: the rest is drained and dropped,
/// so a child that writes too much still runs to its end (or to the timeout).
async fn read_capped(mut pipe: impl AsyncRead + Unpin, cap: u64) -> Captured {
    let mut captured = Captured {
        bytes: Vec::new(),
        overflowed: false,
    };
    let mut chunk = vec![0_u8; 64 * 1024];
    loop {
        match pipe.read(&mut chunk).await {
            Ok(0) | Err(_) => return captured,
            Ok(read) => {
                let room = usize::try_from(cap)
                    .unwrap_or(usize::MAX)
                    .saturating_sub(captured.bytes.len());
                if read > room {
                    captured.overflowed = true;
                }
                captured.bytes.extend_from_slice(&chunk[..read.min(room)]);
            }
        }
    }
}

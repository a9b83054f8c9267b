//! What the binary's tests share: the command with a clean environment, a private data
//! dir, and a guard that never leaves a server running after a failed test.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::{Child, Command};

/// `scoremate` with no `SCOREMATE_*` variable of the test environment leaking into the
/// settings under test.
pub fn scoremate() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_scoremate"));
    for (name, _) in std::env::vars() {
        if name.starts_with("SCOREMATE_") {
            command.env_remove(name);
        }
    }
    command
}

/// A fresh folder for one test.
pub fn temp_dir(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("scoremate-{label}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Kills the child when dropped (a test that panics still stops its server).
pub struct KillOnDrop(pub Option<Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

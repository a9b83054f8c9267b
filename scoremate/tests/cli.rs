//! The `scoremate` binary as an operator runs it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

mod support;

use support::{scoremate, temp_dir};

#[test]
fn every_subcommand_has_help() {
    for subcommand in [
        "serve",
        "worker",
        "migrate",
        "projections",
        "audit",
        "admin",
        "pdf",
    ] {
        let output = scoremate().args([subcommand, "--help"]).output().unwrap();
        assert!(output.status.success(), "{subcommand} --help failed");
        assert!(!output.stdout.is_empty());
    }
    let help = scoremate().arg("--help").output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    assert!(help.contains("SCOREMATE_DATABASE_URL"));
}

#[test]
fn projections_status_lists_every_projection_and_rebuild_all_rebuilds_them() {
    let dir = temp_dir("cli-projections");
    let run = |args: &[&str]| {
        scoremate()
            .args(args)
            .env("SCOREMATE_DATA_DIR", &dir)
            .output()
            .unwrap()
    };
    let status = run(&["projections", "status"]);
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let table = String::from_utf8(status.stdout).unwrap();
    for name in projections::PROJECTION_NAMES {
        assert!(
            table.lines().any(|line| line.starts_with(name)),
            "{name} missing from:\n{table}"
        );
    }
    let rebuilt = run(&["projections", "rebuild", "all"]);
    assert!(
        rebuilt.status.success(),
        "{}",
        String::from_utf8_lossy(&rebuilt.stderr)
    );
    let report = String::from_utf8(rebuilt.stdout).unwrap();
    for name in projections::PROJECTION_NAMES {
        assert!(report.contains(&format!("{name}: rebuilt")), "{report}");
    }
    let unknown = run(&["projections", "rebuild", "nonsense"]);
    assert_eq!(unknown.status.code(), Some(1));
    let stderr = String::from_utf8(unknown.stderr).unwrap();
    assert!(
        stderr.contains("no projection is named \"nonsense\"") && stderr.contains("quota_ledger"),
        "{stderr}"
    );
}

#[test]
fn migrate_creates_the_embedded_database_in_the_data_dir() {
    let dir = temp_dir("cli-migrate");
    let output = scoremate()
        .args(["migrate"])
        .env("SCOREMATE_DATA_DIR", &dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(dir.join("scoremate.db").exists());
    // Running it again is a no-op.
    assert!(
        scoremate()
            .arg("migrate")
            .env("SCOREMATE_DATA_DIR", &dir)
            .status()
            .unwrap()
            .success()
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_bad_database_url_is_a_clear_error() {
    let output = scoremate()
        .arg("migrate")
        .env(
            "SCOREMATE_DATABASE_URL",
            "mysql://root:hunter2@localhost/db",
        )
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("unsupported database URL"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "the password leaked: {stderr}");
}

#[tokio::test]
async fn serve_starts_on_the_embedded_default_and_stops_on_sigterm() {
    let dir = temp_dir("cli-serve");
    let mut child = scoremate()
        .env("SCOREMATE_DATA_DIR", &dir)
        .env("SCOREMATE_BIND", "127.0.0.1:0")
        .env("SCOREMATE_EMBEDDED_S3_BIND", "127.0.0.1:0")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();

    // The first log line with an address says where it listens (port 0 was asked for).
    let stderr = child.stderr.take().unwrap();
    let (address_tx, address_rx) = std::sync::mpsc::channel();
    let log_reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stderr).lines() {
            let line = line.unwrap();
            if let Ok(entry) = serde_json::from_str::<serde_json::Value>(&line)
                && entry["message"] == "serving"
            {
                let _ = address_tx.send(entry["addr"].as_str().unwrap().to_owned());
            }
            lines.push(line);
        }
        lines
    });
    let address = address_rx.recv_timeout(Duration::from_secs(60)).unwrap();

    let health = reqwest::get(format!("http://{address}/healthz"))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert!(
        dir.join("scoremate.db").exists(),
        "data appears under the data dir"
    );

    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = child.wait().unwrap();
    assert!(status.success(), "graceful shutdown exits 0, got {status}");
    let lines = log_reader.join().unwrap();
    assert!(
        lines.iter().any(|line| line.contains("SIGTERM")),
        "{lines:?}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn granting_a_role_to_an_unknown_user_is_a_clear_error() {
    let dir = temp_dir("cli-admin");
    let output = scoremate()
        .args(["admin", "grant-role", "nobody@example.com", "auditor"])
        .env("SCOREMATE_DATA_DIR", &dir)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("no account for"), "{stderr}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// The claims of a JWT, read without checking its signature.
fn jwt_claims(token: &str) -> serde_json::Value {
    let payload = token.split('.').nth(1).unwrap();
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits = 0_u32;
    let mut count = 0;
    let mut bytes = Vec::new();
    for symbol in payload.bytes() {
        let value = u32::try_from(alphabet.iter().position(|&a| a == symbol).unwrap()).unwrap();
        bits = (bits << 6) | value;
        count += 6;
        if count >= 8 {
            count -= 8;
            bytes.push(u8::try_from((bits >> count) & 0xff).unwrap());
        }
    }
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn a_granted_role_reaches_the_token_at_the_next_login_and_leaves_at_the_next_refresh() {
    let dir = temp_dir("cli-roles");
    let mut child = scoremate()
        .env("SCOREMATE_DATA_DIR", &dir)
        .env("SCOREMATE_BIND", "127.0.0.1:0")
        .env("SCOREMATE_EMBEDDED_S3_BIND", "127.0.0.1:0")
        .env("SCOREMATE_THROTTLE_ANON_PER_HOUR", "0")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (address_tx, address_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Ok(entry) = serde_json::from_str::<serde_json::Value>(&line)
                && entry["message"] == "serving"
            {
                let _ = address_tx.send(entry["addr"].as_str().unwrap().to_owned());
            }
        }
    });
    let base = format!(
        "http://{}/api/v1",
        address_rx.recv_timeout(Duration::from_secs(60)).unwrap()
    );
    let client = reqwest::Client::new();
    let credentials =
        serde_json::json!({"email": "Auditor@Example.com", "password": "a long enough password"});
    let registered = client
        .post(format!("{base}/auth/register"))
        .json(&credentials)
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);
    let before: serde_json::Value = client
        .post(format!("{base}/auth/login"))
        .json(&credentials)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        jwt_claims(before["access"].as_str().unwrap())["roles"],
        serde_json::json!([])
    );

    let granted = scoremate()
        .args(["admin", "grant-role", "auditor@example.com", "auditor"])
        .env("SCOREMATE_DATA_DIR", &dir)
        .output()
        .unwrap();
    assert!(
        granted.status.success(),
        "{}",
        String::from_utf8_lossy(&granted.stderr)
    );

    let after: serde_json::Value = client
        .post(format!("{base}/auth/login"))
        .json(&credentials)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        jwt_claims(after["access"].as_str().unwrap())["roles"],
        serde_json::json!(["auditor"])
    );
    let me: serde_json::Value = client
        .get(format!("{base}/me"))
        .bearer_auth(after["access"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["roles"], serde_json::json!(["auditor"]));

    let revoked = scoremate()
        .args(["admin", "revoke-role", "auditor@example.com", "auditor"])
        .env("SCOREMATE_DATA_DIR", &dir)
        .output()
        .unwrap();
    assert!(revoked.status.success());
    let refreshed: serde_json::Value = client
        .post(format!("{base}/auth/refresh"))
        .json(&serde_json::json!({"refresh": after["refresh"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        jwt_claims(refreshed["access"].as_str().unwrap())["roles"],
        serde_json::json!([])
    );

    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    assert!(child.wait().unwrap().success());
    std::fs::remove_dir_all(dir).unwrap();
}

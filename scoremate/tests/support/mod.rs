//! What the binary's tests share: the command with a clean environment, a private data
//! dir, and a guard that never leaves a server running after a failed test.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// `scoremate` with no `SCOREMATE_*` variable of the test environment leaking into the
/// settings under test. `SCOREMATE_TEST_BINARY` names another build to run instead of
/// the debug one (the bench build, to take figures from it).
pub fn scoremate() -> Command {
    let binary = std::env::var_os("SCOREMATE_TEST_BINARY")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_scoremate").into());
    let mut command = Command::new(binary);
    for (name, _) in std::env::vars() {
        if name.starts_with("SCOREMATE_") {
            command.env_remove(name);
        }
    }
    // The default metrics port is fixed: tests running side by side would fight over it.
    command.env("SCOREMATE_METRICS_BIND", "127.0.0.1:0");
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

/// A `scoremate serve` child and its log lines.
pub struct Server {
    pub child: Child,
    /// `http://127.0.0.1:PORT/api/v1`
    pub base: String,
    pub lines: mpsc::Receiver<String>,
    /// The `serving` log line (addresses of the API and the metrics listener).
    pub serving: Value,
}

/// Starts `scoremate serve` on free ports over `data_dir`, with extra `SCOREMATE_*`
/// settings, and waits for its `serving` line.
pub fn start(data_dir: &Path, settings: &[(&str, &str)]) -> Server {
    let mut command = scoremate();
    command
        .env("SCOREMATE_DATA_DIR", data_dir)
        .env("SCOREMATE_BIND", "127.0.0.1:0")
        .env("SCOREMATE_EMBEDDED_S3_BIND", "127.0.0.1:0")
        .env("SCOREMATE_THROTTLE_ANON_PER_HOUR", "0")
        .env("SCOREMATE_THROTTLE_USER_PER_HOUR", "0");
    for (name, value) in settings {
        command.env(name, value);
    }
    let (child, lines) = spawn_logged(&mut command);
    let serving = wait_for(&lines, "serving");
    let address = serving["addr"].as_str().unwrap().to_owned();
    Server {
        child,
        base: format!("http://{address}/api/v1"),
        lines,
        serving,
    }
}

/// Spawns `command` with its log (stderr) read line by line on a thread of its own, so a
/// full pipe never stalls the child; the lines arrive on the receiver.
pub fn spawn_logged(command: &mut Command) -> (Child, mpsc::Receiver<String>) {
    command.stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (sender, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    (child, lines)
}

/// The first log line whose message is `message`.
pub fn wait_for(lines: &mpsc::Receiver<String>, message: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = lines
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no {message:?} log line"));
        if let Ok(entry) = serde_json::from_str::<Value>(&line)
            && entry["message"] == message
        {
            return entry;
        }
    }
}

/// `kill -9` of a child, then its reaping: a crash, not a shutdown.
pub fn kill_9(mut child: Child) {
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-9", &pid])
            .status()
            .unwrap()
            .success()
    );
    let _ = child.wait();
}

/// A fresh PostgreSQL database for one test, dropped by [`FreshPostgres::drop_database`].
pub struct FreshPostgres {
    admin_url: String,
    name: String,
}

impl FreshPostgres {
    /// `None` (skip, with a notice) when PostgreSQL is unreachable outside CI; in CI
    /// (`CI` set) that is a failure.
    pub async fn create(label: &str) -> Option<Self> {
        use sqlx::Connection;
        let admin_url = "postgres://postgres@127.0.0.1:5432/postgres".to_owned();
        let mut admin = match sqlx::PgConnection::connect(&admin_url).await {
            Ok(admin) => admin,
            Err(error) if std::env::var_os("CI").is_none() => {
                eprintln!(
                    "NOTICE: PostgreSQL unreachable ({error}); skipping (CI=1 makes this a failure)"
                );
                return None;
            }
            Err(error) => panic!("PostgreSQL is required in CI: {error}"),
        };
        let name = format!("scoremate_{label}_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap();
        let _ = admin.close().await;
        Some(Self { admin_url, name })
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:5432/{}", self.name)
    }

    pub async fn drop_database(self) {
        use sqlx::Connection;
        let mut admin = sqlx::PgConnection::connect(&self.admin_url).await.unwrap();
        let _ = sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut admin)
        .await;
    }
}

/// The password of every account the binary's tests register.
pub const PASSWORD: &str = "a long enough password";

/// Registers `email` on the server at `base` (`…/api/v1`); the account's id.
pub async fn register(client: &reqwest::Client, base: &str, email: &str) -> String {
    let registered = client
        .post(format!("{base}/auth/register"))
        .json(&serde_json::json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201, "registering {email}");
    let account: Value = registered.json().await.unwrap();
    account["id"].as_str().unwrap().to_owned()
}

/// Logs `email` in; its access token.
pub async fn login(client: &reqwest::Client, base: &str, email: &str) -> String {
    let tokens: Value = client
        .post(format!("{base}/auth/login"))
        .json(&serde_json::json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    tokens["access"].as_str().unwrap().to_owned()
}

/// upload-url → PUT of `bytes` with the returned headers → confirmation as a score called
/// `title`; the score's id.
pub async fn upload(
    client: &reqwest::Client,
    base: &str,
    access: &str,
    title: &str,
    bytes: &[u8],
) -> String {
    let upload_id = store(client, base, access, bytes).await;
    let created = client
        .post(format!("{base}/scores"))
        .bearer_auth(access)
        .json(&serde_json::json!({"upload_id": upload_id, "title": title}))
        .send()
        .await
        .unwrap();
    let status = created.status();
    let score: Value = created.json().await.unwrap();
    assert_eq!(status, 201, "{title}: confirmation {score}");
    score["id"].as_str().unwrap().to_owned()
}

/// upload-url → PUT of `bytes` with the returned headers, not confirmed; the upload's id.
pub async fn store(client: &reqwest::Client, base: &str, access: &str, bytes: &[u8]) -> Value {
    let ticket: Value = client
        .post(format!("{base}/files/upload-url"))
        .bearer_auth(access)
        .json(&serde_json::json!({
            "filename": "upload.pdf",
            "size": bytes.len(),
            "mime_type": "application/pdf",
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = ticket["upload_url"]
        .as_str()
        .unwrap_or_else(|| panic!("no upload URL: {ticket}"));
    let mut put = client.put(url);
    for (name, value) in ticket["headers"].as_object().unwrap() {
        put = put.header(name.as_str(), value.as_str().unwrap());
    }
    let stored = put.body(bytes.to_vec()).send().await.unwrap();
    assert_eq!(stored.status(), 200, "PUT to the presigned URL");
    ticket["upload_id"].clone()
}

/// Per confirmed upload (by score id): how many `PdfInfoExtracted`, `ThumbnailGenerated`
/// and `ProcessingFailed` events it has.
pub async fn processing_counts(pool: &sqlx::PgPool) -> Vec<(String, i64, i64, i64)> {
    sqlx::query_as(
        "SELECT aggregate_id,
                count(*) FILTER (WHERE event_type = 'PdfInfoExtracted'),
                count(*) FILTER (WHERE event_type = 'ThumbnailGenerated'),
                count(*) FILTER (WHERE event_type = 'ProcessingFailed')
         FROM events
         WHERE aggregate_id IN (SELECT aggregate_id FROM events WHERE event_type = 'UploadConfirmed')
         GROUP BY aggregate_id
         ORDER BY aggregate_id",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

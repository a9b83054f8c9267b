//! A server killed (`kill -9`) between the upload's confirmation and the quota's heals on
//! restart: the quota saga confirms the bytes, exactly once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod support;

use support::{KillOnDrop, scoremate, temp_dir};

struct Server {
    child: Child,
    base: String,
    lines: mpsc::Receiver<String>,
}

fn start(data_dir: &Path, failpoint: Option<&str>) -> Server {
    let mut command = scoremate();
    command
        .env("SCOREMATE_DATA_DIR", data_dir)
        .env("SCOREMATE_BIND", "127.0.0.1:0")
        .env("SCOREMATE_EMBEDDED_S3_BIND", "127.0.0.1:0")
        .env("SCOREMATE_THROTTLE_ANON_PER_HOUR", "0")
        .env("SCOREMATE_THROTTLE_USER_PER_HOUR", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(failpoint) = failpoint {
        command.env("SCOREMATE_FAILPOINT", failpoint);
    }
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
    let address = wait_for(&lines, "serving")["addr"]
        .as_str()
        .unwrap()
        .to_owned();
    Server {
        child,
        base: format!("http://{address}/api/v1"),
        lines,
    }
}

/// The first log line whose message is `message`.
fn wait_for(lines: &mpsc::Receiver<String>, message: &str) -> Value {
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

async fn sign_in(client: &reqwest::Client, base: &str, register: bool) -> String {
    let credentials = json!({"email": "crash@example.com", "password": "a long enough password"});
    if register {
        let registered = client
            .post(format!("{base}/auth/register"))
            .json(&credentials)
            .send()
            .await
            .unwrap();
        assert_eq!(registered.status(), 201);
    }
    let tokens: Value = client
        .post(format!("{base}/auth/login"))
        .json(&credentials)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    tokens["access"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_kill_between_upload_and_quota_confirmation_heals_on_restart_exactly_once() {
    let data_dir = temp_dir("crash");
    let client = reqwest::Client::new();
    let pdf = b"%PDF-1.4\n% crash test\n%%EOF\n".to_vec();

    let first = start(&data_dir, Some("after-upload-confirmed"));
    let mut first_guard = KillOnDrop(Some(first.child));
    let access = sign_in(&client, &first.base, true).await;
    let ticket: Value = client
        .post(format!("{}/files/upload-url", first.base))
        .bearer_auth(&access)
        .json(&json!({"filename": "crash.pdf", "size": pdf.len(), "mime_type": "application/pdf"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut put = client.put(ticket["upload_url"].as_str().unwrap());
    for (name, value) in ticket["headers"].as_object().unwrap() {
        put = put.header(name.as_str(), value.as_str().unwrap());
    }
    assert_eq!(put.body(pdf.clone()).send().await.unwrap().status(), 200);
    let confirm = client
        .post(format!("{}/scores", first.base))
        .bearer_auth(&access)
        .json(&json!({"upload_id": ticket["upload_id"], "title": "Crash"}))
        .send();
    let confirming = tokio::spawn(confirm);
    // The confirmation is committed; the quota confirmation is not. Kill -9 right there.
    let paused = tokio::task::spawn_blocking({
        let lines = first.lines;
        move || {
            wait_for(&lines, "failpoint after-upload-confirmed reached");
            lines
        }
    });
    let _lines = paused.await.unwrap();
    let mut first_child = first_guard.0.take().unwrap();
    let pid = first_child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-9", &pid])
            .status()
            .unwrap()
            .success()
    );
    let _ = first_child.wait();
    assert!(
        confirming.await.unwrap().is_err(),
        "the client saw the connection die"
    );

    // The crash left exactly the window under test: the upload confirmed, the quota not.
    let database = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        data_dir.join("scoremate.db").display()
    ))
    .await
    .unwrap();
    let count = |event_type: &'static str| {
        let database = database.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM events WHERE event_type = $1")
                .bind(event_type)
                .fetch_one(&database)
                .await
                .unwrap()
        }
    };
    assert_eq!(
        (
            count("UploadConfirmed").await,
            count("QuotaConfirmed").await
        ),
        (1, 0)
    );
    database.close().await;

    let second = start(&data_dir, None);
    let _second_guard = KillOnDrop(Some(second.child));
    let access = sign_in(&client, &second.base, false).await;
    // The restarted server's quota saga picks the confirmation up from the log; it runs
    // in the background, so wait for it (bounded).
    let deadline = Instant::now() + Duration::from_secs(30);
    let quota = loop {
        let quota: Value = client
            .get(format!("{}/quota", second.base))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if quota["used_bytes"] == pdf.len() || Instant::now() > deadline {
            break quota;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(quota["used_bytes"], pdf.len());
    assert_eq!(quota["reserved_bytes"], 0);

    // Give the background loop more rounds: nothing is confirmed twice.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let history: Value = client
        .get(format!("{}/quota/history", second.base))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let confirmations = history["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| row["event"] == "QuotaConfirmed")
        .count();
    assert_eq!(confirmations, 1);
    let quota: Value = client
        .get(format!("{}/quota", second.base))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(quota["used_bytes"], pdf.len());
    drop(_second_guard);
    let _ = std::fs::remove_dir_all(data_dir);
}

//! The served binary's log: JSON lines, one access line per request, and no secrets.
//!
//! A real `scoremate serve` runs as a child process with `SCOREMATE_LOG=debug` (the
//! strictest level an operator might turn on); a client registers, logs in, refreshes,
//! reads `/me` and logs out; the child is stopped with SIGTERM and all of its stderr is
//! examined.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

mod support;

use support::{KillOnDrop, scoremate, temp_dir};

const PASSWORD: &str = "correct horse battery staple";

/// One request the client made, as the client saw it.
#[derive(Debug)]
struct Sent {
    what: &'static str,
    request_id: String,
    method: &'static str,
    status: u16,
    /// The user id when the request carried an access token.
    user_id: Option<String>,
}

/// What a session left behind: the log lines, the requests, and the strings that must
/// not be in the log.
struct Session {
    lines: Vec<String>,
    sent: Vec<Sent>,
    secrets: Vec<(String, String)>,
}

/// What follows the last `.` of a token: a JWT's signature (the whole of an opaque token).
fn signature_part(token: &str) -> &str {
    token.rsplit('.').next().unwrap_or(token)
}

/// Sends `request` with a fresh `X-Request-Id` and records it; returns the JSON body.
async fn send(
    sent: &mut Vec<Sent>,
    what: &'static str,
    method: &'static str,
    request: reqwest::RequestBuilder,
    expected: u16,
    user_id: Option<String>,
) -> Value {
    let asked_id = uuid::Uuid::new_v4().to_string();
    let response = request
        .header("x-request-id", &asked_id)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let request_id = response
        .headers()
        .get("x-request-id")
        .map_or_else(|| asked_id.clone(), |id| id.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    assert_eq!(status, expected, "{what}: {text}");
    sent.push(Sent {
        what,
        request_id,
        method,
        status,
        user_id,
    });
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    }
}

fn token(body: &Value, name: &str) -> String {
    body[name]
        .as_str()
        .unwrap_or_else(|| panic!("`{name}` missing in {body}"))
        .to_owned()
}

async fn run_a_session(dir: &Path) -> Session {
    let mut child = scoremate()
        .env("SCOREMATE_DATA_DIR", dir)
        .env("SCOREMATE_BIND", "127.0.0.1:0")
        .env("SCOREMATE_EMBEDDED_S3_BIND", "127.0.0.1:0")
        .env("SCOREMATE_EMBEDDED_S3_BIND", "127.0.0.1:0")
        .env("SCOREMATE_LOG", "debug")
        .env("SCOREMATE_LOG_FORMAT", "json")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut running = KillOnDrop(Some(child));
    let (address_tx, address_rx) = std::sync::mpsc::channel();
    let log_reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stderr).lines() {
            let line = line.unwrap();
            if let Ok(entry) = serde_json::from_str::<Value>(&line)
                && entry["message"] == "serving"
                && let Some(addr) = entry["addr"].as_str()
            {
                let _ = address_tx.send(addr.to_owned());
            }
            lines.push(line);
        }
        lines
    });
    let address = address_rx.recv_timeout(Duration::from_secs(60)).unwrap();
    let url = |path: &str| format!("http://{address}{path}");
    let client = reqwest::Client::new();
    let email = format!("logs-{}@example.com", uuid::Uuid::new_v4().simple());
    let mut sent = Vec::new();

    let account = send(
        &mut sent,
        "register",
        "POST",
        client
            .post(url("/api/v1/auth/register"))
            .json(&json!({"email": email, "password": PASSWORD})),
        201,
        None,
    )
    .await;
    let user_id = token(&account, "id");
    let login = send(
        &mut sent,
        "login",
        "POST",
        client
            .post(url("/api/v1/auth/login"))
            .json(&json!({"email": email, "password": PASSWORD})),
        200,
        None,
    )
    .await;
    let refreshed = send(
        &mut sent,
        "refresh",
        "POST",
        client
            .post(url("/api/v1/auth/refresh"))
            .json(&json!({"refresh": token(&login, "refresh")})),
        200,
        None,
    )
    .await;
    send(
        &mut sent,
        "me",
        "GET",
        client
            .get(url("/api/v1/me"))
            .bearer_auth(token(&refreshed, "access")),
        200,
        Some(user_id),
    )
    .await;
    send(
        &mut sent,
        "logout",
        "POST",
        client
            .post(url("/api/v1/auth/logout"))
            .json(&json!({"refresh": token(&refreshed, "refresh")})),
        204,
        None,
    )
    .await;

    let pid = running.0.as_ref().unwrap().id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = running.0.take().unwrap().wait().unwrap();
    assert!(status.success(), "graceful shutdown exits 0, got {status}");
    let lines = log_reader.join().unwrap();

    let mut secrets = vec![("the password".to_owned(), PASSWORD.to_owned())];
    for (pair, body) in [("login", &login), ("refresh", &refreshed)] {
        for kind in ["access", "refresh"] {
            let value = token(body, kind);
            secrets.push((
                format!("the {kind} token signature from {pair}"),
                signature_part(&value).to_owned(),
            ));
            secrets.push((format!("the {kind} token from {pair}"), value));
        }
    }
    if let Ok(jwt_secret) = std::fs::read_to_string(dir.join("jwt_secret")) {
        secrets.push(("the JWT secret".to_owned(), jwt_secret.trim().to_owned()));
    }
    Session {
        lines,
        sent,
        secrets,
    }
}

/// `name` of a log line: a field of the event (flattened or under `fields`) or of one of
/// its spans, innermost first.
fn field<'a>(line: &'a Value, name: &str) -> Option<&'a Value> {
    line.get(name)
        .or_else(|| line.get("fields").and_then(|fields| fields.get(name)))
        .or_else(|| line.get("span").and_then(|span| span.get(name)))
        .or_else(|| {
            line.get("spans")
                .and_then(Value::as_array)
                .and_then(|spans| spans.iter().rev().find_map(|span| span.get(name)))
        })
}

fn as_text(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned)
}

fn parse_lines(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .map(|line| {
            serde_json::from_str::<Value>(line)
                .ok()
                .filter(Value::is_object)
                .unwrap_or_else(|| panic!("a log line that is not a JSON object: {line:?}"))
        })
        .collect()
}

#[tokio::test]
async fn every_log_line_is_a_json_object() {
    let dir = temp_dir("logs");

    let session = run_a_session(&dir).await;

    assert!(!session.lines.is_empty());
    parse_lines(&session.lines);
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn each_request_has_exactly_one_access_log_line() {
    let dir = temp_dir("logs");

    let session = run_a_session(&dir).await;

    let entries = parse_lines(&session.lines);
    let access_lines: Vec<&Value> = entries
        .iter()
        .filter(|entry| field(entry, "latency_ms").is_some() && field(entry, "status").is_some())
        .collect();
    assert_eq!(
        access_lines.len(),
        session.sent.len(),
        "one access line per request: {access_lines:#?}"
    );
    for sent in &session.sent {
        let mine: Vec<&&Value> = access_lines
            .iter()
            .filter(|entry| {
                field(entry, "request_id").map(as_text).as_deref() == Some(&sent.request_id)
            })
            .collect();
        assert_eq!(mine.len(), 1, "{sent:?}: {access_lines:#?}");
        let entry = mine[0];
        assert_eq!(
            field(entry, "method").map(as_text).as_deref(),
            Some(sent.method),
            "{}: {entry}",
            sent.what
        );
        assert_eq!(
            field(entry, "status").map(as_text),
            Some(sent.status.to_string()),
            "{}: {entry}",
            sent.what
        );
        assert!(
            field(entry, "latency_ms").is_some_and(Value::is_number),
            "{}: latency_ms is a number: {entry}",
            sent.what
        );
        if let Some(user_id) = &sent.user_id {
            assert_eq!(
                field(entry, "user_id").map(as_text).as_ref(),
                Some(user_id),
                "{}: {entry}",
                sent.what
            );
        }
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn no_password_token_or_signature_reaches_the_log() {
    let dir = temp_dir("logs");

    let session = run_a_session(&dir).await;

    for (what, secret) in &session.secrets {
        assert!(secret.len() >= 8, "{what} is too short to search for");
        if let Some(line) = session.lines.iter().find(|line| line.contains(secret)) {
            panic!("{what} appears in the log: {line}");
        }
    }
    std::fs::remove_dir_all(dir).unwrap();
}

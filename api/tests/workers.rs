//! Two `scoremate worker` processes on one PostgreSQL database process every upload
//! exactly once (issue #6).
//!
//! How the work is kept away from `serve`: `serve` accepts the 50 uploads, but it runs the
//! processors in-process too, so while it is up the test itself holds the two PDF
//! processors' PostgreSQL advisory locks (`pg_advisory_lock(hashtext(name))`, the lock
//! every runner takes before a batch, see `processors/src/runner.rs`): `serve`'s
//! `pdf_info` and `thumbnail` runners find them taken and stay idle. `serve` is then
//! killed, the test checks that nothing has been processed yet, releases the locks and
//! starts both workers at once.
//!
//! How the workers reach the uploaded files: both get the data dir `serve` used and no
//! `SCOREMATE_S3_ENDPOINT`, so each starts its own embedded S3 endpoint (on its own free
//! port) over the same `<data dir>/objects` folder, signed with the same key pair from
//! `<data dir>/embedded_s3_credentials`: two endpoints serving one set of files, as two
//! workers on one host sharing a disk would.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::Connection;

mod support;

use support::{FreshPostgres, KillOnDrop, scoremate, start, temp_dir, wait_for};

const UPLOADS: usize = 50;
const PDF: &[u8] = include_bytes!("../../pdf/tests/fixtures/ccitt-g4.pdf");
/// The processors `serve` must not run (`ProcessingStage::as_str`).
const PDF_PROCESSORS: [&str; 2] = ["pdf_info", "thumbnail"];

/// A `scoremate worker` child and its log lines, once it has logged `working`.
struct Worker {
    guard: KillOnDrop,
    lines: mpsc::Receiver<String>,
    /// Where its embedded S3 endpoint listens.
    s3: String,
}

fn start_worker(data_dir: &Path, database_url: &str) -> Worker {
    let mut child = scoremate()
        .arg("worker")
        .env("SCOREMATE_DATA_DIR", data_dir)
        .env("SCOREMATE_DATABASE_URL", database_url)
        .env("SCOREMATE_EMBEDDED_S3_BIND", "127.0.0.1:0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (sender, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let guard = KillOnDrop(Some(child));
    let s3 = wait_for(&lines, "embedded S3 endpoint listening")["local_addr"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let working = wait_for(&lines, "working");
    assert_eq!(working["backend"], "postgres", "{working}");
    Worker { guard, lines, s3 }
}

async fn sign_in(client: &reqwest::Client, base: &str) -> String {
    let credentials = json!({"email": "workers@example.com", "password": "a long enough password"});
    let registered = client
        .post(format!("{base}/auth/register"))
        .json(&credentials)
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);
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

/// Uploads the fixture PDF and confirms it as a score; the score's id.
async fn upload(client: &reqwest::Client, base: &str, access: &str, n: usize) -> String {
    let ticket: Value = client
        .post(format!("{base}/files/upload-url"))
        .bearer_auth(access)
        .json(&json!({
            "filename": format!("score-{n}.pdf"),
            "size": PDF.len(),
            "mime_type": "application/pdf",
        }))
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
    assert_eq!(put.body(PDF).send().await.unwrap().status(), 200);
    let created = client
        .post(format!("{base}/scores"))
        .bearer_auth(access)
        .json(&json!({"upload_id": ticket["upload_id"], "title": format!("Score {n}")}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let score: Value = created.json().await.unwrap();
    score["id"].as_str().unwrap().to_owned()
}

async fn count(pool: &sqlx::PgPool, event_type: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = $1")
        .bind(event_type)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn two_workers_process_every_upload_exactly_once() {
    let Some(database) = FreshPostgres::create("workers").await else {
        return;
    };
    let started = Instant::now();
    let url = database.url();
    let data_dir = temp_dir("workers");
    let client = reqwest::Client::new();

    // Keep serve's own PDF processors idle while it takes the uploads.
    let mut holder = sqlx::PgConnection::connect(&url).await.unwrap();
    for name in PDF_PROCESSORS {
        sqlx::query("SELECT pg_advisory_lock(hashtext($1))")
            .bind(name)
            .execute(&mut holder)
            .await
            .unwrap();
    }
    let server = start(&data_dir, &[("SCOREMATE_DATABASE_URL", &url)]);
    let server_guard = KillOnDrop(Some(server.child));
    let access = sign_in(&client, &server.base).await;
    let mut scores = Vec::with_capacity(UPLOADS);
    for n in 0..UPLOADS {
        scores.push(upload(&client, &server.base, &access, n).await);
    }
    // Killed (SIGKILL) and reaped: from here on only the workers touch the database.
    drop(server_guard);
    drop(server.lines);

    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    assert_eq!(count(&pool, "UploadConfirmed").await, UPLOADS as i64);
    for event_type in ["PdfInfoExtracted", "ThumbnailGenerated", "ProcessingFailed"] {
        assert_eq!(
            count(&pool, event_type).await,
            0,
            "serve processed {event_type} although the test held the locks"
        );
    }
    holder.close().await.unwrap();

    // Both workers at once: neither is up before the other starts.
    let (first, second) = std::thread::scope(|scope| {
        let first = scope.spawn(|| start_worker(&data_dir, &url));
        let second = scope.spawn(|| start_worker(&data_dir, &url));
        (first.join().unwrap(), second.join().unwrap())
    });
    assert_ne!(first.s3, second.s3, "each worker serves the objects itself");

    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (info, thumbnails) = (
            count(&pool, "PdfInfoExtracted").await,
            count(&pool, "ThumbnailGenerated").await,
        );
        if info >= UPLOADS as i64 && thumbnails >= UPLOADS as i64 {
            break;
        }
        let failed = count(&pool, "ProcessingFailed").await;
        assert_eq!(failed, 0, "a worker failed to process a score");
        assert!(
            Instant::now() < deadline,
            "after 120 s: {info} PdfInfoExtracted, {thumbnails} ThumbnailGenerated of {UPLOADS}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // More rounds of both workers: nothing is processed twice.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let per_score: Vec<(String, i64, i64, i64)> = sqlx::query_as(
        "SELECT aggregate_id,
                count(*) FILTER (WHERE event_type = 'PdfInfoExtracted'),
                count(*) FILTER (WHERE event_type = 'ThumbnailGenerated'),
                count(*) FILTER (WHERE event_type = 'ProcessingFailed')
         FROM events
         WHERE aggregate_id IN (SELECT aggregate_id FROM events WHERE event_type = 'UploadConfirmed')
         GROUP BY aggregate_id
         ORDER BY aggregate_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(per_score.len(), UPLOADS);
    for (score, info, thumbnails, failed) in &per_score {
        assert!(scores.contains(score), "{score} is not one of the uploads");
        assert_eq!(
            (*info, *thumbnails, *failed),
            (1, 1, 0),
            "score {score}: PdfInfoExtracted, ThumbnailGenerated, ProcessingFailed"
        );
    }
    for event_type in ["PdfInfoExtracted", "ThumbnailGenerated"] {
        assert_eq!(
            count(&pool, event_type).await,
            UPLOADS as i64,
            "{event_type}"
        );
    }
    assert_eq!(count(&pool, "ProcessingFailed").await, 0);

    // Neither worker hit an error while the work went on.
    for (label, worker) in [("first", &first), ("second", &second)] {
        for line in worker.lines.try_iter() {
            let entry: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
            assert!(
                entry["level"] != "ERROR",
                "the {label} worker logged an error: {line}"
            );
        }
    }

    drop(first.guard);
    drop(second.guard);
    pool.close().await;
    database.drop_database().await;
    let _ = std::fs::remove_dir_all(data_dir);
    eprintln!("two workers, {UPLOADS} uploads: {:?}", started.elapsed());
}

//! Two `scoremate worker` processes on one PostgreSQL database share the PDF jobs and
//! process every upload exactly once; the jobs of a worker killed mid-way are taken over
//! once their leases run out (issue #6).
//!
//! How the work is kept away from `serve`: `serve` accepts the uploads, but it runs the
//! processors in-process too, so while it is up the test itself holds the PostgreSQL
//! advisory locks of the two PDF job feeders (`pg_advisory_lock(hashtext(name))`, the lock
//! every follower takes before a batch, see `processors/src/runner.rs`): `serve`'s
//! `pdf_info` and `thumbnail` feeders find them taken and enqueue nothing, so its claim
//! loop finds no job. `serve` is then killed, the test checks that nothing has been
//! enqueued or processed yet, releases the locks and starts the workers.
//!
//! How the workers reach the uploaded files: both get the data dir `serve` used and no
//! `SCOREMATE_S3_ENDPOINT`, so each starts its own embedded S3 endpoint (on its own free
//! port) over the same `<data dir>/objects` folder, signed with the same key pair from
//! `<data dir>/embedded_s3_credentials`: two endpoints serving one set of files, as two
//! workers on one host sharing a disk would.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::Connection;

mod support;

use support::{
    FreshPostgres, KillOnDrop, kill_9, login, processing_counts, register, scoremate, spawn_logged,
    start, temp_dir, upload, wait_for,
};

const UPLOADS: usize = 50;
const PDF: &[u8] = include_bytes!("../../score-pdf/tests/fixtures/ccitt-g4.pdf");
/// The processors `serve` must not run (`ProcessingStage::as_str`).
const PDF_PROCESSORS: [&str; 2] = ["pdf_info", "thumbnail"];

/// A `scoremate worker` child and its log lines, once it has logged `working`.
struct Worker {
    guard: KillOnDrop,
    lines: mpsc::Receiver<String>,
    /// Where its embedded S3 endpoint listens.
    s3: String,
    /// Its name in the job table (`claimed_by`, `lease_owner`).
    name: String,
}

fn start_worker(data_dir: &Path, database_url: &str, settings: &[(&str, &str)]) -> Worker {
    let mut command = scoremate();
    command
        .arg("worker")
        .env("SCOREMATE_DATA_DIR", data_dir)
        .env("SCOREMATE_DATABASE_URL", database_url)
        .env("SCOREMATE_EMBEDDED_S3_BIND", "127.0.0.1:0");
    for (name, value) in settings {
        command.env(name, value);
    }
    let (child, lines) = spawn_logged(&mut command);
    let guard = KillOnDrop(Some(child));
    let s3 = wait_for(&lines, "embedded S3 endpoint listening")["local_addr"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let working = wait_for(&lines, "working");
    assert_eq!(working["backend"], "postgres", "{working}");
    let name = working["worker"].as_str().unwrap_or_default().to_owned();
    assert!(!name.is_empty(), "{working}");
    Worker {
        guard,
        lines,
        s3,
        name,
    }
}

/// Every job: `(score_id, stage, state, attempts, claimed_by, outcome)`.
type JobRow = (String, String, String, i64, Option<String>, Option<String>);

async fn jobs(pool: &sqlx::PgPool) -> Vec<JobRow> {
    sqlx::query_as(
        "SELECT score_id, stage, state, attempts, claimed_by, outcome FROM processing_jobs \
         ORDER BY score_id, stage",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

/// `uploads` scores accepted by `serve` over `data_dir`, none of them processed: `serve`'s
/// PDF job feeders are held off (see the module's comment) and `serve` is killed before the
/// locks are released. The scores' ids.
async fn uploads_nobody_processed(url: &str, data_dir: &Path, uploads: usize) -> Vec<String> {
    let client = reqwest::Client::new();
    let mut holder = sqlx::PgConnection::connect(url).await.unwrap();
    for name in PDF_PROCESSORS {
        sqlx::query("SELECT pg_advisory_lock(hashtext($1))")
            .bind(name)
            .execute(&mut holder)
            .await
            .unwrap();
    }
    let server = start(data_dir, &[("SCOREMATE_DATABASE_URL", url)]);
    let server_guard = KillOnDrop(Some(server.child));
    register(&client, &server.base, "workers@example.com").await;
    let access = login(&client, &server.base, "workers@example.com").await;
    let mut scores = Vec::with_capacity(uploads);
    for n in 0..uploads {
        scores.push(upload(&client, &server.base, &access, &format!("Score {n}"), PDF).await);
    }
    // Killed (SIGKILL) and reaped: from here on only the workers touch the database.
    drop(server_guard);
    drop(server.lines);

    let pool = sqlx::PgPool::connect(url).await.unwrap();
    assert_eq!(count(&pool, "UploadConfirmed").await, uploads as i64);
    for event_type in ["PdfInfoExtracted", "ThumbnailGenerated", "ProcessingFailed"] {
        assert_eq!(
            count(&pool, event_type).await,
            0,
            "serve processed {event_type} although the test held the locks"
        );
    }
    assert!(jobs(&pool).await.is_empty(), "serve enqueued jobs");
    pool.close().await;
    holder.close().await.unwrap();
    scores
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
    let scores = uploads_nobody_processed(&url, &data_dir, UPLOADS).await;
    let pool = sqlx::PgPool::connect(&url).await.unwrap();

    // Both workers at once: neither is up before the other starts.
    let (first, second) = std::thread::scope(|scope| {
        let first = scope.spawn(|| start_worker(&data_dir, &url, &[]));
        let second = scope.spawn(|| start_worker(&data_dir, &url, &[]));
        (first.join().unwrap(), second.join().unwrap())
    });
    assert_ne!(first.name, second.name);
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

    let per_score = processing_counts(&pool).await;
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

    // One job per score and stage, each done once, and both workers did some of them.
    let jobs = jobs(&pool).await;
    assert_eq!(jobs.len(), 2 * UPLOADS);
    let mut by_worker = std::collections::BTreeMap::<String, usize>::new();
    for (score, stage, state, attempts, claimed_by, outcome) in &jobs {
        assert!(scores.contains(score), "a job of {score}");
        assert_eq!(
            (state.as_str(), *attempts, outcome.as_deref()),
            ("done", 1, Some("succeeded")),
            "the {stage} job of {score}"
        );
        *by_worker
            .entry(claimed_by.clone().unwrap_or_default())
            .or_default() += 1;
    }
    assert_eq!(
        by_worker.keys().collect::<Vec<_>>(),
        {
            let mut names = vec![&first.name, &second.name];
            names.sort();
            names
        },
        "jobs by worker: {by_worker:?}"
    );
    eprintln!("jobs by worker: {by_worker:?}");

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

/// A PDF sandbox child that never answers: it waits, without reading its request, until
/// its parent is gone, then exits (so a killed worker leaves no process behind).
fn hanging_pdf_child(dir: &Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("hanging-pdf-child.sh");
    std::fs::write(
        &path,
        "#!/bin/sh\nwhile kill -0 $PPID 2>/dev/null; do /bin/sleep 0.2; done\n",
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// Polls the job table until it holds `count` jobs and `done` holds for every one, or
/// fails after `secs` seconds. The count matters: the two stages' jobs are enqueued by two
/// followers, so for a moment the table may hold one job, already claimed.
async fn wait_for_jobs(
    pool: &sqlx::PgPool,
    count: usize,
    secs: u64,
    what: &str,
    done: impl Fn(&JobRow) -> bool,
) -> Vec<JobRow> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let jobs = jobs(pool).await;
        if jobs.len() == count && jobs.iter().all(&done) {
            return jobs;
        }
        assert!(
            Instant::now() < deadline,
            "after {secs} s, not {what}: {jobs:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `kill -TERM` of a child, then its reaping: a shutdown.
fn terminate(mut child: std::process::Child) {
    let pid = child.id().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "the worker stopped with {status}");
}

#[tokio::test]
async fn the_jobs_of_a_stopped_worker_are_freed_and_those_of_a_killed_one_taken_over() {
    let Some(database) = FreshPostgres::create("worker_takeover").await else {
        return;
    };
    let url = database.url();
    let data_dir = temp_dir("worker-takeover");
    let scores = uploads_nobody_processed(&url, &data_dir, 1).await;
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let lease = ("SCOREMATE_PDF_JOB_LEASE_SECS", "2");
    let child = hanging_pdf_child(&data_dir);
    let hanging = ("SCOREMATE_PDF_CHILD", child.to_str().unwrap());

    // A worker whose sandbox children hang claims both jobs of the score, then is stopped
    // (SIGTERM): it hands them back at once, without waiting for the leases.
    let mut stopped = start_worker(&data_dir, &url, &[lease, hanging]);
    wait_for_jobs(&pool, 2, 60, "both claimed by the stopped worker", |job| {
        job.2 == "running" && job.4.as_deref() == Some(stopped.name.as_str())
    })
    .await;
    terminate(stopped.guard.0.take().unwrap());
    let freed = jobs(&pool).await;
    assert!(
        freed
            .iter()
            .all(|job| job.2 == "queued" && job.3 == 1 && job.5.is_none()),
        "{freed:?}"
    );

    // Another one claims them and is killed (SIGKILL) while they hang: they stay its own
    // until the leases run out.
    let mut doomed = start_worker(&data_dir, &url, &[lease, hanging]);
    let claimed = wait_for_jobs(&pool, 2, 60, "both claimed by the doomed worker", |job| {
        job.2 == "running" && job.4.as_deref() == Some(doomed.name.as_str())
    })
    .await;
    assert_eq!(claimed.len(), 2, "{claimed:?}");
    kill_9(doomed.guard.0.take().unwrap());

    let heir = start_worker(&data_dir, &url, &[lease]);
    let taken_over = wait_for_jobs(&pool, 2, 60, "both done", |job| job.2 == "done").await;
    for (score, stage, _, attempts, claimed_by, outcome) in &taken_over {
        assert_eq!(score, &scores[0]);
        assert_eq!(
            (*attempts, claimed_by.as_deref(), outcome.as_deref()),
            (3, Some(heir.name.as_str()), Some("succeeded")),
            "the {stage} job"
        );
    }
    for (event_type, expected) in [
        ("PdfInfoExtracted", 1),
        ("ThumbnailGenerated", 1),
        ("ProcessingFailed", 0),
    ] {
        assert_eq!(count(&pool, event_type).await, expected, "{event_type}");
    }
    // The heir says whose jobs it took over.
    let takeovers: Vec<Value> = heir
        .lines
        .try_iter()
        .filter_map(|line| serde_json::from_str::<Value>(&line).ok())
        .filter(|entry| entry["message"] == "taking over a job whose lease ran out")
        .collect();
    assert_eq!(takeovers.len(), 2, "{takeovers:?}");
    for entry in &takeovers {
        assert_eq!(entry["previous_owner"], doomed.name.as_str(), "{entry}");
    }

    drop(heir.guard);
    pool.close().await;
    database.drop_database().await;
    let _ = std::fs::remove_dir_all(data_dir);
}

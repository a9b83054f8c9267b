//! Several processes on one PostgreSQL database behind the deployment recipe's proxy
//! (issue #22): HAProxy running `deploy/haproxy.cfg` (only its addresses changed) in
//! front of two `scoremate serve` processes, plus one `scoremate worker`. All share one
//! database, one JWT secret and one S3 store: the embedded endpoint of the first `serve`,
//! which the others reach as an external store.
//!
//! Clients drive uploads and setlist edits through the proxy while the second `serve`
//! and the worker are killed with `kill -9` and started again. Each acknowledged change is
//! read back at once through the proxy (often from the other instance), and afterwards:
//! every acknowledged change is there, the read models equal a rebuild, the quota audit
//! is clean, every PDF was processed once, and no reservation ended twice. A second test
//! holds the rate limits across the instances; a third, the change feed's long-poll.
//!
//! HAProxy comes from Debian's `haproxy` package (`.ci/run` installs it); without it the
//! tests print a notice and pass outside CI, and fail in CI.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod support;

use support::{
    FreshPostgres, KillOnDrop, PASSWORD, kill_9, login, processing_counts, scoremate, spawn_logged,
    start, temp_dir, wait_for,
};

const PDF: &[u8] = include_bytes!("../../score-pdf/tests/fixtures/ccitt-g4.pdf");

/// The HAProxy binary, or `None` (with a notice) outside CI when it is not installed.
fn haproxy() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/local/sbin".into()])
        .map(|dir| dir.join("haproxy"))
        .find(|candidate| candidate.is_file());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "haproxy is required in CI (.ci/run installs Debian's package)"
        );
        eprintln!("NOTICE: haproxy not installed; skipping (CI makes this a failure)");
    }
    found
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `deploy/haproxy.cfg` listening on `port` in front of the instances on `servers`; it
/// also names the instance that answered in `x-served-by`.
fn proxy_config(port: u16, servers: &[u16]) -> String {
    let recipe = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/haproxy.cfg"),
    )
    .unwrap();
    let sections: Vec<&str> = recipe
        .lines()
        .filter(|line| !line.starts_with([' ', '#']) && !line.is_empty())
        .collect();
    assert_eq!(
        sections.last().map(|line| line.split_whitespace().next()),
        Some(Some("backend")),
        "the recipe ends with its backend, where the servers are appended"
    );
    let mut config = String::new();
    for line in recipe.lines() {
        match line.split_whitespace().next() {
            Some("bind") => config.push_str(&format!("    bind 127.0.0.1:{port}\n")),
            Some("server") => {}
            _ => {
                config.push_str(line);
                config.push('\n');
            }
        }
    }
    config.push_str("    http-response set-header x-served-by %[srv_name]\n");
    for (index, server) in servers.iter().enumerate() {
        config.push_str(&format!(
            "    server api{} 127.0.0.1:{server} check\n",
            index + 1
        ));
    }
    config
}

/// HAProxy with `proxy_config`, once it forwards requests.
async fn start_proxy(haproxy: &Path, dir: &Path, port: u16, servers: &[u16]) -> KillOnDrop {
    let config = dir.join("haproxy.cfg");
    std::fs::write(&config, proxy_config(port, servers)).unwrap();
    let log = std::fs::File::create(dir.join("haproxy.log")).unwrap();
    let child = Command::new(haproxy)
        .arg("-db")
        .arg("-f")
        .arg(&config)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let guard = KillOnDrop(Some(child));
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = client
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await;
        if answer.is_ok_and(|answer| answer.status() == 200) {
            return guard;
        }
        assert!(
            Instant::now() < deadline,
            "haproxy did not come up: {}",
            std::fs::read_to_string(dir.join("haproxy.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What every process of the cluster is told: one database, one JWT secret, the proxy's
/// address trusted, short upload and lease times so that expiries and take-overs happen
/// within the test.
fn shared_settings(database_url: &str, secret: &str) -> Vec<(String, String)> {
    [
        ("SCOREMATE_DATABASE_URL", database_url),
        ("SCOREMATE_JWT_SECRET", secret),
        ("SCOREMATE_TRUSTED_PROXIES", "127.0.0.1"),
        ("SCOREMATE_UPLOAD_URL_TTL_SECS", "3"),
        ("SCOREMATE_PDF_JOB_LEASE_SECS", "2"),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value.to_owned()))
    .collect()
}

/// The settings of a process that uses the first instance's embedded S3 endpoint.
fn external_s3(s3_port: u16, first_data_dir: &Path) -> Vec<(String, String)> {
    let keys = std::fs::read_to_string(first_data_dir.join("embedded_s3_credentials")).unwrap();
    let mut keys = keys.split_whitespace();
    vec![
        (
            "SCOREMATE_S3_ENDPOINT".to_owned(),
            format!("http://127.0.0.1:{s3_port}"),
        ),
        (
            "SCOREMATE_S3_ACCESS_KEY_ID".to_owned(),
            keys.next().unwrap().to_owned(),
        ),
        (
            "SCOREMATE_S3_SECRET_ACCESS_KEY".to_owned(),
            keys.next().unwrap().to_owned(),
        ),
    ]
}

fn pairs(settings: &[(String, String)]) -> Vec<(&str, &str)> {
    settings
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect()
}

/// `scoremate serve` on `port` with `settings`; its guard and log.
fn start_serve(
    data_dir: &Path,
    port: u16,
    settings: &[(String, String)],
) -> (KillOnDrop, mpsc::Receiver<String>) {
    let bind = format!("127.0.0.1:{port}");
    let mut all = pairs(settings);
    all.push(("SCOREMATE_BIND", &bind));
    let server = start(data_dir, &all);
    (KillOnDrop(Some(server.child)), server.lines)
}

/// `scoremate worker` with `settings`, once it works.
fn start_worker(
    data_dir: &Path,
    settings: &[(String, String)],
) -> (KillOnDrop, mpsc::Receiver<String>) {
    let mut command = scoremate();
    command.arg("worker").env("SCOREMATE_DATA_DIR", data_dir);
    for (name, value) in settings {
        command.env(name, value);
    }
    let (child, lines) = spawn_logged(&mut command);
    let guard = KillOnDrop(Some(child));
    let working = wait_for(&lines, "working");
    assert_eq!(working["backend"], "postgres", "{working}");
    (guard, lines)
}

/// How a command through the proxy ended.
enum Outcome {
    /// 2xx: the change must be there, now and later.
    Acknowledged(Value, bool),
    /// No answer from an instance (the connection died, or the proxy said 502/503/504):
    /// the change may or may not have happened.
    Unanswered,
    /// Any other status: never expected here.
    Refused(u16, String),
}

async fn send(request: reqwest::RequestBuilder) -> (Outcome, Option<String>) {
    let Ok(response) = request.send().await else {
        return (Outcome::Unanswered, None);
    };
    let status = response.status().as_u16();
    let served_by = response
        .headers()
        .get("x-served-by")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let lagging = response.headers().contains_key("x-read-models");
    let Ok(body) = response.text().await else {
        return (Outcome::Unanswered, served_by);
    };
    let outcome = match status {
        200..=299 => {
            Outcome::Acknowledged(serde_json::from_str(&body).unwrap_or(Value::Null), lagging)
        }
        502..=504 => Outcome::Unanswered,
        _ => Outcome::Refused(status, body),
    };
    (outcome, served_by)
}

/// What a client expects of one setlist: its name, and for the one item and the one
/// description it tried to give it, whether that was acknowledged (`Some(true)`), left
/// unanswered (`Some(false)`: either state is right) or not tried (`None`).
struct SetlistClaim {
    id: String,
    name: String,
    item: Option<(String, bool)>,
    description: Option<(String, bool)>,
}

/// What one client did and saw.
#[derive(Default)]
struct Lane {
    /// Confirmed uploads: score id and title.
    scores: Vec<(String, String)>,
    setlists: Vec<SetlistClaim>,
    /// Commands without an answer (an instance died under them).
    unanswered: usize,
    /// Confirmations refused because the upload expired meanwhile (the kill delayed it).
    expired_uploads: usize,
    /// Answers that said `x-read-models: lagging` (their reads are not checked).
    lagging: usize,
    /// Everything that must not happen: refusals, acknowledged changes not read back.
    violations: Vec<String>,
    served_by: BTreeSet<String>,
    /// The instance that answered the last command.
    commanded_by: Option<String>,
    /// Read-backs answered by another instance than their command.
    crossed_reads: usize,
}

impl Lane {
    async fn send(
        &mut self,
        what: &str,
        request: reqwest::RequestBuilder,
    ) -> Option<(Value, bool)> {
        let (outcome, served_by) = send(request).await;
        self.served_by.extend(served_by.clone());
        self.commanded_by = served_by;
        match outcome {
            Outcome::Acknowledged(body, lagging) => {
                self.lagging += usize::from(lagging);
                Some((body, lagging))
            }
            Outcome::Unanswered => {
                self.unanswered += 1;
                None
            }
            Outcome::Refused(status, body) => {
                if what == "confirm" && status == 410 && body.contains("E013") {
                    self.expired_uploads += 1;
                } else {
                    self.violations.push(format!("{what}: {status} {body}"));
                }
                None
            }
        }
    }

    /// Reads `path` back through the proxy (read-your-writes across instances) unless the
    /// answer said it lagged; a read that cannot be made (an instance dying) proves nothing.
    async fn read_back(
        &mut self,
        client: &reqwest::Client,
        base: &str,
        access: &str,
        path: &str,
        lagging: bool,
        holds: impl Fn(&Value) -> bool,
    ) {
        if lagging {
            return;
        }
        let (outcome, served_by) =
            send(client.get(format!("{base}{path}")).bearer_auth(access)).await;
        if served_by.is_some() && self.commanded_by.is_some() && served_by != self.commanded_by {
            self.crossed_reads += 1;
        }
        self.served_by.extend(served_by);
        match outcome {
            Outcome::Acknowledged(body, _) if !holds(&body) => {
                self.violations
                    .push(format!("GET {path} right after the change: {body}"));
            }
            Outcome::Refused(status, body) => {
                self.violations.push(format!(
                    "GET {path} right after the change: {status} {body}"
                ));
            }
            _ => {}
        }
    }
}

/// One client, until `stop`: an upload, every third round an upload left unconfirmed
/// (to expire), and a setlist given the new score and a description.
async fn drive(
    client: reqwest::Client,
    base: String,
    email: String,
    stop: Arc<AtomicBool>,
) -> Lane {
    let mut lane = Lane::default();
    let access = sign_in(&client, &base, &email).await;
    for round in 0.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let title = format!("{email} score {round}");
        let score = upload(&mut lane, &client, &base, &access, &title).await;
        if round % 3 == 0 {
            lane.send(
                "upload-url",
                client
                    .post(format!("{base}/files/upload-url"))
                    .bearer_auth(&access)
                    .json(&json!({"filename": "left.pdf", "size": PDF.len(), "mime_type": "application/pdf"})),
            )
            .await;
        }
        let name = format!("{email} set {round}");
        let Some((created, lagging)) = lane
            .send(
                "create setlist",
                client
                    .post(format!("{base}/setlists"))
                    .bearer_auth(&access)
                    .json(&json!({"name": name})),
            )
            .await
        else {
            continue;
        };
        let id = created["id"].as_str().unwrap().to_owned();
        let path = format!("/setlists/{id}");
        lane.read_back(&client, &base, &access, &path, lagging, |setlist| {
            setlist["name"] == json!(name)
        })
        .await;
        let mut claim = SetlistClaim {
            id,
            name,
            item: None,
            description: None,
        };
        if let Some(score) = score {
            let added = lane
                .send(
                    "add item",
                    client
                        .post(format!("{base}{path}/items"))
                        .bearer_auth(&access)
                        .json(&json!({"score_id": score})),
                )
                .await;
            claim.item = Some((score.clone(), added.is_some()));
            if let Some((_, lagging)) = added {
                lane.read_back(&client, &base, &access, &path, lagging, |setlist| {
                    setlist["items"][0]["score_id"] == json!(score)
                })
                .await;
            }
        }
        if claim.item.as_ref().is_none_or(|(_, answered)| *answered) {
            let description = format!("described in round {round}");
            let described = lane
                .send(
                    "describe setlist",
                    client
                        .patch(format!("{base}{path}"))
                        .bearer_auth(&access)
                        .json(&json!({"description": description})),
                )
                .await;
            claim.description = Some((description.clone(), described.is_some()));
            if let Some((_, lagging)) = described {
                lane.read_back(&client, &base, &access, &path, lagging, |setlist| {
                    setlist["description"] == json!(description)
                })
                .await;
            }
        }
        lane.setlists.push(claim);
    }
    lane
}

/// upload-url → PUT to the presigned URL (the S3 store, not the proxy) → confirmation;
/// the score's id when acknowledged.
async fn upload(
    lane: &mut Lane,
    client: &reqwest::Client,
    base: &str,
    access: &str,
    title: &str,
) -> Option<String> {
    let (ticket, _) = lane
        .send(
            "upload-url",
            client
                .post(format!("{base}/files/upload-url"))
                .bearer_auth(access)
                .json(&json!({"filename": "score.pdf", "size": PDF.len(), "mime_type": "application/pdf"})),
        )
        .await?;
    let mut put = client.put(ticket["upload_url"].as_str().unwrap());
    for (name, value) in ticket["headers"].as_object().unwrap() {
        put = put.header(name.as_str(), value.as_str().unwrap());
    }
    let stored = put.body(PDF).send().await.ok()?;
    if stored.status() != 200 {
        lane.violations
            .push(format!("PUT to the store: {}", stored.status()));
        return None;
    }
    let (score, lagging) = lane
        .send(
            "confirm",
            client
                .post(format!("{base}/scores"))
                .bearer_auth(access)
                .json(&json!({"upload_id": ticket["upload_id"], "title": title})),
        )
        .await?;
    let id = score["id"].as_str().unwrap().to_owned();
    lane.scores.push((id.clone(), title.to_owned()));
    lane.read_back(
        client,
        base,
        access,
        &format!("/scores/{id}"),
        lagging,
        |view| view["title"] == json!(title),
    )
    .await;
    Some(id)
}

/// Registers `email` (unless it exists) and logs in through the proxy; the access token.
async fn sign_in(client: &reqwest::Client, base: &str, email: &str) -> String {
    let credentials = json!({"email": email, "password": PASSWORD});
    let registered = client
        .post(format!("{base}/auth/register"))
        .json(&credentials)
        .send()
        .await
        .unwrap();
    assert!(
        [201, 409].contains(&registered.status().as_u16()),
        "registering {email}: {}",
        registered.status()
    );
    login(client, base, email).await
}

async fn get(client: &reqwest::Client, url: &str, access: &str) -> Value {
    let response = client.get(url).bearer_auth(access).send().await.unwrap();
    assert_eq!(response.status(), 200, "GET {url}");
    response.json().await.unwrap()
}

/// Waits until every acknowledged score is processed and no reservation is open any more
/// (the confirmed ones confirmed, the others expired), then until every follower has
/// caught up with the log.
async fn settle(
    client: &reqwest::Client,
    base: &str,
    lanes: &[(String, Lane)],
    pool: &sqlx::PgPool,
    database: &eventstore::Database,
) {
    let deadline = Instant::now() + Duration::from_secs(90);
    for (email, lane) in lanes {
        let access = sign_in(client, base, email).await;
        for (id, _) in &lane.scores {
            loop {
                let view = get(client, &format!("{base}/scores/{id}"), &access).await;
                if view["processing"]["status"] != "pending" {
                    assert_eq!(view["processing"]["status"], "ready", "{view}");
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "score {id} not processed: {view}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    loop {
        let open: i64 = sqlx::query_scalar("SELECT count(*) FROM open_reservations")
            .fetch_one(pool)
            .await
            .unwrap();
        let behind = projections::status(database)
            .await
            .unwrap()
            .iter()
            .any(|status| status.lag > 0);
        if open == 0 && !behind {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{open} reservations still open, projections behind: {behind}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The final state of every acknowledged change, read through the proxy.
async fn check_acknowledged(client: &reqwest::Client, base: &str, lanes: &[(String, Lane)]) {
    for (email, lane) in lanes {
        let access = sign_in(client, base, email).await;
        for (id, title) in &lane.scores {
            let view = get(client, &format!("{base}/scores/{id}"), &access).await;
            assert_eq!(view["title"], json!(title), "{view}");
        }
        for claim in &lane.setlists {
            let setlist = get(client, &format!("{base}/setlists/{}", claim.id), &access).await;
            assert_eq!(setlist["name"], json!(claim.name), "{setlist}");
            let items: Vec<&Value> = setlist["items"].as_array().unwrap().iter().collect();
            match &claim.item {
                Some((score, true)) => {
                    assert_eq!(items.len(), 1, "{setlist}");
                    assert_eq!(items[0]["score_id"], json!(score), "{setlist}");
                }
                Some((score, false)) => {
                    assert!(items.len() <= 1, "{setlist}");
                    assert!(
                        items.iter().all(|item| item["score_id"] == json!(score)),
                        "{setlist}"
                    );
                }
                None => assert!(items.is_empty(), "{setlist}"),
            }
            match &claim.description {
                Some((description, true)) => {
                    assert_eq!(setlist["description"], json!(description), "{setlist}");
                }
                Some((description, false)) => assert!(
                    setlist["description"].is_null()
                        || setlist["description"] == json!(description),
                    "{setlist}"
                ),
                None => assert!(setlist["description"].is_null(), "{setlist}"),
            }
        }
    }
}

/// What the log says about the PDFs and the reservations.
async fn check_log(pool: &sqlx::PgPool, confirmed: usize) {
    // Each confirmed upload was processed once in effect: one set of facts, one
    // thumbnail, no failure, whichever processes claimed (or re-claimed) its jobs.
    let processed = processing_counts(pool).await;
    assert!(
        processed.len() >= confirmed,
        "{} confirmed in the log",
        processed.len()
    );
    for (score, info, thumbnails, failures) in &processed {
        assert_eq!((*info, *thumbnails, *failures), (1, 1, 0), "score {score}");
    }
    // Each reservation ended once: confirmed or released, never both, never twice; and
    // each upload expired at most once, although every process runs the expiry timer.
    let ended_twice: Vec<(String, i64)> = sqlx::query_as(
        "SELECT jsonb_path_query_first(payload, '$.**.upload_id') #>> '{}', count(*)
           FROM events
          WHERE event_type IN ('QuotaConfirmed', 'ReservationReleased')
          GROUP BY 1
         HAVING count(*) > 1",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert!(ended_twice.is_empty(), "{ended_twice:?}");
    let expired_twice: Vec<(String, i64)> = sqlx::query_as(
        "SELECT aggregate_id, count(*) FROM events WHERE event_type = 'UploadExpired'
          GROUP BY 1 HAVING count(*) > 1",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert!(expired_twice.is_empty(), "{expired_twice:?}");
    let expired: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'UploadExpired'")
            .fetch_one(pool)
            .await
            .unwrap();
    assert!(expired > 0, "the unconfirmed uploads expired");
}

#[tokio::test]
async fn two_instances_and_a_worker_behind_the_proxy_lose_nothing_when_killed() {
    let Some(haproxy) = haproxy() else {
        return;
    };
    let Some(database) = FreshPostgres::create("cluster").await else {
        return;
    };
    let url = database.url();
    let root = temp_dir("cluster");
    let secret = uuid::Uuid::new_v4().simple().to_string();
    let shared = shared_settings(&url, &secret);
    let [first_port, second_port, s3_port, proxy_port] = [(); 4].map(|()| free_port());

    let mut first_settings = shared.clone();
    first_settings.push((
        "SCOREMATE_EMBEDDED_S3_BIND".to_owned(),
        format!("127.0.0.1:{s3_port}"),
    ));
    let first_dir = root.join("first");
    let (_first, _first_log) = start_serve(&first_dir, first_port, &first_settings);
    let mut others = shared.clone();
    others.extend(external_s3(s3_port, &first_dir));
    let second_dir = root.join("second");
    let worker_dir = root.join("worker");
    let (mut second, _second_log) = start_serve(&second_dir, second_port, &others);
    let (mut worker, _worker_log) = start_worker(&worker_dir, &others);
    let _proxy = start_proxy(&haproxy, &root, proxy_port, &[first_port, second_port]).await;
    let base = format!("http://127.0.0.1:{proxy_port}/api/v1");

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let emails: Vec<String> = (0..4)
        .map(|lane| format!("lane{lane}@example.org"))
        .collect();
    let running: Vec<_> = emails
        .iter()
        .map(|email| {
            tokio::spawn(drive(
                client.clone(),
                base.clone(),
                email.clone(),
                Arc::clone(&stop),
            ))
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(2_500)).await;
    kill_9(second.0.take().unwrap());
    kill_9(worker.0.take().unwrap());
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let (_second, _second_log) = start_serve(&second_dir, second_port, &others);
    let (_worker, _worker_log) = start_worker(&worker_dir, &others);
    // Long enough for the proxy's health check to take the second instance back.
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    stop.store(true, Ordering::Relaxed);
    let mut lanes = Vec::new();
    for (email, lane) in emails.into_iter().zip(running) {
        lanes.push((email, lane.await.unwrap()));
    }

    let violations: Vec<&String> = lanes
        .iter()
        .flat_map(|(_, lane)| &lane.violations)
        .collect();
    assert!(violations.is_empty(), "{violations:#?}");
    let served_by: BTreeSet<&String> = lanes.iter().flat_map(|(_, lane)| &lane.served_by).collect();
    assert_eq!(served_by.len(), 2, "both instances answered: {served_by:?}");
    let crossed: usize = lanes.iter().map(|(_, lane)| lane.crossed_reads).sum();
    assert!(
        crossed > 0,
        "no change was read back from the other instance"
    );
    let confirmed: usize = lanes.iter().map(|(_, lane)| lane.scores.len()).sum();
    let setlists: usize = lanes.iter().map(|(_, lane)| lane.setlists.len()).sum();
    assert!(
        confirmed >= 8 && setlists >= 8,
        "{confirmed} uploads, {setlists} setlists"
    );
    eprintln!(
        "cluster: {confirmed} uploads and {setlists} setlists acknowledged, {crossed} read back from the other instance, {} commands unanswered, {} answers lagging, {} confirmations of expired uploads",
        lanes.iter().map(|(_, lane)| lane.unanswered).sum::<usize>(),
        lanes.iter().map(|(_, lane)| lane.lagging).sum::<usize>(),
        lanes
            .iter()
            .map(|(_, lane)| lane.expired_uploads)
            .sum::<usize>(),
    );

    let store = eventstore::Database::connect(&url, &eventstore::DatabaseOptions::default())
        .await
        .unwrap();
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    settle(&client, &base, &lanes, &pool, &store).await;
    check_acknowledged(&client, &base, &lanes).await;
    check_log(&pool, confirmed).await;

    // With every process stopped, the read models equal a rebuild from the log, and the
    // auditors' replay of every quota agrees with them.
    drop((_proxy, _first, _second, _worker));
    let live = projections::dump_read_models(&store).await.unwrap();
    let cli = |args: &[&str]| {
        let output = scoremate()
            .env("SCOREMATE_DATA_DIR", root.join("cli"))
            .env("SCOREMATE_DATABASE_URL", &url)
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{args:?}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    cli(&["projections", "rebuild", "all"]);
    let rebuilt = projections::dump_read_models(&store).await.unwrap();
    for (table, rows) in &live {
        assert_eq!(rows, &rebuilt[table], "{table} differs from its rebuild");
    }
    let verified = cli(&["audit", "verify-all"]);
    assert!(verified.contains("4 users verified"), "{verified}");

    pool.close().await;
    store.close().await;
    database.drop_database().await;
    let _ = std::fs::remove_dir_all(root);
}

/// An anonymous request that costs nothing and answers 401 when not throttled.
async fn anonymous(client: &reqwest::Client, base: &str) -> reqwest::Response {
    client
        .post(format!("{base}/auth/login"))
        .json(&json!({"email": "nobody@example.org", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
}

fn served_by(response: &reqwest::Response) -> String {
    response.headers()["x-served-by"]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn the_rate_limits_hold_across_the_instances_behind_the_proxy() {
    let Some(haproxy) = haproxy() else {
        return;
    };
    let Some(database) = FreshPostgres::create("cluster_limits").await else {
        return;
    };
    let url = database.url();
    let root = temp_dir("cluster-limits");
    let secret = uuid::Uuid::new_v4().simple().to_string();
    let mut settings = shared_settings(&url, &secret);
    settings.extend([
        (
            "SCOREMATE_THROTTLE_ANON_PER_HOUR".to_owned(),
            "3".to_owned(),
        ),
        (
            "SCOREMATE_THROTTLE_USER_PER_HOUR".to_owned(),
            "4".to_owned(),
        ),
    ]);
    let [first_port, second_port, proxy_port] = [(); 3].map(|()| free_port());
    let (_first, _first_log) = start_serve(&root.join("first"), first_port, &settings);
    let (_second, _second_log) = start_serve(&root.join("second"), second_port, &settings);
    let _proxy = start_proxy(&haproxy, &root, proxy_port, &[first_port, second_port]).await;
    let base = format!("http://127.0.0.1:{proxy_port}/api/v1");

    // An anonymous client on an address of its own (the proxy forwards it, the instances
    // trust the proxy): its three requests are shared out, the fourth is refused.
    let stranger = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let mut answered_by = BTreeSet::new();
    for _ in 0..3 {
        let response = anonymous(&stranger, &base).await;
        assert_eq!(response.status(), 401);
        answered_by.insert(served_by(&response));
    }
    assert_eq!(
        answered_by.len(),
        2,
        "both instances counted: {answered_by:?}"
    );
    // Naming another address in `Forwarded` (which the instances read first) changes
    // nothing: the proxy drops the client's own.
    let refused = stranger
        .post(format!("{base}/auth/login"))
        .header("forwarded", "for=198.51.100.77")
        .json(&json!({"email": "nobody@example.org", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    let refused_by = served_by(&refused);
    let again = anonymous(&stranger, &base).await;
    assert_eq!(again.status(), 429);
    assert_ne!(served_by(&again), refused_by, "refused by either instance");

    // A user's budget: four requests on either instance, the fifth refused.
    let client = reqwest::Client::new();
    let access = sign_in(&client, &base, "limited@example.org").await;
    let mut answered_by = BTreeSet::new();
    for _ in 0..4 {
        let response = client
            .get(format!("{base}/me"))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        answered_by.insert(served_by(&response));
    }
    assert_eq!(
        answered_by.len(),
        2,
        "both instances counted: {answered_by:?}"
    );
    let refused = client
        .get(format!("{base}/me"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 429);

    drop((_proxy, _first, _second));
    database.drop_database().await;
    let _ = std::fs::remove_dir_all(root);
}

/// The change feed across instances (#21): a long-poll on the first instance wakes within
/// a second when the change is made through the second (whose projection step announces
/// the owner with `NOTIFY scoremate_changes`, unless the first applied it itself), and a
/// token from one instance opens on the other.
#[tokio::test]
async fn a_long_poll_on_one_instance_wakes_for_a_change_made_through_another() {
    let Some(database) = FreshPostgres::create("cluster_sync").await else {
        return;
    };
    let url = database.url();
    let root = temp_dir("cluster-sync");
    let secret = uuid::Uuid::new_v4().simple().to_string();
    let settings = shared_settings(&url, &secret);
    let [first_port, second_port] = [(); 2].map(|()| free_port());
    let (_first, _first_log) = start_serve(&root.join("first"), first_port, &settings);
    let (_second, _second_log) = start_serve(&root.join("second"), second_port, &settings);
    let first = format!("http://127.0.0.1:{first_port}/api/v1");
    let second = format!("http://127.0.0.1:{second_port}/api/v1");
    let client = reqwest::Client::new();
    let access = sign_in(&client, &first, "syncing@example.org").await;

    // The registration's quota reaches the read models in the background: the snapshot
    // shows it once it has.
    let started = Instant::now();
    let snapshot = loop {
        let snapshot = get(&client, &format!("{first}/sync"), &access).await;
        if snapshot["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|change| change["kind"] == "quota")
        {
            break snapshot;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no quota in {snapshot}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(snapshot["has_more"], false, "{snapshot}");
    let token = snapshot["next"].as_str().unwrap().to_owned();
    // Nothing new on the second instance either, from the first one's token.
    let quiet = get(&client, &format!("{second}/sync?since={token}"), &access).await;
    assert_eq!(quiet["changes"], json!([]), "{quiet}");

    for round in 0..3 {
        let token = get(&client, &format!("{first}/sync?since={token}"), &access).await["next"]
            .as_str()
            .unwrap()
            .to_owned();
        let waiter = {
            let client = client.clone();
            let url = format!("{first}/sync?since={token}&wait=20");
            let access = access.clone();
            tokio::spawn(async move { get(&client, &url, &access).await })
        };
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(!waiter.is_finished(), "answered before any change");
        let changed_at = Instant::now();
        let created = client
            .post(format!("{second}/setlists"))
            .bearer_auth(&access)
            .json(&json!({"name": format!("Round {round}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
        let created: Value = created.json().await.unwrap();
        let page = waiter.await.unwrap();
        let woke_after = changed_at.elapsed();
        assert!(
            woke_after < Duration::from_secs(1),
            "woke {woke_after:?} after the change"
        );
        let ids: Vec<&Value> = page["changes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|change| change["kind"] == "setlist")
            .map(|change| &change["id"])
            .collect();
        assert_eq!(ids, [&created["id"]], "{page}");
    }

    drop((_first, _second));
    database.drop_database().await;
    let _ = std::fs::remove_dir_all(root);
}

//! Load generator: N concurrent clients (tokio tasks, each with its own HTTP connection
//! pool and its own account) drive the real HTTP API of the real server — built in-process
//! with `Application::build` through the binary's settings parser and run with
//! `Application::run_until`, background projections and processors included (PDF info
//! and thumbnails in the sandbox child) — on the embedded default (SQLite + the in-process
//! S3 endpoint) and on PostgreSQL. Throughput and p50/p95/p99 latency per operation and in
//! total, each beside a baseline measured in the same run:
//!
//! - upload-url + PUT + confirm, and setlist edits, beside the same event rows inserted
//!   raw (one autocommit `INSERT INTO events` per event the commands append) into a fresh,
//!   migrated database of the same kind by the same number of tasks (storage ceiling);
//! - `GET /api/v1/scores/{id}` beside a warp route answering a constant JSON body (a score
//!   view captured from the API) on its own port, driven by the same client loop (HTTP
//!   ceiling);
//! - the realistic mix, reported per operation: upload-url, PUT, confirm, a filtered
//!   `GET /scores`, `GET /scores/{id}`, `PATCH /scores/{id}`, create a setlist, add two
//!   items, reorder them, `PATCH` the setlist, `GET /quota`.
//!
//! `cargo bench -p benches --bench load` (bench profile). Settings (environment):
//! `SCOREMATE_LOAD_SECONDS` measured seconds per phase (default 3), split over
//! `SCOREMATE_LOAD_ROUNDS` rounds (default 2) that interleave the phases,
//! `SCOREMATE_LOAD_WARMUP_SECONDS` untimed seconds before each slice (default 0.5),
//! `SCOREMATE_LOAD_CLIENTS` (default `1,8,32`), `SCOREMATE_LOAD_BACKENDS` (default
//! `sqlite,postgres`), `SCOREMATE_LOAD_THROTTLE=1` turns throttling on with limits no
//! client reaches (every request pays for its bucket, none is refused; on PostgreSQL the
//! shared buckets), `SCOREMATE_LOAD_BACKGROUND=0` serves without the background
//! followers, `SCOREMATE_LOAD_DRAIN_SECONDS` the longest wait for them between phases
//! (default 180); PostgreSQL from `SCOREMATE_BENCH_DATABASE_URL` (default: the local
//! server; fresh databases are created and dropped), skipped with a notice when
//! unreachable. See `docs/benchmarks.md`.
//!
//! `SCOREMATE_LOAD_PROXY=1` measures instead, on PostgreSQL only, the uploads and the
//! setlist edits (each beside its raw SQL) through HAProxy (`haproxy` on the `PATH`,
//! skipped with a notice when missing) in front of first 1, then 2 `serve` processes on
//! one fresh database and one S3 store (the first process's embedded endpoint), with the
//! repository's `deploy/haproxy.cfg` given the real addresses, and prints one comparison
//! table.
//!
//! The PDF processors start the running executable as their sandbox child
//! (`current_exe process-pdf`), so this bench answers that subcommand itself; the proxy
//! mode's `serve` processes are the running executable too (`SCOREMATE_LOAD_CHILD=serve`).

use benches::{Percentiles, percentiles};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aggregates::{
    Bytes, Quota, QuotaEvent, Score, ScoreEvent, ScoreMetadata, Setlist, SetlistEvent, SetlistId,
    SetlistItemId, UploadId, UserId,
};
use chrono::{NaiveDate, Utc};
use clap::Parser;
use cqrs_es::{Aggregate, DomainEvent};
use eventstore::{Actor, Database, DatabaseOptions, EventMetadata};
use scoremate::app::Application;
use scoremate::cli::args::Cli;
use serde_json::{Value, json};
use testkit::Mix;
use testkit::pdf::{A4, PageSpec, marker_content, pages, save};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const PASSWORD: &str = "correct horse battery staple";
/// Scores each client uploads before anything is timed (setlist items need some).
const SEED_SCORES: usize = 2;
/// The steps of one pass of the mix (see `Client::mixed`).
const MIX_STEPS: usize = 6;

const FORMS: [&str; 10] = [
    "Nocturne",
    "Sonata",
    "Étude",
    "Prélude",
    "Waltz",
    "Fugue",
    "Ballade",
    "아리랑 변주곡",
    "Gymnopédie",
    "Invention",
];
const COMPOSERS: [&str; 6] = [
    "Frédéric Chopin",
    "Johann Sebastian Bach",
    "Antonín Dvořák",
    "Erik Satie",
    "윤이상",
    "Clara Schumann",
];
const TAGS: [&str; 6] = ["baroque", "romantic", "jazz", "exam", "duet", "wedding"];
const INSTRUMENTS: [&str; 4] = ["piano", "violin", "cello", "voice"];
/// The filters of the mix's `GET /scores`, in turn.
const LIST_QUERIES: [&str; 4] = [
    "?search=sonata",
    "?tags=romantic",
    "?search=bach&ordering=title",
    "?tags=jazz,duet&page_size=50",
];

// ---------------------------------------------------------------------------------------
// Settings

#[derive(Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn label(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

struct Config {
    /// Measured time per phase and client count, over all rounds.
    window: Duration,
    rounds: u32,
    warm_up: Duration,
    clients: Vec<usize>,
    backends: Vec<Backend>,
    background: bool,
    /// Throttling on, with limits no client reaches.
    throttle: bool,
    drain_timeout: Duration,
    /// Through HAProxy, in front of 1 then 2 `serve` processes (PostgreSQL only).
    proxy: bool,
}

/// `SCOREMATE_LOAD_BACKGROUND=0`; read by the `serve` children too.
fn background_off() -> bool {
    std::env::var("SCOREMATE_LOAD_BACKGROUND").is_ok_and(|raw| raw.trim() == "0")
}

fn env_seconds(name: &str, default: f64) -> BenchResult<Duration> {
    let Ok(raw) = std::env::var(name) else {
        return Ok(Duration::from_secs_f64(default));
    };
    let seconds: f64 = raw
        .trim()
        .parse()
        .map_err(|_| format!("{name}={raw}: not a number of seconds"))?;
    Duration::try_from_secs_f64(seconds)
        .map_err(|_| format!("{name}={raw}: not a usable number of seconds").into())
}

impl Config {
    /// One round's share of the measured window.
    fn slice(&self) -> Duration {
        self.window / self.rounds
    }

    fn from_env() -> BenchResult<Self> {
        let window = env_seconds("SCOREMATE_LOAD_SECONDS", 3.0)?;
        if window.is_zero() {
            return Err("SCOREMATE_LOAD_SECONDS must be above 0".into());
        }
        let clients = std::env::var("SCOREMATE_LOAD_CLIENTS")
            .unwrap_or_else(|_| "1,8,32".to_owned())
            .split(',')
            .map(|part| match part.trim().parse::<usize>() {
                Ok(count) if count > 0 => Ok(count),
                _ => Err(format!(
                    "SCOREMATE_LOAD_CLIENTS: `{part}` is not a positive number"
                )),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let backends = std::env::var("SCOREMATE_LOAD_BACKENDS")
            .unwrap_or_else(|_| "sqlite,postgres".to_owned())
            .split(',')
            .map(|part| match part.trim() {
                "sqlite" => Ok(Backend::Sqlite),
                "postgres" => Ok(Backend::Postgres),
                other => Err(format!(
                    "SCOREMATE_LOAD_BACKENDS: `{other}` is neither sqlite nor postgres"
                )),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let rounds = match std::env::var("SCOREMATE_LOAD_ROUNDS") {
            Err(_) => 2,
            Ok(raw) => match raw.trim().parse::<u32>() {
                Ok(rounds) if rounds > 0 => rounds,
                _ => {
                    return Err(
                        format!("SCOREMATE_LOAD_ROUNDS={raw}: not a positive number").into(),
                    );
                }
            },
        };
        Ok(Self {
            window,
            rounds,
            warm_up: env_seconds("SCOREMATE_LOAD_WARMUP_SECONDS", 0.5)?,
            clients,
            backends,
            background: !background_off(),
            throttle: std::env::var("SCOREMATE_LOAD_THROTTLE").is_ok_and(|raw| raw.trim() == "1"),
            drain_timeout: env_seconds("SCOREMATE_LOAD_DRAIN_SECONDS", 180.0)?,
            proxy: std::env::var("SCOREMATE_LOAD_PROXY").is_ok_and(|raw| raw.trim() == "1"),
        })
    }
}

// ---------------------------------------------------------------------------------------
// Operations and their samples

/// What one timed sample is. The `*Flow` operations are sums of others (not requests).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Op {
    SignIn,
    UploadUrl,
    PutObject,
    Confirm,
    UploadFlow,
    ListScores,
    GetScore,
    PatchScore,
    CreateSetlist,
    AddItem,
    ReorderItems,
    PatchSetlist,
    GetQuota,
    Constant,
    RawInsert,
    RawUploadFlow,
}

impl Op {
    fn label(self) -> &'static str {
        match self {
            Self::SignIn => "POST /auth/register|login",
            Self::UploadUrl => "POST /files/upload-url",
            Self::PutObject => "PUT presigned URL",
            Self::Confirm => "POST /scores (confirm)",
            Self::UploadFlow => "= upload (3 requests)",
            Self::ListScores => "GET /scores?filters",
            Self::GetScore => "GET /scores/{id}",
            Self::PatchScore => "PATCH /scores/{id}",
            Self::CreateSetlist => "POST /setlists",
            Self::AddItem => "POST /setlists/{id}/items",
            Self::ReorderItems => "PUT …/items/order",
            Self::PatchSetlist => "PATCH /setlists/{id}",
            Self::GetQuota => "GET /quota",
            Self::Constant => "GET /constant",
            Self::RawInsert => "INSERT INTO events",
            Self::RawUploadFlow => "= upload (4 INSERTs)",
        }
    }

    /// A sum of other samples, left out of the request totals.
    fn is_flow(self) -> bool {
        matches!(self, Self::UploadFlow | Self::RawUploadFlow)
    }

    fn is_setlist_edit(self) -> bool {
        matches!(
            self,
            Self::CreateSetlist | Self::AddItem | Self::ReorderItems | Self::PatchSetlist
        )
    }
}

/// One client's samples within the measured window `[from, until]`: an operation counts
/// when it completes inside it.
struct Recorder {
    from: Instant,
    until: Instant,
    samples: Vec<(Op, Duration)>,
    errors: BTreeMap<Op, (usize, String)>,
    lagging: BTreeMap<Op, usize>,
}

impl Recorder {
    fn new(from: Instant, until: Instant) -> Self {
        Self {
            from,
            until,
            samples: Vec::new(),
            errors: BTreeMap::new(),
            lagging: BTreeMap::new(),
        }
    }

    /// Records nothing but errors: for untimed setup work.
    fn untimed() -> Self {
        let now = Instant::now();
        Self::new(now + Duration::from_secs(365 * 86_400), now)
    }

    fn open(&self) -> bool {
        Instant::now() < self.until
    }

    fn counts(&self, at: Instant) -> bool {
        at >= self.from && at <= self.until
    }

    fn ok(&mut self, op: Op, started: Instant, ended: Instant, lagging: bool) {
        if self.counts(ended) {
            self.samples.push((op, ended - started));
            if lagging {
                *self.lagging.entry(op).or_default() += 1;
            }
        }
    }

    fn error(&mut self, op: Op, ended: Instant, message: String) {
        // Setup errors (untimed) count too: the setup checks them.
        if self.counts(ended) || self.from > self.until {
            let entry = self.errors.entry(op).or_insert((0, message));
            entry.0 += 1;
        }
    }

    fn first_error(&self) -> Option<String> {
        self.errors
            .iter()
            .next()
            .map(|(op, (count, message))| format!("{} failed {count}×: {message}", op.label()))
    }
}

#[derive(Default)]
struct OpStats {
    count: usize,
    errors: usize,
    first_error: Option<String>,
    lagging: usize,
    latency: Percentiles,
}

struct PhaseStats {
    window: Duration,
    ops: BTreeMap<Op, OpStats>,
    all_requests: Percentiles,
}

#[allow(clippy::cast_precision_loss)]
fn per_second(count: usize, window: Duration) -> f64 {
    count as f64 / window.as_secs_f64().max(1e-9)
}

impl PhaseStats {
    fn of(recorders: &[Recorder], window: Duration) -> Self {
        let mut samples: BTreeMap<Op, Vec<Duration>> = BTreeMap::new();
        let mut ops: BTreeMap<Op, OpStats> = BTreeMap::new();
        let mut requests = Vec::new();
        for recorder in recorders {
            for &(op, latency) in &recorder.samples {
                samples.entry(op).or_default().push(latency);
                if !op.is_flow() {
                    requests.push(latency);
                }
            }
            for (&op, (count, message)) in &recorder.errors {
                let stats = ops.entry(op).or_default();
                stats.errors += count;
                stats.first_error.get_or_insert_with(|| message.clone());
            }
            for (&op, count) in &recorder.lagging {
                ops.entry(op).or_default().lagging += count;
            }
        }
        for (op, latencies) in samples {
            let stats = ops.entry(op).or_default();
            stats.count = latencies.len();
            stats.latency = percentiles(latencies);
        }
        Self {
            window,
            ops,
            all_requests: percentiles(requests),
        }
    }

    fn count(&self, op: Op) -> usize {
        self.ops.get(&op).map_or(0, |stats| stats.count)
    }

    fn rate(&self, op: Op) -> f64 {
        per_second(self.count(op), self.window)
    }

    fn requests(&self) -> usize {
        self.ops
            .iter()
            .filter(|(op, _)| !op.is_flow())
            .map(|(_, stats)| stats.count)
            .sum()
    }

    fn setlist_edits(&self) -> f64 {
        let edits = self
            .ops
            .iter()
            .filter(|(op, _)| op.is_setlist_edit())
            .map(|(_, stats)| stats.count)
            .sum();
        per_second(edits, self.window)
    }

    fn errors(&self) -> usize {
        self.ops.values().map(|stats| stats.errors).sum()
    }

    fn print(&self, indent: &str) {
        for (op, stats) in &self.ops {
            println!(
                "{indent}{:<26} {:>7} {:>9.1}/s  p50 {:>8.2}  p95 {:>8.2}  p99 {:>8.2} ms{}{}",
                op.label(),
                stats.count,
                per_second(stats.count, self.window),
                ms(stats.latency.p50),
                ms(stats.latency.p95),
                ms(stats.latency.p99),
                if stats.errors > 0 {
                    format!("  errors {}", stats.errors)
                } else {
                    String::new()
                },
                if stats.lagging > 0 {
                    format!("  read models lagging {}", stats.lagging)
                } else {
                    String::new()
                },
            );
            if let Some(message) = &stats.first_error {
                println!("{indent}  first error: {message}");
            }
        }
        let requests = self.requests();
        println!(
            "{indent}{:<26} {:>7} {:>9.1}/s  p50 {:>8.2}  p95 {:>8.2}  p99 {:>8.2} ms",
            "total (requests/statements)",
            requests,
            per_second(requests, self.window),
            ms(self.all_requests.p50),
            ms(self.all_requests.p95),
            ms(self.all_requests.p99),
        );
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

// ---------------------------------------------------------------------------------------
// The server under test and the constant route

/// The real application, serving on a free port with its background loop (unless off).
struct Server {
    address: SocketAddr,
    database: Database,
    max_connections: u32,
    data_dir: PathBuf,
    shutdown: oneshot::Sender<()>,
    serving: JoinHandle<()>,
}

impl Server {
    async fn start(
        database_url: Option<&str>,
        data_dir: &Path,
        background: bool,
        throttle: bool,
    ) -> BenchResult<Self> {
        let data_dir_arg = data_dir.display().to_string();
        let limit = throttle_limit(throttle);
        let mut args = vec![
            "scoremate",
            "--bind",
            "127.0.0.1:0",
            "--data-dir",
            &data_dir_arg,
            "--throttle-anon-per-hour",
            limit,
            "--throttle-user-per-hour",
            limit,
            "--embedded-s3-bind",
            "127.0.0.1:0",
            "--metrics-bind",
            "127.0.0.1:0",
        ];
        if let Some(url) = database_url {
            args.extend(["--database-url", url]);
        }
        args.push("serve");
        let cli = Cli::try_parse_from(args)?;
        let mut app = Application::build(cli.settings).await?;
        if !background {
            app = app.without_background_loop();
        }
        let address = app.local_addr();
        let database = app.state().database.clone();
        let max_connections = app.state().settings.database_max_connections;
        let (shutdown, stopped) = oneshot::channel::<()>();
        let serving = tokio::spawn(app.run_until(async {
            let _ = stopped.await;
        }));
        Ok(Self {
            address,
            database,
            max_connections,
            data_dir: data_dir.to_owned(),
            shutdown,
            serving,
        })
    }

    async fn stop(self) {
        let _ = self.shutdown.send(());
        let _ = self.serving.await;
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// A plain warp server answering `GET /constant` with one JSON body, on its own port.
struct ConstantServer {
    url: String,
    shutdown: oneshot::Sender<()>,
    serving: JoinHandle<()>,
}

impl ConstantServer {
    async fn start(body: Value) -> BenchResult<Self> {
        use warp::Filter;
        let body = Arc::new(body);
        let route = warp::path!("constant")
            .and(warp::get())
            .map(move || warp::reply::json(&*body));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let (shutdown, stopped) = oneshot::channel::<()>();
        let serving = tokio::spawn(
            warp::serve(route)
                .incoming(listener)
                .graceful(async {
                    let _ = stopped.await;
                })
                .run(),
        );
        Ok(Self {
            url: format!("http://{address}/constant"),
            shutdown,
            serving,
        })
    }

    async fn stop(self) {
        let _ = self.shutdown.send(());
        let _ = self.serving.await;
    }
}

// ---------------------------------------------------------------------------------------
// A client of the API

struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
    scores: Vec<String>,
    next_score: usize,
    mix: Mix,
    iteration: u64,
    /// The step of the mix this client's next iteration starts at (then 0): clients that
    /// start together would otherwise all upload first, then all list, and so on.
    mix_offset: usize,
    pdf: Arc<Vec<u8>>,
}

/// What the server answered: status, whether the read models lagged, body.
type Answer = (u16, bool, Vec<u8>);

impl Client {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(path))
            .bearer_auth(&self.token)
    }

    /// Sends `request`, reads the body to the end and times both; the JSON body of an
    /// answer with the `expected` status, else an error recorded under `op`.
    async fn exchange(
        &self,
        rec: &mut Recorder,
        op: Op,
        request: reqwest::RequestBuilder,
        expected: u16,
    ) -> Option<Value> {
        let started = Instant::now();
        let answer: BenchResult<Answer> = async {
            let response = request.send().await?;
            let status = response.status().as_u16();
            let lagging = response
                .headers()
                .contains_key(scoremate::http::read_your_writes::LAGGING_HEADER);
            let body = response.bytes().await?;
            Ok((status, lagging, body.to_vec()))
        }
        .await;
        let ended = Instant::now();
        match answer {
            Ok((status, lagging, body)) if status == expected => {
                let value = if body.is_empty() {
                    Ok(Value::Null)
                } else {
                    serde_json::from_slice(&body)
                };
                match value {
                    Ok(value) => {
                        rec.ok(op, started, ended, lagging);
                        Some(value)
                    }
                    Err(error) => {
                        rec.error(op, ended, format!("{status}, body not JSON: {error}"));
                        None
                    }
                }
            }
            Ok((status, _, body)) => {
                let text = String::from_utf8_lossy(&body);
                let text: String = text.chars().take(300).collect();
                rec.error(op, ended, format!("{status} (expected {expected}): {text}"));
                None
            }
            Err(error) => {
                rec.error(op, ended, error.to_string());
                None
            }
        }
    }

    fn field(rec: &mut Recorder, op: Op, value: &Value, name: &str) -> Option<String> {
        let found = value[name].as_str().map(str::to_owned);
        if found.is_none() {
            rec.error(op, Instant::now(), format!("no `{name}` in {value}"));
        }
        found
    }

    /// Registers and logs in a fresh account.
    async fn sign_in(
        base: String,
        pdf: Arc<Vec<u8>>,
        index: usize,
        rec: &mut Recorder,
    ) -> BenchResult<Self> {
        let mut client = Self {
            http: reqwest::Client::new(),
            base,
            token: String::new(),
            scores: Vec::new(),
            next_score: 0,
            mix: Mix(u64::try_from(index).unwrap_or_default()),
            iteration: 0,
            mix_offset: 0,
            pdf,
        };
        let email = format!("load-{}@example.com", uuid::Uuid::new_v4().simple());
        let credentials = json!({"email": email, "password": PASSWORD});
        let registration = client
            .http
            .post(client.url("/api/v1/auth/register"))
            .json(&credentials);
        client
            .exchange(rec, Op::SignIn, registration, 201)
            .await
            .ok_or_else(|| rec.first_error().unwrap_or_default())?;
        let login = client
            .http
            .post(client.url("/api/v1/auth/login"))
            .json(&credentials);
        let tokens = client
            .exchange(rec, Op::SignIn, login, 200)
            .await
            .ok_or_else(|| rec.first_error().unwrap_or_default())?;
        client.token = tokens["access"]
            .as_str()
            .ok_or_else(|| format!("login answered without an access token: {tokens}"))?
            .to_owned();
        Ok(client)
    }

    /// The confirmation's fields: varied titles (some Korean, accented), composers, tags.
    fn confirmation(&mut self) -> Value {
        let first = self.mix.pick(&TAGS);
        let second = self.mix.pick(&TAGS);
        let tags: Vec<&str> = if first == second {
            vec![first]
        } else {
            vec![first, second]
        };
        json!({
            "title": format!("{} No. {}", self.mix.pick(&FORMS), self.mix.below(40) + 1),
            "composer": self.mix.pick(&COMPOSERS),
            "tags": tags,
            "instrumentation": [self.mix.pick(&INSTRUMENTS)],
            "rating": self.mix.below(5) + 1,
        })
    }

    /// upload-url → PUT → confirm; the new score's id.
    async fn upload(&mut self, rec: &mut Recorder) -> Option<String> {
        let started = Instant::now();
        let ticket_request = self.request(reqwest::Method::POST, "/api/v1/files/upload-url").json(
            &json!({"filename": "score.pdf", "size": self.pdf.len(), "mime_type": "application/pdf"}),
        );
        let ticket = self
            .exchange(rec, Op::UploadUrl, ticket_request, 201)
            .await?;
        let url = Self::field(rec, Op::UploadUrl, &ticket, "upload_url")?;
        let mut put = self.http.put(url);
        for (name, value) in ticket["headers"].as_object().into_iter().flatten() {
            if let Some(value) = value.as_str() {
                put = put.header(name.as_str(), value);
            }
        }
        self.exchange(rec, Op::PutObject, put.body(self.pdf.to_vec()), 200)
            .await?;
        let mut body = self.confirmation();
        body["upload_id"] = ticket["upload_id"].clone();
        let confirm = self
            .request(reqwest::Method::POST, "/api/v1/scores")
            .json(&body);
        let score = self.exchange(rec, Op::Confirm, confirm, 201).await?;
        rec.ok(Op::UploadFlow, started, Instant::now(), false);
        let id = Self::field(rec, Op::Confirm, &score, "id")?;
        self.scores.push(id.clone());
        Some(id)
    }

    /// One of this client's scores, in turn.
    fn next_score(&mut self, rec: &mut Recorder, op: Op) -> Option<String> {
        if self.scores.is_empty() {
            rec.error(op, Instant::now(), "the client has no score yet".to_owned());
            return None;
        }
        self.next_score = (self.next_score + 1) % self.scores.len();
        self.scores.get(self.next_score).cloned()
    }

    async fn get_score(&mut self, rec: &mut Recorder) -> Option<Value> {
        let id = self.next_score(rec, Op::GetScore)?;
        let request = self.request(reqwest::Method::GET, &format!("/api/v1/scores/{id}"));
        self.exchange(rec, Op::GetScore, request, 200).await
    }

    async fn list_scores(&mut self, rec: &mut Recorder) {
        let query = LIST_QUERIES
            .get(usize::try_from(self.iteration).unwrap_or_default() % LIST_QUERIES.len())
            .copied()
            .unwrap_or_default();
        let request = self.request(reqwest::Method::GET, &format!("/api/v1/scores{query}"));
        self.exchange(rec, Op::ListScores, request, 200).await;
    }

    async fn patch_score(&mut self, rec: &mut Recorder) {
        let Some(id) = self.next_score(rec, Op::PatchScore) else {
            return;
        };
        let body = json!({
            "rating": self.mix.below(5) + 1,
            "notes": format!("practised {} times", self.iteration),
        });
        let request = self
            .request(reqwest::Method::PATCH, &format!("/api/v1/scores/{id}"))
            .json(&body);
        self.exchange(rec, Op::PatchScore, request, 200).await;
    }

    async fn quota(&self, rec: &mut Recorder) {
        let request = self.request(reqwest::Method::GET, "/api/v1/quota");
        self.exchange(rec, Op::GetQuota, request, 200).await;
    }

    /// Five setlist commands: create, add two of the client's scores, reverse their order,
    /// change the description.
    async fn setlist_edits(&mut self, rec: &mut Recorder) {
        let create = self
            .request(reqwest::Method::POST, "/api/v1/setlists")
            .json(&json!({
                "name": format!("Concert {}", self.iteration),
                "event_date": "2027-05-01",
            }));
        let Some(setlist) = self.exchange(rec, Op::CreateSetlist, create, 201).await else {
            return;
        };
        let Some(id) = Self::field(rec, Op::CreateSetlist, &setlist, "id") else {
            return;
        };
        let mut items = Vec::new();
        for encore in [false, true] {
            let Some(score) = self.next_score(rec, Op::AddItem) else {
                return;
            };
            let mut body = json!({"score_id": score});
            if encore {
                body["note"] = json!("encore");
            }
            let add = self
                .request(
                    reqwest::Method::POST,
                    &format!("/api/v1/setlists/{id}/items"),
                )
                .json(&body);
            let Some(item) = self.exchange(rec, Op::AddItem, add, 201).await else {
                return;
            };
            let Some(item_id) = Self::field(rec, Op::AddItem, &item, "id") else {
                return;
            };
            items.push(item_id);
        }
        items.reverse();
        let reorder = self
            .request(
                reqwest::Method::PUT,
                &format!("/api/v1/setlists/{id}/items/order"),
            )
            .json(&json!({"item_ids": items}));
        if self
            .exchange(rec, Op::ReorderItems, reorder, 200)
            .await
            .is_none()
        {
            return;
        }
        let patch = self
            .request(reqwest::Method::PATCH, &format!("/api/v1/setlists/{id}"))
            .json(&json!({"description": format!("Programme, take {}", self.iteration)}));
        self.exchange(rec, Op::PatchSetlist, patch, 200).await;
    }

    /// One pass of the mix: upload, list, get, patch, setlist edits, quota.
    async fn mixed(&mut self, rec: &mut Recorder) {
        for step in std::mem::take(&mut self.mix_offset)..MIX_STEPS {
            match step {
                0 => {
                    self.upload(rec).await;
                }
                1 => self.list_scores(rec).await,
                2 => {
                    self.get_score(rec).await;
                }
                3 => self.patch_score(rec).await,
                4 => self.setlist_edits(rec).await,
                _ => self.quota(rec).await,
            }
        }
    }

    async fn constant(&self, rec: &mut Recorder, url: &str) {
        let request = self.http.get(url);
        self.exchange(rec, Op::Constant, request, 200).await;
    }
}

// ---------------------------------------------------------------------------------------
// The raw SQL the commands amount to

const RAW_INSERT: &str = "INSERT INTO events \
     (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// One task's share of the storage ceiling: the event rows the API's commands append,
/// one autocommit `INSERT` each, for a user of its own.
struct RawWriter {
    user: UserId,
    quota_sequence: i64,
    setlists: u64,
    pdf_size: u64,
}

impl RawWriter {
    fn new(pdf_size: u64) -> Self {
        Self {
            user: UserId(uuid::Uuid::new_v4()),
            quota_sequence: 0,
            setlists: 0,
            pdf_size,
        }
    }

    async fn insert<A, E>(
        &self,
        database: &Database,
        rec: &mut Recorder,
        aggregate_id: &str,
        sequence: i64,
        event: &E,
    ) -> Option<()>
    where
        A: Aggregate,
        E: DomainEvent,
    {
        let started = Instant::now();
        let outcome: BenchResult<()> = async {
            let payload = serde_json::to_value(event)?;
            let metadata = serde_json::to_value(
                EventMetadata::new(Actor::User(self.user.0), Utc::now())
                    .with_request_id(uuid::Uuid::now_v7().to_string())
                    .to_map(),
            )?;
            match database {
                Database::Sqlite(pool) => {
                    sqlx::query(RAW_INSERT)
                        .bind(A::TYPE)
                        .bind(aggregate_id)
                        .bind(sequence)
                        .bind(event.event_type())
                        .bind(event.event_version())
                        .bind(payload)
                        .bind(metadata)
                        .execute(pool)
                        .await?;
                    // As durable as an acknowledged command (the pool commits without
                    // waiting for the disk; commands flush the WAL after their commit).
                    eventstore::make_durable(pool).await?;
                }
                Database::Postgres(pool) => {
                    sqlx::query(RAW_INSERT)
                        .bind(A::TYPE)
                        .bind(aggregate_id)
                        .bind(sequence)
                        .bind(event.event_type())
                        .bind(event.event_version())
                        .bind(payload)
                        .bind(metadata)
                        .execute(pool)
                        .await?;
                }
            }
            Ok(())
        }
        .await;
        let ended = Instant::now();
        match outcome {
            Ok(()) => {
                rec.ok(Op::RawInsert, started, ended, false);
                Some(())
            }
            Err(error) => {
                rec.error(Op::RawInsert, ended, error.to_string());
                None
            }
        }
    }

    /// What upload-url + confirm append: `QuotaReserved`, `UploadRequested`,
    /// `UploadConfirmed`, `QuotaConfirmed` — four commands, four commits.
    async fn upload(&mut self, database: &Database, rec: &mut Recorder) -> Option<()> {
        let started = Instant::now();
        let upload_id = UploadId(uuid::Uuid::now_v7());
        let user = self.user.to_string();
        let upload = upload_id.to_string();
        let bytes = Bytes(self.pdf_size);
        let expires_at = Utc::now() + chrono::Duration::minutes(5);
        self.quota_sequence += 1;
        let reserved = QuotaEvent::QuotaReserved {
            upload_id,
            bytes,
            expires_at,
        };
        self.insert::<Quota, _>(database, rec, &user, self.quota_sequence, &reserved)
            .await?;
        let requested = ScoreEvent::UploadRequested {
            upload_id,
            owner: self.user,
            filename: "score.pdf".to_owned(),
            size_bytes: bytes,
            mime_type: "application/pdf".to_owned(),
            sha256: None,
            object_key: format!("{}/scores/{upload}/original.pdf", self.user),
            expires_at,
        };
        self.insert::<Score, _>(database, rec, &upload, 1, &requested)
            .await?;
        let confirmed = ScoreEvent::UploadConfirmed {
            size_bytes: bytes,
            etag: format!("\"{:032x}\"", upload_id.0.as_u128()),
            sha256: None,
            metadata: ScoreMetadata {
                title: "Sonata No. 3".to_owned(),
                composer: Some("Clara Schumann".to_owned()),
                tags: vec!["romantic".to_owned(), "exam".to_owned()],
                instrumentation: vec!["piano".to_owned()],
                rating: Some(4),
                ..ScoreMetadata::default()
            },
        };
        self.insert::<Score, _>(database, rec, &upload, 2, &confirmed)
            .await?;
        self.quota_sequence += 1;
        let quota_confirmed = QuotaEvent::QuotaConfirmed {
            upload_id,
            score_id: UploadId(upload_id.0),
            reserved_bytes: bytes,
            actual_bytes: bytes,
        };
        self.insert::<Quota, _>(database, rec, &user, self.quota_sequence, &quota_confirmed)
            .await?;
        rec.ok(Op::RawUploadFlow, started, Instant::now(), false);
        Some(())
    }

    /// What the five setlist commands append, one event and one commit each.
    async fn setlist_edits(&mut self, database: &Database, rec: &mut Recorder) -> Option<()> {
        self.setlists += 1;
        let setlist_id = SetlistId(uuid::Uuid::now_v7());
        let id = setlist_id.to_string();
        let items = [
            SetlistItemId(uuid::Uuid::now_v7()),
            SetlistItemId(uuid::Uuid::now_v7()),
        ];
        let events = [
            SetlistEvent::SetlistCreated {
                setlist_id,
                owner: self.user,
                name: format!("Concert {}", self.setlists),
                description: None,
                event_date: NaiveDate::from_ymd_opt(2027, 5, 1),
                notes: None,
            },
            SetlistEvent::SetlistItemAdded {
                item_id: items[0],
                score_id: UploadId(uuid::Uuid::now_v7()),
                bookmark_id: None,
                pages: None,
                position: 0,
                note: None,
            },
            SetlistEvent::SetlistItemAdded {
                item_id: items[1],
                score_id: UploadId(uuid::Uuid::now_v7()),
                bookmark_id: None,
                pages: None,
                position: 1,
                note: Some("encore".to_owned()),
            },
            SetlistEvent::SetlistItemsReordered {
                item_ids: vec![items[1], items[0]],
            },
            SetlistEvent::SetlistDetailsUpdated {
                name: None,
                description: Some(Some(format!("Programme, take {}", self.setlists))),
                event_date: None,
                notes: None,
            },
        ];
        for (sequence, event) in (1..).zip(&events) {
            self.insert::<Setlist, _>(database, rec, &id, sequence, event)
                .await?;
        }
        Some(())
    }
}

// ---------------------------------------------------------------------------------------
// Phases

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Uploads,
    RawUploads,
    Setlists,
    RawSetlists,
    GetScore,
    Constant,
    Mix,
}

impl Phase {
    const ALL: [Self; 7] = [
        Self::Uploads,
        Self::RawUploads,
        Self::Setlists,
        Self::RawSetlists,
        Self::GetScore,
        Self::Constant,
        Self::Mix,
    ];

    fn label(self) -> &'static str {
        match self {
            Self::Uploads => "API: upload-url + PUT + confirm",
            Self::RawUploads => "raw SQL: the 4 event rows of an upload",
            Self::Setlists => "API: setlist edits (create, 2× add, reorder, patch)",
            Self::RawSetlists => "raw SQL: the 5 event rows of those edits",
            Self::GetScore => "API: GET /scores/{id}",
            Self::Constant => "warp: GET /constant (a score view, constant)",
            Self::Mix => "API: the mix",
        }
    }

    /// The phase's figure: uploads, commands or requests per second.
    fn headline(self, stats: &PhaseStats) -> f64 {
        match self {
            Self::Uploads => stats.rate(Op::UploadFlow),
            Self::RawUploads => stats.rate(Op::RawUploadFlow),
            Self::Setlists => stats.setlist_edits(),
            Self::RawSetlists => stats.rate(Op::RawInsert),
            Self::GetScore => stats.rate(Op::GetScore),
            Self::Constant => stats.rate(Op::Constant),
            Self::Mix => per_second(stats.requests(), stats.window),
        }
    }

    fn unit(self) -> &'static str {
        match self {
            Self::Uploads | Self::RawUploads => "uploads/s",
            Self::Setlists | Self::RawSetlists => "setlist commands/s",
            Self::GetScore | Self::Constant | Self::Mix => "requests/s",
        }
    }

    /// Whether the application's background followers have work afterwards.
    fn writes_through_api(self) -> bool {
        matches!(self, Self::Uploads | Self::Setlists | Self::Mix)
    }
}

/// What the tasks of a phase share.
struct Targets {
    raw: Database,
    constant_url: String,
}

async fn iterate(
    phase: Phase,
    client: &mut Client,
    raw: &mut RawWriter,
    targets: &Targets,
    rec: &mut Recorder,
) {
    client.iteration += 1;
    match phase {
        Phase::Uploads => {
            client.upload(rec).await;
        }
        Phase::Setlists => client.setlist_edits(rec).await,
        Phase::GetScore => {
            client.get_score(rec).await;
        }
        Phase::Constant => client.constant(rec, &targets.constant_url).await,
        Phase::Mix => client.mixed(rec).await,
        Phase::RawUploads => {
            raw.upload(&targets.raw, rec).await;
        }
        Phase::RawSetlists => {
            raw.setlist_edits(&targets.raw, rec).await;
        }
    }
}

/// Runs `phase` with one task per client for the warm-up and one round's share of the
/// measured window; hands the clients back with their samples.
async fn run_phase(
    phase: Phase,
    clients: Vec<Client>,
    targets: &Arc<Targets>,
    config: &Config,
) -> BenchResult<(Vec<Client>, Vec<Recorder>)> {
    let from = Instant::now() + config.warm_up;
    let until = from + config.slice();
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(index, mut client)| {
            client.mix_offset = index % MIX_STEPS;
            let targets = Arc::clone(targets);
            let mut raw = RawWriter::new(u64::try_from(client.pdf.len()).unwrap_or_default());
            tokio::spawn(async move {
                let mut rec = Recorder::new(from, until);
                while rec.open() {
                    iterate(phase, &mut client, &mut raw, &targets, &mut rec).await;
                }
                (client, rec)
            })
        })
        .collect();
    let mut clients = Vec::with_capacity(tasks.len());
    let mut recorders = Vec::with_capacity(tasks.len());
    for task in tasks {
        let (client, rec) = task.await?;
        clients.push(client);
        recorders.push(rec);
    }
    Ok((clients, recorders))
}

/// Live scores whose PDF processing has not finished (the `scores` read model's
/// documented columns): PDF work may outlast the followers' lag.
async fn pending_scores(database: &Database) -> BenchResult<i64> {
    const PENDING: &str = "SELECT count(*) FROM scores \
         WHERE lifecycle = 'confirmed' AND processing_status = 'pending'";
    Ok(match database {
        Database::Sqlite(pool) => sqlx::query_scalar(PENDING).fetch_one(pool).await?,
        Database::Postgres(pool) => sqlx::query_scalar(PENDING).fetch_one(pool).await?,
    })
}

/// How far the read models trail the log while a phase runs: every 200 ms, the most
/// events any projection has not applied yet, and how long the oldest of them has been
/// committed (commit-to-visible lag).
struct LagSampler {
    stop: Arc<tokio::sync::Notify>,
    task: tokio::task::JoinHandle<BenchResult<Vec<(i64, f64)>>>,
}

impl LagSampler {
    fn start(database: Database) -> Self {
        let stop = Arc::new(tokio::sync::Notify::new());
        let stopped = Arc::clone(&stop);
        let task = tokio::spawn(async move {
            let mut samples = Vec::new();
            loop {
                let lags = scoremate::http::metrics::lags(&database).await?;
                let projections = lags.iter().filter(|lag| lag.kind == "projection");
                let events = projections.clone().map(|lag| lag.events).max();
                let seconds = projections.map(|lag| lag.seconds).fold(0.0, f64::max);
                samples.push((events.unwrap_or_default(), seconds));
                tokio::select! {
                    () = stopped.notified() => return Ok(samples),
                    () = tokio::time::sleep(Duration::from_millis(200)) => {}
                }
            }
        });
        Self { stop, task }
    }

    async fn finish(self) -> BenchResult<String> {
        self.stop.notify_one();
        let samples = self.task.await??;
        let mut events: Vec<i64> = samples.iter().map(|(events, _)| *events).collect();
        let mut seconds: Vec<f64> = samples.iter().map(|(_, seconds)| *seconds).collect();
        events.sort_unstable();
        seconds.sort_by(f64::total_cmp);
        let at = |quantile: f64| {
            let last = samples.len().saturating_sub(1);
            (last as f64 * quantile).round() as usize
        };
        let event_at = |q| events.get(at(q)).copied().unwrap_or_default();
        let ms_at = |q| seconds.get(at(q)).copied().unwrap_or_default() * 1000.0;
        Ok(format!(
            "read models behind the log ({} samples): p50 {} / p99 {} events; oldest \
             unapplied event committed p50 {:.0} ms / p99 {:.0} ms before",
            samples.len(),
            event_at(0.5),
            event_at(0.99),
            ms_at(0.5),
            ms_at(0.99),
        ))
    }
}

/// Waits until every projection and processor has handled every committed event and no
/// score waits for its PDF processing; answers the backlog found and how long it took, or
/// says it gave up.
async fn drain(database: &Database, timeout: Duration) -> BenchResult<String> {
    let started = Instant::now();
    let mut backlog = None;
    loop {
        let behind: i64 = scoremate::http::metrics::lags(database)
            .await?
            .iter()
            .map(|lag| lag.events)
            .sum();
        let pending = pending_scores(database).await?;
        let (events, scores) = *backlog.get_or_insert((behind, pending));
        if behind == 0 && pending == 0 {
            return Ok(format!(
                "background: {events} follower-events behind and {scores} scores pending at \
                 the end of the phase; caught up in {:.1} s",
                started.elapsed().as_secs_f64()
            ));
        }
        if started.elapsed() >= timeout {
            return Ok(format!(
                "background: {events} follower-events behind and {scores} scores pending; \
                 still {behind} and {pending} after {:.0} s (SCOREMATE_LOAD_DRAIN_SECONDS): \
                 the next phase shares the machine with them",
                timeout.as_secs_f64()
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------------------------------
// One backend

/// One row of the summary: a client count on a backend.
struct Row {
    backend: &'static str,
    clients: usize,
    uploads: f64,
    raw_uploads: f64,
    setlists: f64,
    raw_setlists: f64,
    get: f64,
    constant: f64,
    mix: PhaseStats,
    errors: usize,
}

fn ratio(value: f64, baseline: f64) -> f64 {
    if baseline > 0.0 {
        value / baseline
    } else {
        f64::NAN
    }
}

async fn server_version(database: &Database) -> BenchResult<String> {
    Ok(match database {
        Database::Sqlite(pool) => {
            let version: String = sqlx::query_scalar("SELECT sqlite_version()")
                .fetch_one(pool)
                .await?;
            format!("SQLite {version}")
        }
        Database::Postgres(pool) => {
            let version: String = sqlx::query_scalar("SHOW server_version")
                .fetch_one(pool)
                .await?;
            format!("PostgreSQL {version}")
        }
    })
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|| "?".to_owned())
}

/// The application's database URL (`None`: the embedded default in the data dir) and the
/// raw baseline's, for `backend`.
struct Databases {
    app_url: Option<String>,
    raw_url: String,
}

async fn run_backend(
    backend: Backend,
    databases: &Databases,
    config: &Config,
    pdf: &Arc<Vec<u8>>,
) -> BenchResult<Vec<Row>> {
    let data_dir =
        std::env::temp_dir().join(format!("scoremate-bench-load-{}", uuid::Uuid::new_v4()));
    let server = Server::start(
        databases.app_url.as_deref(),
        &data_dir,
        config.background,
        config.throttle,
    )
    .await?;
    let options = DatabaseOptions {
        max_connections: server.max_connections,
        ..DatabaseOptions::default()
    };
    let raw = match Database::connect(&databases.raw_url, &options).await {
        Ok(raw) => raw,
        Err(error) => {
            server.stop().await;
            return Err(error.into());
        }
    };
    let result = measure_backend(backend, &server, raw.clone(), config, pdf).await;
    raw.close().await;
    server.stop().await;
    result
}

async fn measure_backend(
    backend: Backend,
    server: &Server,
    raw: Database,
    config: &Config,
    pdf: &Arc<Vec<u8>>,
) -> BenchResult<Vec<Row>> {
    raw.migrate().await?;
    let name = backend.label();
    println!(
        "\n{name}: {}; pool of {} connections (app and raw baseline each); background {}",
        server_version(&server.database).await?,
        server.max_connections,
        if config.background { "on" } else { "off" },
    );

    let base = format!("http://{}", server.address);
    let mut clients = sign_in_clients(&base, pdf, config).await?;
    if config.background {
        println!("  {}", drain(&server.database, config.drain_timeout).await?);
    }
    let Some(first) = clients.first_mut() else {
        return Err("no client".into());
    };
    let mut rec = Recorder::untimed();
    let view = first
        .get_score(&mut rec)
        .await
        .ok_or_else(|| rec.first_error().unwrap_or_default())?;
    println!(
        "  a seeded score: processing {}, {} page(s); its view ({} bytes) is the constant body",
        view["processing"]["status"],
        view["pdf"]["page_count"],
        view.to_string().len()
    );
    if config.background && view["processing"]["status"] != "ready" {
        println!(
            "  warning: the PDF pipeline did not finish the seeded score: {}",
            view["processing"]
        );
    }
    let constant = ConstantServer::start(view).await?;
    let targets = Arc::new(Targets {
        raw,
        constant_url: constant.url.clone(),
    });

    let mut rows = Vec::new();
    let outcome = async {
        for &count in &config.clients {
            let mut stats = measure_phases(
                name,
                &Phase::ALL,
                count,
                &mut clients,
                &targets,
                &server.database,
                config,
            )
            .await?;
            let mix = take_phase(&mut stats, Phase::Mix)?;
            let rate = |wanted: Phase| {
                stats
                    .iter()
                    .find(|(phase, _)| *phase == wanted)
                    .map_or(0.0, |(phase, stats)| phase.headline(stats))
            };
            let row = Row {
                backend: name,
                clients: count,
                uploads: rate(Phase::Uploads),
                raw_uploads: rate(Phase::RawUploads),
                setlists: rate(Phase::Setlists),
                raw_setlists: rate(Phase::RawSetlists),
                get: rate(Phase::GetScore),
                constant: rate(Phase::Constant),
                errors: mix.errors() + stats.iter().map(|(_, stats)| stats.errors()).sum::<usize>(),
                mix,
            };
            println!(
                "{name} · {count} client(s): uploads {:.1}/s = {:.3}× raw SQL; setlist edits \
                 {:.1}/s = {:.3}× raw SQL; GET /scores/{{id}} {:.0}/s = {:.2}× constant route",
                row.uploads,
                ratio(row.uploads, row.raw_uploads),
                row.setlists,
                ratio(row.setlists, row.raw_setlists),
                row.get,
                ratio(row.get, row.constant),
            );
            rows.push(row);
        }
        BenchResult::Ok(())
    }
    .await;
    constant.stop().await;
    outcome.map(|()| rows)
}

/// Registers and logs in an account for the largest client count through `base`, and
/// uploads a few scores for each, untimed.
async fn sign_in_clients(
    base: &str,
    pdf: &Arc<Vec<u8>>,
    config: &Config,
) -> BenchResult<Vec<Client>> {
    let most = config.clients.iter().copied().max().unwrap_or(1);
    let started = Instant::now();
    let sign_ins: Vec<_> = (0..most)
        .map(|index| {
            let base = base.to_owned();
            let pdf = Arc::clone(pdf);
            tokio::spawn(async move {
                let mut rec = Recorder::untimed();
                let mut client = Client::sign_in(base, pdf, index, &mut rec).await?;
                for _ in 0..SEED_SCORES {
                    client.upload(&mut rec).await;
                }
                match rec.first_error() {
                    Some(error) => Err(error.into()),
                    None => BenchResult::Ok(client),
                }
            })
        })
        .collect();
    let mut clients = Vec::with_capacity(most);
    for task in sign_ins {
        clients.push(task.await??);
    }
    println!(
        "  {most} accounts registered and logged in, {SEED_SCORES} scores each, in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(clients)
}

/// Runs `phases` with the first `count` of `clients`, in `config.rounds` interleaved
/// rounds, and prints each round's figure and the merged details; each phase's samples
/// merged over the rounds.
async fn measure_phases(
    name: &str,
    phases: &[Phase],
    count: usize,
    clients: &mut Vec<Client>,
    targets: &Arc<Targets>,
    database: &Database,
    config: &Config,
) -> BenchResult<Vec<(Phase, PhaseStats)>> {
    // Every phase's samples and its figure per round; the rounds interleave the phases so
    // that a noisy neighbour's burst hits a figure and its baseline alike.
    let mut recorded: Vec<Vec<Recorder>> = phases.iter().map(|_| Vec::new()).collect();
    let mut per_round: Vec<Vec<f64>> = phases.iter().map(|_| Vec::new()).collect();
    for round in 1..=config.rounds {
        for (index, &phase) in phases.iter().enumerate() {
            let idle = clients.split_off(count.min(clients.len()));
            let active = std::mem::replace(clients, idle);
            let sampler = phase
                .writes_through_api()
                .then(|| LagSampler::start(database.clone()));
            let (active, recorders) = run_phase(phase, active, targets, config).await?;
            let staleness = match sampler {
                Some(sampler) => Some(sampler.finish().await?),
                None => None,
            };
            let idle = std::mem::replace(clients, active);
            clients.extend(idle);
            let stats = PhaseStats::of(&recorders, config.slice());
            let figure = phase.headline(&stats);
            let errors = stats.errors();
            println!(
                "{name} · {count} client(s) · round {round}/{} · {}: {figure:.1} {}{} \
                 (load average {})",
                config.rounds,
                phase.label(),
                phase.unit(),
                if errors > 0 {
                    format!(", {errors} errors")
                } else {
                    String::new()
                },
                load_average(),
            );
            if let Some(staleness) = staleness {
                println!("    {staleness}");
            }
            if config.background && phase.writes_through_api() {
                println!("    {}", drain(database, config.drain_timeout).await?);
            }
            if let (Some(samples), Some(figures)) =
                (recorded.get_mut(index), per_round.get_mut(index))
            {
                samples.extend(recorders);
                figures.push(figure);
            }
        }
    }
    let mut merged = Vec::with_capacity(phases.len());
    for ((&phase, recorders), figures) in phases.iter().zip(&recorded).zip(&per_round) {
        let stats = PhaseStats::of(recorders, config.window);
        println!(
            "{name} · {count} client(s) · {} — {:.1} {} (rounds: {})",
            phase.label(),
            phase.headline(&stats),
            phase.unit(),
            figures
                .iter()
                .map(|figure| format!("{figure:.1}"))
                .collect::<Vec<_>>()
                .join(", "),
        );
        stats.print("    ");
        merged.push((phase, stats));
    }
    Ok(merged)
}

/// Takes `wanted`'s merged stats out of `measure_phases`' answer.
fn take_phase(stats: &mut Vec<(Phase, PhaseStats)>, wanted: Phase) -> BenchResult<PhaseStats> {
    let index = stats
        .iter()
        .position(|(phase, _)| *phase == wanted)
        .ok_or_else(|| format!("{} did not run", wanted.label()))?;
    Ok(stats.swap_remove(index).1)
}

// ---------------------------------------------------------------------------------------
// Summary

fn print_summary(rows: &[Row], config: &Config) {
    println!(
        "\n## summary ({} s measured per phase in {} round(s), each after {} s warm-up)\n",
        config.window.as_secs_f64(),
        config.rounds,
        config.warm_up.as_secs_f64()
    );
    println!(
        "upload commands: upload-url + confirm, 2 per upload (the PUT between them not \
         counted); raw SQL: an upload's 4 event rows counted as its 2 commands; setlist \
         commands: create, add, add, reorder, patch; raw SQL: one event row each\n"
    );
    println!(
        "| backend | clients | uploads/s | upload commands/s | raw SQL | ratio | setlist \
         commands/s | raw SQL | ratio | GET /scores/{{id}}/s | constant route/s | ratio | errors |"
    );
    println!(
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for row in rows {
        println!(
            "| {} | {} | {:.1} | {:.1} | {:.0} | {:.3}× | {:.1} | {:.0} | {:.3}× | {:.0} | {:.0} | {:.2}× | {} |",
            row.backend,
            row.clients,
            row.uploads,
            2.0 * row.uploads,
            2.0 * row.raw_uploads,
            ratio(row.uploads, row.raw_uploads),
            row.setlists,
            row.raw_setlists,
            ratio(row.setlists, row.raw_setlists),
            row.get,
            row.constant,
            ratio(row.get, row.constant),
            row.errors,
        );
    }
    println!("\n### the mix, per operation (ms)\n");
    println!("| backend | clients | operation | ops/s | p50 | p95 | p99 | errors |");
    println!("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |");
    for row in rows {
        for (op, stats) in &row.mix.ops {
            println!(
                "| {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {} |",
                row.backend,
                row.clients,
                op.label(),
                per_second(stats.count, row.mix.window),
                ms(stats.latency.p50),
                ms(stats.latency.p95),
                ms(stats.latency.p99),
                stats.errors,
            );
        }
        let requests = row.mix.requests();
        println!(
            "| {} | {} | **all requests** | {:.1} | {:.1} | {:.1} | {:.1} | {} |",
            row.backend,
            row.clients,
            per_second(requests, row.mix.window),
            ms(row.mix.all_requests.p50),
            ms(row.mix.all_requests.p95),
            ms(row.mix.all_requests.p99),
            row.mix.errors(),
        );
    }
}

// ---------------------------------------------------------------------------------------
// Through a proxy: `serve` processes behind HAProxy

/// The phases measured through the proxy, each beside its raw SQL.
const PROXIED: [Phase; 4] = [
    Phase::Uploads,
    Phase::RawUploads,
    Phase::Setlists,
    Phase::RawSetlists,
];

/// `--throttle-*-per-hour`: off, or limits no client reaches.
fn throttle_limit(throttle: bool) -> &'static str {
    if throttle { "1000000000" } else { "0" }
}

fn free_address() -> BenchResult<SocketAddr> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// The last lines of a child's log, for the error that says it did not start.
fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let skipped = text.lines().count().saturating_sub(5);
    text.lines().skip(skipped).collect::<Vec<_>>().join("\n")
}

/// A child process, killed when dropped: no error path leaves one behind.
struct Running {
    child: std::process::Child,
    name: String,
    log: PathBuf,
}

impl Running {
    fn spawn(name: String, command: &mut std::process::Command, log: PathBuf) -> BenchResult<Self> {
        let file = std::fs::File::create(&log)?;
        let child = command
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .map_err(|error| format!("{name}: {error}"))?;
        Ok(Self { child, name, log })
    }

    /// Waits until `url` answers 200, or says why it will not.
    async fn ready(&mut self, url: &str) -> BenchResult<()> {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Err(format!(
                    "{} exited ({status}) before answering {url}:\n{}",
                    self.name,
                    log_tail(&self.log)
                )
                .into());
            }
            if http
                .get(url)
                .send()
                .await
                .is_ok_and(|response| response.status() == 200)
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("{}: no 200 from {url} within 60 s", self.name).into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // Nothing to flush: the databases are dropped afterwards.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The shared settings of the `serve` processes of one run.
struct Cluster<'a> {
    database_url: &'a str,
    jwt_secret: String,
    /// Where the first process's embedded S3 endpoint listens.
    s3_address: SocketAddr,
    dir: PathBuf,
    throttle: bool,
}

/// The embedded S3 endpoint of the first process, which the others use as theirs.
struct SharedStore {
    endpoint: String,
    access_key: String,
    secret_key: String,
}

impl Cluster<'_> {
    /// `scoremate serve` as a process of its own (this executable, see `serve_child`), on a
    /// free port; the first runs the embedded S3 endpoint (`store` is `None`).
    async fn serve(
        &self,
        number: usize,
        store: Option<&SharedStore>,
    ) -> BenchResult<(Running, SocketAddr)> {
        let address = free_address()?;
        let data_dir = self.dir.join(format!("serve{number}"));
        let mut command = std::process::Command::new(std::env::current_exe()?);
        command
            .args(["--bind", &address.to_string()])
            .arg("--data-dir")
            .arg(&data_dir)
            .args(["--metrics-bind", "127.0.0.1:0"])
            .args(["--throttle-anon-per-hour", throttle_limit(self.throttle)])
            .args(["--throttle-user-per-hour", throttle_limit(self.throttle)])
            // The proxy's `option forwardfor`.
            .args(["--trusted-proxies", "127.0.0.1"])
            .env("SCOREMATE_LOAD_CHILD", "serve")
            // Secrets in the environment, not in `ps`.
            .env("SCOREMATE_DATABASE_URL", self.database_url)
            .env("SCOREMATE_JWT_SECRET", &self.jwt_secret)
            // Its end of the pipe closes when the bench dies, however it dies.
            .stdin(std::process::Stdio::piped());
        match store {
            None => {
                command.args(["--embedded-s3-bind", &self.s3_address.to_string()]);
            }
            Some(store) => {
                command
                    .args(["--s3-endpoint", &store.endpoint])
                    .env("SCOREMATE_S3_ACCESS_KEY_ID", &store.access_key)
                    .env("SCOREMATE_S3_SECRET_ACCESS_KEY", &store.secret_key);
            }
        }
        command.arg("serve");
        let log = self.dir.join(format!("serve{number}.log"));
        let mut process = Running::spawn(format!("serve {number}"), &mut command, log)?;
        process.ready(&format!("http://{address}/readyz")).await?;
        Ok((process, address))
    }

    /// The first process's store, with the key pair it generated (once it is ready).
    fn store(&self) -> BenchResult<SharedStore> {
        let credentials =
            std::fs::read_to_string(self.dir.join("serve1").join("embedded_s3_credentials"))?;
        let mut pair = credentials.split_whitespace().map(str::to_owned);
        let (Some(access_key), Some(secret_key)) = (pair.next(), pair.next()) else {
            return Err("serve 1's embedded_s3_credentials is not `ACCESS SECRET`".into());
        };
        Ok(SharedStore {
            endpoint: format!("http://{}", self.s3_address),
            access_key,
            secret_key,
        })
    }
}

/// The repository's HAProxy configuration with `bind` on `address` and one `server` line
/// per address in `servers`, in place of `api1` and `api2`.
fn haproxy_config(template: &str, address: SocketAddr, servers: &[SocketAddr]) -> String {
    let mut lines = Vec::new();
    for line in template.lines() {
        match line.split_whitespace().collect::<Vec<_>>().as_slice() {
            ["bind", old, ..] => lines.push(line.replacen(old, &address.to_string(), 1)),
            ["server", "api1", old, ..] => {
                lines.extend((1..).zip(servers).map(|(number, server)| {
                    line.replacen(old, &server.to_string(), 1).replacen(
                        "api1",
                        &format!("api{number}"),
                        1,
                    )
                }));
            }
            ["server", ..] => {}
            _ => lines.push(line.to_owned()),
        }
    }
    lines.join("\n") + "\n"
}

/// One client count through the proxy, in front of `serves` processes.
struct ProxyRow {
    serves: usize,
    clients: usize,
    uploads: PhaseStats,
    raw_uploads: f64,
    setlists: PhaseStats,
    raw_setlists: f64,
}

impl ProxyRow {
    /// A line of the comparison: rate, ratio to raw SQL (`None` for a single request) and
    /// latency of `op`, or of the phase's whole flow (`None`).
    fn line(&self, phase: Phase, op: Option<Op>) -> (f64, Option<f64>, Percentiles) {
        let (stats, raw) = if phase == Phase::Uploads {
            (&self.uploads, self.raw_uploads)
        } else {
            (&self.setlists, self.raw_setlists)
        };
        match op {
            // An upload's latency is its flow's; the setlist edits' is a command's.
            None if phase == Phase::Uploads => {
                let latency = stats.ops.get(&Op::UploadFlow).map(|op| op.latency);
                let rate = phase.headline(stats);
                (rate, Some(ratio(rate, raw)), latency.unwrap_or_default())
            }
            None => {
                let rate = phase.headline(stats);
                (rate, Some(ratio(rate, raw)), stats.all_requests)
            }
            Some(op) => {
                let latency = stats.ops.get(&op).map(|op| op.latency);
                (stats.rate(op), None, latency.unwrap_or_default())
            }
        }
    }
}

/// One run through the proxy: fresh databases, `serves` processes, HAProxy, the clients.
async fn measure_proxied(
    serves: usize,
    database_url: &str,
    raw_url: &str,
    template: &str,
    config: &Config,
    pdf: &Arc<Vec<u8>>,
) -> BenchResult<Vec<ProxyRow>> {
    let dir = std::env::temp_dir().join(format!("scoremate-bench-proxy-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir)?;
    let outcome = async {
        let cluster = Cluster {
            database_url,
            jwt_secret: format!(
                "{}{}",
                uuid::Uuid::new_v4().simple(),
                uuid::Uuid::new_v4().simple()
            ),
            s3_address: free_address()?,
            dir: dir.clone(),
            throttle: config.throttle,
        };
        // One after the other: the first migrates the database and starts the store.
        let (first, address) = cluster.serve(1, None).await?;
        let store = cluster.store()?;
        let mut processes = vec![first];
        let mut addresses = vec![address];
        for number in 2..=serves {
            let (process, address) = cluster.serve(number, Some(&store)).await?;
            processes.push(process);
            addresses.push(address);
        }
        let address = free_address()?;
        let config_path = dir.join("haproxy.cfg");
        std::fs::write(&config_path, haproxy_config(template, address, &addresses))?;
        let mut haproxy = Running::spawn(
            "haproxy".to_owned(),
            std::process::Command::new("haproxy")
                .arg("-f")
                .arg(&config_path)
                .arg("-db"),
            dir.join("haproxy.log"),
        )?;
        let base = format!("http://{address}");
        haproxy.ready(&format!("{base}/readyz")).await?;
        // The proxy answering says one instance is in; `rise 2` checks `inter 1s` apart
        // bring in every instance (all were ready before it started).
        tokio::time::sleep(Duration::from_millis(2500)).await;

        let defaults = Cli::try_parse_from(["scoremate", "serve"])?.settings;
        let options = DatabaseOptions {
            max_connections: defaults.database_max_connections,
            ..DatabaseOptions::default()
        };
        let database = Database::connect(
            database_url,
            &DatabaseOptions {
                max_connections: 2,
                ..DatabaseOptions::default()
            },
        )
        .await?;
        let raw = Database::connect(raw_url, &options).await?;
        raw.migrate().await?;
        let name = format!("postgres via haproxy, {serves} serve");
        println!(
            "\n{name}: {}; pool of {} connections per process and for the raw baseline; \
             background {}; S3: the embedded endpoint of serve 1 ({})",
            server_version(&database).await?,
            options.max_connections,
            if config.background { "on" } else { "off" },
            store.endpoint,
        );
        let mut clients = sign_in_clients(&base, pdf, config).await?;
        if config.background {
            println!("  {}", drain(&database, config.drain_timeout).await?);
        }
        // No constant phase here.
        let targets = Arc::new(Targets {
            raw: raw.clone(),
            constant_url: String::new(),
        });
        let mut rows = Vec::new();
        for &count in &config.clients {
            let mut stats = measure_phases(
                &name,
                &PROXIED,
                count,
                &mut clients,
                &targets,
                &database,
                config,
            )
            .await?;
            rows.push(ProxyRow {
                serves,
                clients: count,
                uploads: take_phase(&mut stats, Phase::Uploads)?,
                raw_uploads: Phase::RawUploads
                    .headline(&take_phase(&mut stats, Phase::RawUploads)?),
                setlists: take_phase(&mut stats, Phase::Setlists)?,
                raw_setlists: Phase::RawSetlists
                    .headline(&take_phase(&mut stats, Phase::RawSetlists)?),
            });
        }
        // The balance, from the access log lines.
        let served: Vec<String> = processes
            .iter()
            .map(|process| {
                let log = std::fs::read_to_string(&process.log).unwrap_or_default();
                let requests = log.matches("\"scoremate::access\"").count();
                format!("{} {requests}", process.name)
            })
            .collect();
        println!("  requests served: {}", served.join(", "));
        raw.close().await;
        database.close().await;
        drop(haproxy);
        drop(processes);
        BenchResult::Ok(rows)
    }
    .await;
    let _ = std::fs::remove_dir_all(&dir);
    outcome
}

/// The proxy mode: 1, then 2 `serve` processes behind HAProxy, each run on fresh
/// databases, and the comparison.
async fn run_proxied(config: &Config, pdf: &Arc<Vec<u8>>) -> BenchResult<()> {
    if !config.backends.contains(&Backend::Postgres) {
        println!("proxy mode skipped: it runs on PostgreSQL only, not in SCOREMATE_LOAD_BACKENDS");
        return Ok(());
    }
    let Ok(version) = std::process::Command::new("haproxy").arg("-v").output() else {
        println!("proxy mode skipped: no `haproxy` on the PATH (Debian package `haproxy`)");
        return Ok(());
    };
    let template_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/haproxy.cfg");
    let template = std::fs::read_to_string(&template_path)
        .map_err(|error| format!("{}: {error}", template_path.display()))?;
    println!(
        "proxy mode: {}",
        String::from_utf8_lossy(&version.stdout)
            .lines()
            .next()
            .unwrap_or("haproxy ?")
    );
    let Some(mut postgres) = benches::ScratchServer::connect().await else {
        return Ok(());
    };
    let mut rows = Vec::new();
    for serves in [1, 2] {
        let app = postgres.create(&format!("proxy{serves}")).await?;
        let raw = postgres.create(&format!("proxy{serves}_raw")).await?;
        let result = measure_proxied(serves, &app.url, &raw.url, &template, config, pdf).await;
        postgres.drop_database(app).await?;
        postgres.drop_database(raw).await?;
        rows.extend(result?);
    }
    print_proxy_summary(&rows, config);
    Ok(())
}

fn print_proxy_summary(rows: &[ProxyRow], config: &Config) {
    println!(
        "\n## through haproxy: 1 vs 2 serve processes ({} s measured per phase in {} \
         round(s), each after {} s warm-up)\n",
        config.window.as_secs_f64(),
        config.rounds,
        config.warm_up.as_secs_f64()
    );
    println!(
        "uploads/s (p50/p99 of the 3 requests together) and setlist commands/s (p50/p99 of \
         one command), each × its run's raw SQL; then each request (ms)\n"
    );
    println!(
        "| clients | operation | 1 serve /s | × raw SQL | p50 | p99 | 2 serve /s | × raw SQL \
         | p50 | p99 |"
    );
    println!("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let lines = [
        (Phase::Uploads, None),
        (Phase::Uploads, Some(Op::UploadUrl)),
        (Phase::Uploads, Some(Op::PutObject)),
        (Phase::Uploads, Some(Op::Confirm)),
        (Phase::Setlists, None),
        (Phase::Setlists, Some(Op::CreateSetlist)),
        (Phase::Setlists, Some(Op::AddItem)),
        (Phase::Setlists, Some(Op::ReorderItems)),
        (Phase::Setlists, Some(Op::PatchSetlist)),
    ];
    for &clients in &config.clients {
        for (phase, op) in lines {
            let label = op.map_or(phase.unit(), Op::label);
            let mut cells = format!("| {clients} | {label} |");
            for serves in [1, 2] {
                let row = rows
                    .iter()
                    .find(|row| row.serves == serves && row.clients == clients);
                cells += &match row.map(|row| row.line(phase, op)) {
                    Some((rate, ratio, latency)) => format!(
                        " {rate:.1} | {} | {:.1} | {:.1} |",
                        ratio.map_or_else(|| "—".to_owned(), |ratio| format!("{ratio:.3}×")),
                        ms(latency.p50),
                        ms(latency.p99),
                    ),
                    None => " — | — | — | — |".to_owned(),
                };
            }
            println!("{cells}");
        }
    }
    let errors: Vec<String> = rows
        .iter()
        .filter(|row| row.uploads.errors() + row.setlists.errors() > 0)
        .map(|row| {
            format!(
                "{} serve, {} clients: {}",
                row.serves,
                row.clients,
                row.uploads.errors() + row.setlists.errors()
            )
        })
        .collect();
    println!(
        "\nerrors: {}",
        if errors.is_empty() {
            "none".to_owned()
        } else {
            errors.join("; ")
        }
    );
}

/// `scoremate serve` as a process of the proxy mode: the binary's settings parser and
/// `Application`, stopped by SIGINT/SIGTERM or when the bench closes its stdin (or dies).
fn serve_child() -> ExitCode {
    let cli = match Cli::try_parse_from(std::env::args_os()) {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return ExitCode::FAILURE;
        }
    };
    scoremate::telemetry::init(cli.settings.log_format, &cli.settings.log);
    let (closed, stdin_closed) = oneshot::channel::<()>();
    // A thread of its own: a read blocked in tokio's pool would hold up the runtime's end.
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
        let _ = closed.send(());
    });
    let outcome = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Into::into)
        .and_then(|runtime| {
            runtime.block_on(async {
                let mut app = Application::build(cli.settings).await?;
                if background_off() {
                    app = app.without_background_loop();
                }
                let signal = scoremate::app::shutdown_signal();
                app.run_until(async move {
                    tokio::select! {
                        () = signal => {}
                        _ = stdin_closed => {}
                    }
                })
                .await;
                BenchResult::Ok(())
            })
        });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("load serve child: {error}");
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------------------
// Main

/// A small real PDF: one A4 page drawing a box, a bar and a line of text.
fn small_pdf() -> Vec<u8> {
    let page = PageSpec {
        content: Some(marker_content(A4)),
        ..PageSpec::sized(A4)
    };
    save(&mut pages(&[page]))
}

async fn run(config: &Config) -> BenchResult<()> {
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let pdf = Arc::new(small_pdf());
    println!(
        "load: clients {:?}, {} s measured per phase in {} round(s) of {} s, each after {} s \
         warm-up, a {}-byte one-page PDF per upload, {cores} cores, load average {}",
        config.clients,
        config.window.as_secs_f64(),
        config.rounds,
        config.slice().as_secs_f64(),
        config.warm_up.as_secs_f64(),
        pdf.len(),
        load_average(),
    );
    if config.proxy {
        return run_proxied(config, &pdf).await;
    }
    let mut rows = Vec::new();
    for &backend in &config.backends {
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir()
                    .join(format!("scoremate-bench-raw-{}", uuid::Uuid::new_v4()));
                std::fs::create_dir_all(&dir)?;
                let databases = Databases {
                    app_url: None,
                    raw_url: format!("sqlite://{}", dir.join("raw.db").display()),
                };
                let result = run_backend(backend, &databases, config, &pdf).await;
                let _ = std::fs::remove_dir_all(&dir);
                rows.extend(result?);
            }
            Backend::Postgres => {
                let Some(mut postgres) = benches::ScratchServer::connect().await else {
                    continue;
                };
                let app = postgres.create("load").await?;
                let raw = postgres.create("load_raw").await?;
                let databases = Databases {
                    app_url: Some(app.url.clone()),
                    raw_url: raw.url.clone(),
                };
                let result = run_backend(backend, &databases, config, &pdf).await;
                postgres.drop_database(app).await?;
                postgres.drop_database(raw).await?;
                rows.extend(result?);
            }
        }
    }
    print_summary(&rows, config);
    Ok(())
}

fn main() -> ExitCode {
    // The PDF processors run this executable as their sandbox child.
    if std::env::args_os()
        .nth(1)
        .is_some_and(|arg| arg == scoremate::pdf_sandbox::CHILD_SUBCOMMAND)
    {
        return scoremate::cli::pdf::process_pdf();
    }
    if std::env::var_os("SCOREMATE_LOAD_CHILD").is_some_and(|child| child == "serve") {
        return serve_child();
    }
    let outcome = Config::from_env().and_then(|config| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(run(&config))
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("load: {error}");
            ExitCode::FAILURE
        }
    }
}

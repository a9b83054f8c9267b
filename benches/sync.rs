//! The change feed (`GET /api/v1/sync`, docs/sync.md) on both backends, in two parts.
//!
//! **Feed read rate.** One user's library — `SCOREMATE_BENCH_SCORES` scores (default
//! 20000: `RequestUpload` then `ConfirmUpload`, decided by the real `Score` aggregate) and
//! one setlist after every 20th score (`CreateSetlist` and 4 `AddSetlistItem`s of the 20
//! scores before it, decided by the real `Setlist` aggregate) — is written straight into
//! the log, 40,000 rows a transaction, and the feed's read models (`scores`, `setlists`,
//! `quota_balances`) are built by their `ProjectionRunner`s. The application is built
//! in-process (`Application::build` through the binary's settings parser; throttling off;
//! without the background followers) and its router served on `127.0.0.1:0` by the
//! server's own `serve` loop, as in the library bench. Then, interleaved, each
//! `SCOREMATE_BENCH_WALKS` times (default 5, after one untimed round that also checks the
//! feed's answer: every item once, nothing missing):
//!
//! - (a) the whole log by a keyset `SELECT` of 1,000 events a page, payload and metadata
//!   decoded as text (the cost of reading the history itself);
//! - (b) the rows the feed serves by the same keyset over the owner's read-model rows —
//!   `scores` (confirmed), then `setlists` — 1,000 a page, decoded as the feed decodes
//!   them (state as JSON);
//! - (c) the feed over HTTP: `GET /api/v1/sync?limit=1000` from no token, following `next`
//!   while `has_more`, each page's JSON parsed.
//!
//! The median walk of each is reported, with per-page p50/p99 over all timed walks.
//!
//! **Long-poll waiters.** `scoremate serve` runs as a child process (this executable,
//! `SCOREMATE_SYNC_CHILD=serve`; the embedded default store, a fresh database, throttling
//! off, background followers on), so its memory is its own. `SCOREMATE_BENCH_USERS` users
//! (default 50) register, and `SCOREMATE_BENCH_WAITERS` long-polls (default 1000, spread
//! evenly over the users: devices) `GET /api/v1/sync?since=<token>&wait=30`, each on its
//! own connection, re-polling with the answer's `next` when answered. Measured: the
//! server's `VmRSS` (`/proc/<pid>/status`) before they open and 2 s after the last was
//! sent; its CPU time (`utime + stime` of `/proc/<pid>/stat`, in USER_HZ = 1/100 s) over
//! 10 idle seconds without waiters and 10 with them; then `SCOREMATE_BENCH_ROUNDS` rounds
//! (default 20, each a different user): one `POST /api/v1/setlists` by the user, and the
//! time from sending it until each of that user's waiters has its answer. An answer of
//! another user's waiter before its 30 s are up counts as an early wake (there should be
//! none).
//!
//! `cargo bench -p benches --bench sync` — PostgreSQL from `SCOREMATE_BENCH_DATABASE_URL`
//! (default: the local server; fresh databases are created and dropped), skipped with a
//! notice when unreachable; `SCOREMATE_BENCH_BACKENDS` (`sqlite,postgres`) narrows a run.
//! The PDF processors of the child start this executable as their sandbox child
//! (`current_exe process-pdf`), so it answers that subcommand itself. See
//! `docs/benchmarks.md`.

use benches::{InProcessServer, Percentiles, percentiles};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aggregates::{
    ScoreId, ScoreMetadata, Setlist, SetlistCommand, SetlistId, SetlistItemId, UploadId, UserId,
};
use chrono::{DateTime, NaiveDate, Utc};
use clap::Parser;
use eventstore::{Actor, Database, EventMetadata};
use scoremate::app::Application;
use scoremate::cli::args::Cli;
use serde_json::{Value, json};
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use testkit::event_rows::{EventRow, Stream, confirmed_score_rows, insert_event_rows};
use tokio::sync::{mpsc, oneshot};

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const PASSWORD: &str = "correct horse battery staple";
/// Rows a page, on every side: the feed's largest page.
const PAGE: i64 = 1000;
/// One setlist after every this many scores.
const SCORES_PER_SETLIST: usize = 20;
/// Items in each seeded setlist (scores among the last `SCORES_PER_SETLIST`).
const ITEMS_PER_SETLIST: usize = 4;
/// Events written per transaction while seeding.
const SEED_ROWS_PER_TRANSACTION: usize = 40_000;
/// When the first seeded score is confirmed (2026-01-01T00:00:00Z); one a second after.
const SEED_START_SECONDS: i64 = 1_767_225_600;
/// The long-polls' `wait`, in seconds.
const WAIT_SECS: u64 = 30;
/// How long after the last long-poll was sent they count as parked.
const PARK: Duration = Duration::from_secs(2);
/// The idle windows over which the server's CPU time is read.
const IDLE: Duration = Duration::from_secs(10);
/// The longest a round waits for its user's waiters.
const ROUND_DEADLINE: Duration = Duration::from_secs(5);
/// After a round's waiters answered, how long it keeps listening for other users' early
/// answers.
const ROUND_GRACE: Duration = Duration::from_millis(200);
/// The kernel's USER_HZ: the unit of `utime` and `stime` in `/proc/<pid>/stat`.
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

const COMPOSERS: [&str; 6] = [
    "Frédéric Chopin",
    "Johann Sebastian Bach",
    "Clara Schumann",
    "Claude Debussy",
    "윤이상",
    "Bill Evans",
];
const TAGS: [&str; 6] = ["baroque", "romantic", "jazz", "exam", "duet", "wedding"];

// ---------------------------------------------------------------------------------------
// Settings

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    const fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

struct Config {
    scores: usize,
    walks: usize,
    users: usize,
    waiters: usize,
    rounds: usize,
    backends: Vec<Backend>,
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|raw| raw.parse().ok())
        .filter(|&value| value > 0)
        .unwrap_or(default)
}

impl Config {
    fn from_env() -> BenchResult<Self> {
        let users = env_usize("SCOREMATE_BENCH_USERS", 50);
        let waiters = env_usize("SCOREMATE_BENCH_WAITERS", 1000).max(users);
        let mut backends = Vec::new();
        let names =
            std::env::var("SCOREMATE_BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
        for name in names
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
        {
            backends.push(match name {
                "sqlite" => Backend::Sqlite,
                "postgres" => Backend::Postgres,
                other => return Err(format!("SCOREMATE_BENCH_BACKENDS: unknown {other}").into()),
            });
        }
        Ok(Self {
            scores: env_usize("SCOREMATE_BENCH_SCORES", 20_000),
            walks: env_usize("SCOREMATE_BENCH_WALKS", 5),
            users,
            waiters,
            rounds: env_usize("SCOREMATE_BENCH_ROUNDS", 20).min(users),
            backends,
        })
    }
}

// ---------------------------------------------------------------------------------------
// HTTP

/// One `GET` with `token`, its body read to the end and parsed.
async fn get_json(client: &reqwest::Client, url: &str, token: &str) -> BenchResult<Value> {
    let response = client.get(url).bearer_auth(token).send().await?;
    let status = response.status().as_u16();
    let body = response.bytes().await?;
    if status != 200 {
        return Err(format!("GET {url}: {status}: {}", String::from_utf8_lossy(&body)).into());
    }
    Ok(serde_json::from_slice(&body)?)
}

/// One `POST` of `body` (with `token`, if any), expecting `status`; the answer parsed.
async fn post_json(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    body: &Value,
    status: u16,
) -> BenchResult<Value> {
    let mut request = client.post(url).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await?;
    let actual = response.status().as_u16();
    let text = response.text().await?;
    if actual != status {
        return Err(format!("POST {url}: expected {status}, got {actual}: {text}").into());
    }
    Ok(serde_json::from_str(&text)?)
}

/// Registers and logs in a fresh account at `base`: its id and access token.
async fn sign_in(client: &reqwest::Client, base: &str) -> BenchResult<(UserId, String)> {
    let email = format!("bench-{}@example.com", uuid::Uuid::new_v4().simple());
    let credentials = json!({"email": email, "password": PASSWORD});
    let register = format!("{base}/api/v1/auth/register");
    let account = post_json(client, &register, None, &credentials, 201).await?;
    let login = format!("{base}/api/v1/auth/login");
    let tokens = post_json(client, &login, None, &credentials, 200).await?;
    let id = account["id"]
        .as_str()
        .ok_or_else(|| format!("registration answered without an id: {account}"))?
        .parse()?;
    let access = tokens["access"]
        .as_str()
        .ok_or_else(|| format!("login answered without an access token: {tokens}"))?
        .to_owned();
    Ok((id, access))
}

/// A page of the feed: its changes, `next` and `has_more`.
fn page_parts(page: &Value) -> BenchResult<(&Vec<Value>, &str, bool)> {
    let changes = page["changes"]
        .as_array()
        .ok_or_else(|| format!("a sync page without changes: {page}"))?;
    let next = page["next"]
        .as_str()
        .ok_or_else(|| format!("a sync page without next: {page}"))?;
    let has_more = page["has_more"]
        .as_bool()
        .ok_or_else(|| format!("a sync page without has_more: {page}"))?;
    Ok((changes, next, has_more))
}

/// The feed walked from no token to the end, `limit` a page: the pages, the last `next`.
async fn walk_feed(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    limit: i64,
) -> BenchResult<(Vec<Value>, String)> {
    let mut pages = Vec::new();
    let mut url = format!("{base}/api/v1/sync?limit={limit}");
    loop {
        let page = get_json(client, &url, token).await?;
        let (_, next, has_more) = page_parts(&page)?;
        url = format!("{base}/api/v1/sync?limit={limit}&since={next}");
        let next = next.to_owned();
        pages.push(page);
        if !has_more {
            return Ok((pages, next));
        }
    }
}

// ---------------------------------------------------------------------------------------
// Part 1: the feed's read rate

/// The `i`th seeded score's metadata and size (deterministic in `i`).
fn seed_metadata(i: usize) -> (ScoreMetadata, u64) {
    let mut mix = testkit::Mix(u64::try_from(i).unwrap_or_default());
    let tag_count = mix.below(3);
    let metadata = ScoreMetadata {
        title: format!("Étude No. {}", i + 1),
        composer: Some(COMPOSERS[mix.below(COMPOSERS.len())].to_owned()),
        tags: mix.distinct(&TAGS, tag_count),
        instrumentation: vec!["piano".to_owned()],
        rating: u8::try_from(mix.below(5) + 1).ok(),
        difficulty: u8::try_from(mix.below(3) + 1).ok(),
        duration_seconds: u32::try_from(mix.below(1200) + 60).ok(),
        ..ScoreMetadata::default()
    };
    let size = 50_000 + mix.next_u64() % 5_000_000;
    (metadata, size)
}

/// The owner's metadata on seeded events, stamped `at`.
fn actor(owner: UserId, at: DateTime<Utc>) -> BenchResult<Value> {
    Ok(serde_json::to_value(
        EventMetadata::new(Actor::User(owner.into_uuid()), at)
            .with_request_id("bench")
            .to_map(),
    )?)
}

/// The `i`th second after the start of seeding.
fn seed_time(i: usize) -> BenchResult<DateTime<Utc>> {
    let seconds = SEED_START_SECONDS + i64::try_from(i)?;
    Ok(DateTime::from_timestamp(seconds, 0).ok_or("a seeding time out of range")?)
}

/// One score's events: `RequestUpload` then `ConfirmUpload`, as the upload routes issue
/// them, the `i`th second after the start.
fn score_rows(owner: UserId, i: usize) -> BenchResult<(ScoreId, Vec<EventRow>)> {
    let at = seed_time(i)?;
    let upload_id = UploadId::from_uuid(uuid::Uuid::now_v7());
    let (metadata, size) = seed_metadata(i);
    let actor = actor(owner, at)?;
    let rows = confirmed_score_rows(
        owner,
        upload_id,
        at,
        (&format!("score-{i}.pdf"), size),
        metadata,
        &actor,
    )?;
    Ok((ScoreId::from_uuid(upload_id.into_uuid()), rows))
}

/// The `n`th setlist's events: created, then one item for each of `scores`, at `i`
/// seconds after the start.
fn setlist_rows(
    owner: UserId,
    n: usize,
    i: usize,
    scores: &[ScoreId],
) -> BenchResult<Vec<EventRow>> {
    let actor = actor(owner, seed_time(i)?)?;
    let setlist_id = SetlistId::from_uuid(uuid::Uuid::now_v7());
    let event_date = NaiveDate::from_ymd_opt(2027, 1, 1).and_then(|day| {
        day.checked_add_days(chrono::Days::new(u64::try_from(n % 365).unwrap_or(0)))
    });
    let mut setlist = Stream::<Setlist>::new(&setlist_id);
    let mut rows = setlist.run(&actor, |state| {
        state.decide(SetlistCommand::CreateSetlist {
            setlist_id,
            owner,
            name: format!("Concert {}", n + 1),
            description: Some("Programme and encores".to_owned()),
            event_date,
            notes: None,
        })
    })?;
    for (k, &score_id) in scores.iter().enumerate() {
        rows.extend(setlist.run(&actor, |state| {
            state.decide(SetlistCommand::AddSetlistItem {
                user_id: owner,
                item_id: SetlistItemId::from_uuid(uuid::Uuid::now_v7()),
                score_id,
                bookmark_id: None,
                pages: None,
                position: None,
                note: (k == 0).then(|| "capo 2".to_owned()),
            })
        })?);
    }
    Ok(rows)
}

/// What was seeded for the feed to serve.
struct Library {
    scores: usize,
    setlists: usize,
    events: usize,
}

/// Writes `count` scores and a setlist after every `SCORES_PER_SETLIST`th of them into the
/// log in bulk, and builds the feed's read models from them.
async fn seed(database: &Database, owner: UserId, count: usize) -> BenchResult<Library> {
    let started = Instant::now();
    let mut rows = Vec::with_capacity(2 * count + count / SCORES_PER_SETLIST * 5);
    let mut recent = Vec::with_capacity(SCORES_PER_SETLIST);
    let mut setlists = 0;
    for i in 0..count {
        let (score_id, score) = score_rows(owner, i)?;
        rows.extend(score);
        recent.push(score_id);
        if recent.len() == SCORES_PER_SETLIST {
            let step = SCORES_PER_SETLIST / ITEMS_PER_SETLIST;
            let items: Vec<ScoreId> = recent.iter().step_by(step).copied().collect();
            rows.extend(setlist_rows(owner, setlists, i, &items)?);
            setlists += 1;
            recent.clear();
        }
    }
    for chunk in rows.chunks(SEED_ROWS_PER_TRANSACTION) {
        insert_event_rows(database, chunk).await?;
    }
    let seeded = started.elapsed();
    println!(
        "  seeded {count} scores and {setlists} setlists ({} events, decided by the aggregates, \
         written in bulk) in {:.1} s",
        rows.len(),
        seeded.as_secs_f64()
    );
    let started = Instant::now();
    let mut projected = 0;
    projected += projections::ProjectionRunner::new(projections::Scores, database.clone())
        .run_until_idle()
        .await?;
    projected += projections::ProjectionRunner::new(projections::Setlists, database.clone())
        .run_until_idle()
        .await?;
    projected += projections::ProjectionRunner::new(projections::QuotaBalances, database.clone())
        .run_until_idle()
        .await?;
    println!(
        "  read models scores, setlists, quota_balances built (3 runners, {projected} events \
         read) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(Library {
        scores: count,
        setlists,
        events: rows.len(),
    })
}

/// A bound argument of the baseline statements.
#[derive(Clone, Copy)]
enum Bind<'a> {
    Text(&'a str),
    Int(i64),
}

/// Every row of `sql` (placeholders `$1`, …, which both drivers take) as `R`.
async fn fetch_rows<R>(database: &Database, sql: &str, binds: &[Bind<'_>]) -> BenchResult<Vec<R>>
where
    R: for<'r> sqlx::FromRow<'r, SqliteRow> + for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin,
{
    macro_rules! fetch_on {
        ($pool:expr) => {{
            let mut query = sqlx::query_as::<_, R>(sql);
            for bind in binds {
                query = match *bind {
                    Bind::Text(text) => query.bind(text),
                    Bind::Int(value) => query.bind(value),
                };
            }
            query.fetch_all($pool).await?
        }};
    }
    Ok(match database {
        Database::Sqlite(pool) => fetch_on!(pool),
        Database::Postgres(pool) => fetch_on!(pool),
    })
}

/// One walk: how many items, how long in all, how long each page.
struct Walk {
    items: usize,
    elapsed: Duration,
    pages: Vec<Duration>,
}

impl Walk {
    fn new() -> Self {
        Self {
            items: 0,
            elapsed: Duration::ZERO,
            pages: Vec::new(),
        }
    }

    /// Adds one page of `items` that took `took`.
    fn page(&mut self, items: usize, took: Duration) {
        self.items += items;
        self.elapsed += took;
        self.pages.push(took);
    }
}

type EventLogRow = (i64, String, String, i64, String, String, String);
type ScoreRow = (
    i64,
    i64,
    String,
    i64,
    Value,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
);
type SetlistRow = (i64, i64, String, i64, Value, DateTime<Utc>, DateTime<Utc>);

/// (a) The whole log, 1,000 events a page by position, payload and metadata as text.
async fn scan_log(database: &Database) -> BenchResult<Walk> {
    let columns = match database {
        Database::Sqlite(_) => "payload, metadata",
        Database::Postgres(_) => "payload::text, metadata::text",
    };
    let sql = format!(
        "SELECT position, aggregate_type, aggregate_id, sequence, event_type, {columns} \
         FROM events WHERE position > $1 ORDER BY position LIMIT {PAGE}"
    );
    let mut walk = Walk::new();
    let mut after = 0;
    loop {
        let started = Instant::now();
        let rows: Vec<EventLogRow> = fetch_rows(database, &sql, &[Bind::Int(after)]).await?;
        walk.page(rows.len(), started.elapsed());
        match rows.last() {
            Some(last) if rows.len() == usize::try_from(PAGE)? => after = last.0,
            _ => return Ok(walk),
        }
    }
}

/// (b) The owner's rows the feed serves, 1,000 a page by log cursor: the confirmed
/// scores, then the setlists.
async fn scan_read_models(database: &Database, owner: &str) -> BenchResult<Walk> {
    const COLUMNS: &str =
        "log_transaction_id, log_position, id, version, state, created_at, updated_at";
    let scores = format!(
        "SELECT {COLUMNS} FROM scores WHERE owner_id = $1 AND lifecycle = 'confirmed' \
         AND (log_transaction_id, log_position) > ($2, $3) \
         ORDER BY log_transaction_id, log_position LIMIT {PAGE}"
    );
    let setlists = format!(
        "SELECT {COLUMNS} FROM setlists WHERE owner_id = $1 \
         AND (log_transaction_id, log_position) > ($2, $3) \
         ORDER BY log_transaction_id, log_position LIMIT {PAGE}"
    );
    let page = usize::try_from(PAGE)?;
    let mut walk = Walk::new();
    let mut after = (0, 0);
    loop {
        let started = Instant::now();
        let binds = [Bind::Text(owner), Bind::Int(after.0), Bind::Int(after.1)];
        let rows: Vec<ScoreRow> = fetch_rows(database, &scores, &binds).await?;
        walk.page(rows.len(), started.elapsed());
        match rows.last() {
            Some(last) if rows.len() == page => after = (last.0, last.1),
            _ => break,
        }
    }
    let mut after = (0, 0);
    loop {
        let started = Instant::now();
        let binds = [Bind::Text(owner), Bind::Int(after.0), Bind::Int(after.1)];
        let rows: Vec<SetlistRow> = fetch_rows(database, &setlists, &binds).await?;
        walk.page(rows.len(), started.elapsed());
        match rows.last() {
            Some(last) if rows.len() == page => after = (last.0, last.1),
            _ => return Ok(walk),
        }
    }
}

/// (c) The feed over HTTP, 1,000 changes a page from no token to the end.
async fn scan_feed(server: &InProcessServer, token: &str) -> BenchResult<Walk> {
    let mut walk = Walk::new();
    let mut url = format!("{}/api/v1/sync?limit={PAGE}", server.url(""));
    loop {
        let started = Instant::now();
        let page = get_json(&server.client, &url, token).await?;
        let (changes, next, has_more) = page_parts(&page)?;
        walk.page(changes.len(), started.elapsed());
        if !has_more {
            return Ok(walk);
        }
        url = format!("{}/api/v1/sync?limit={PAGE}&since={next}", server.url(""));
    }
}

/// The untimed walk of the feed, checked: every score and setlist of the library and the
/// quota once, nothing else.
async fn check_feed(server: &InProcessServer, token: &str, library: &Library) -> BenchResult<()> {
    let (pages, _) = walk_feed(&server.client, &server.url(""), token, PAGE).await?;
    let mut seen = HashSet::new();
    let mut counts = [0_usize; 3];
    let mut changes = 0;
    for page in &pages {
        for change in page_parts(page)?.0 {
            changes += 1;
            let kind = change["kind"].as_str().unwrap_or_default();
            let slot = match kind {
                "score" => 0,
                "setlist" => 1,
                "quota" => 2,
                other => return Err(format!("a change of kind {other:?}: {change}").into()),
            };
            if change["op"] != "upsert" {
                return Err(format!("a snapshot change that is not an upsert: {change}").into());
            }
            counts[slot] += 1;
            seen.insert((kind.to_owned(), change["id"].to_string()));
        }
    }
    println!(
        "  the feed served {changes} changes in {} pages: {} scores, {} setlists, {} quota",
        pages.len(),
        counts[0],
        counts[1],
        counts[2]
    );
    if seen.len() != changes || counts[0] != library.scores || counts[1] != library.setlists {
        return Err(format!(
            "the feed's walk is not the library: {changes} changes, {} distinct, {} scores of \
             {}, {} setlists of {}",
            seen.len(),
            counts[0],
            library.scores,
            counts[1],
            library.setlists
        )
        .into());
    }
    Ok(())
}

/// The median walk (by time) and the page percentiles over all of them.
struct Summary {
    items: usize,
    median: Duration,
    pages: Percentiles,
}

impl Summary {
    fn of(mut walks: Vec<Walk>) -> Self {
        let pages = percentiles(walks.iter().flat_map(|walk| walk.pages.clone()).collect());
        walks.sort_by_key(|walk| walk.elapsed);
        let median = walks.get(walks.len() / 2);
        Self {
            items: median.map_or(0, |walk| walk.items),
            median: median.map_or(Duration::ZERO, |walk| walk.elapsed),
            pages,
        }
    }

    fn rate(&self) -> f64 {
        per_second(self.items, self.median)
    }
}

#[allow(clippy::cast_precision_loss)]
fn per_second(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64().max(1e-9)
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

struct FeedResult {
    backend: Backend,
    version: String,
    log: Summary,
    rows: Summary,
    feed: Summary,
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

async fn feed_rate(
    backend: Backend,
    database_url: &str,
    config: &Config,
) -> BenchResult<FeedResult> {
    let server = InProcessServer::start(database_url).await?;
    let result = measure_feed(&server, backend, config).await;
    server.stop().await;
    result
}

async fn measure_feed(
    server: &InProcessServer,
    backend: Backend,
    config: &Config,
) -> BenchResult<FeedResult> {
    let version = server_version(&server.database).await?;
    println!("{} feed read rate: {version}", backend.name());
    let (owner, token) = sign_in(&server.client, &server.url("")).await?;
    let library = seed(&server.database, owner, config.scores).await?;
    let owner = owner.to_string();
    // Untimed: caches and pools warm, the feed's answer checked.
    check_feed(server, &token, &library).await?;
    let log = scan_log(&server.database).await?;
    if log.items < library.events {
        return Err(format!(
            "the log scan read {} of {} events",
            log.items, library.events
        )
        .into());
    }
    scan_read_models(&server.database, &owner).await?;
    let (mut logs, mut rows, mut feeds) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..config.walks {
        logs.push(scan_log(&server.database).await?);
        rows.push(scan_read_models(&server.database, &owner).await?);
        feeds.push(scan_feed(server, &token).await?);
    }
    Ok(FeedResult {
        backend,
        version,
        log: Summary::of(logs),
        rows: Summary::of(rows),
        feed: Summary::of(feeds),
    })
}

fn print_feed_results(results: &[FeedResult], config: &Config) {
    println!(
        "\nfeed read rate: one user, {} scores + {} setlists (4 items each) + quota; 1,000 a \
         page; median of {} walks, page p50/p99 over all",
        config.scores,
        config.scores / SCORES_PER_SETLIST,
        config.walks
    );
    println!(
        "{:<8} {:<44} {:>7} {:>9} {:>10} {:>8} {:>8} {:>8}",
        "backend", "walk", "items", "median s", "items/s", "page p50", "page p99", "(c)/this"
    );
    for result in results {
        let lines = [
            ("(a) SELECT events, keyset, payload as text", &result.log),
            ("(b) SELECT scores+setlists rows, keyset", &result.rows),
            ("(c) GET /api/v1/sync?limit=1000, JSON parsed", &result.feed),
        ];
        for (name, summary) in lines {
            println!(
                "{:<8} {:<44} {:>7} {:>9.3} {:>10.0} {:>8.2} {:>8.2} {:>7.2}x",
                result.backend.name(),
                name,
                summary.items,
                summary.median.as_secs_f64(),
                summary.rate(),
                ms(summary.pages.p50),
                ms(summary.pages.p99),
                result.feed.rate() / summary.rate().max(1e-9),
            );
        }
    }
    for result in results {
        println!("  {}: {}", result.backend.name(), result.version);
    }
}

// ---------------------------------------------------------------------------------------
// Part 2: long-poll waiters

fn free_address() -> BenchResult<std::net::SocketAddr> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// The last lines of a child's log, for the error that says it did not start.
fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let skipped = text.lines().count().saturating_sub(5);
    text.lines().skip(skipped).collect::<Vec<_>>().join("\n")
}

/// `scoremate serve` as a child process (this executable, see `serve_child`), killed when
/// dropped: no error path leaves one behind.
struct Child {
    child: std::process::Child,
    log: PathBuf,
    base: String,
}

impl Child {
    /// Serves on a free port with its data in `dir`: the embedded default store, the
    /// database of `database_url` (`None`: the embedded SQLite file), throttling off.
    async fn start(dir: &Path, database_url: Option<&str>) -> BenchResult<Self> {
        let address = free_address()?;
        let mut command = std::process::Command::new(std::env::current_exe()?);
        command
            .args(["--bind", &address.to_string()])
            .arg("--data-dir")
            .arg(dir.join("data"))
            .args(["--metrics-bind", "127.0.0.1:0"])
            .args(["--embedded-s3-bind", "127.0.0.1:0"])
            .args(["--throttle-anon-per-hour", "0"])
            .args(["--throttle-user-per-hour", "0"])
            .env("SCOREMATE_SYNC_CHILD", "serve")
            // A fixed mmap threshold: argon2's 19 MiB blocks (registration, login) go back
            // to the system when freed instead of staying in malloc's arenas until some
            // later free trims them, which would blur the waiters' memory.
            .env("MALLOC_MMAP_THRESHOLD_", "131072")
            // Its end of the pipe closes when the bench dies, however it dies.
            .stdin(std::process::Stdio::piped());
        if let Some(url) = database_url {
            // In the environment, not in `ps`.
            command.env("SCOREMATE_DATABASE_URL", url);
        }
        command.arg("serve");
        let log = dir.join("serve.log");
        let file = std::fs::File::create(&log)?;
        let child = command
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .map_err(|error| format!("serve child: {error}"))?;
        let mut child = Self {
            child,
            log,
            base: format!("http://{address}"),
        };
        child.ready().await?;
        Ok(child)
    }

    /// Waits until `/readyz` answers 200, or says why it will not.
    async fn ready(&mut self) -> BenchResult<()> {
        let http = reqwest::Client::new();
        let url = format!("{}/readyz", self.base);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Err(format!(
                    "serve child exited ({status}) before answering {url}:\n{}",
                    log_tail(&self.log)
                )
                .into());
            }
            if http
                .get(&url)
                .send()
                .await
                .is_ok_and(|response| response.status() == 200)
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("serve child: no 200 from {url} within 60 s").into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Its resident memory, in KiB (`VmRSS`).
    fn rss_kib(&self) -> BenchResult<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let line = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .ok_or("no VmRSS in /proc/<pid>/status")?;
        let kib = line
            .split_whitespace()
            .next()
            .ok_or("an empty VmRSS line")?;
        Ok(kib.parse()?)
    }

    /// The CPU time it has used, user and system, in clock ticks.
    fn cpu_ticks(&self) -> BenchResult<u64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))?;
        // After the command name in parentheses: field 3 (state) on; utime and stime are
        // fields 14 and 15.
        let (_, rest) = stat
            .rsplit_once(')')
            .ok_or("a /proc/<pid>/stat without (comm)")?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |number: usize| -> BenchResult<u64> {
            Ok(fields
                .get(number - 3)
                .ok_or("a short /proc/<pid>/stat")?
                .parse()?)
        };
        Ok(field(14)? + field(15)?)
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        // Nothing to flush: the database and the data dir are dropped afterwards.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `scoremate serve` as the child of the waiters' part: the binary's settings parser and
/// `Application` with its background followers, stopped by SIGINT/SIGTERM or when the
/// bench closes its stdin (or dies).
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
                let app = Application::build(cli.settings).await?;
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
            eprintln!("sync serve child: {error}");
            ExitCode::FAILURE
        }
    }
}

/// A signed-in user of the waiters' part and the feed token of its (empty) library.
struct Waiting {
    access: String,
    since: String,
}

/// One long-poll's answer, as its waiter saw it.
struct Answer {
    user: usize,
    sent: Instant,
    answered: Instant,
    changes: usize,
    error: Option<String>,
}

/// Long-polls for `user` until aborted: each answer reported on `answers`, the next poll
/// from its `next`. Counts itself in `sent` at its first request.
async fn wait_loop(
    client: reqwest::Client,
    url: String,
    user: usize,
    access: Arc<str>,
    mut since: String,
    sent_count: Arc<AtomicUsize>,
    answers: mpsc::UnboundedSender<Answer>,
) {
    let mut first = true;
    loop {
        let sent = Instant::now();
        if first {
            sent_count.fetch_add(1, Ordering::Release);
            first = false;
        }
        let poll = format!("{url}?since={since}&wait={WAIT_SECS}");
        let result = get_json(&client, &poll, &access).await;
        let answered = Instant::now();
        let answer = match result.and_then(|page| {
            let (changes, next, _) = page_parts(&page)?;
            Ok((changes.len(), next.to_owned()))
        }) {
            Ok((changes, next)) => {
                since = next;
                Answer {
                    user,
                    sent,
                    answered,
                    changes,
                    error: None,
                }
            }
            Err(error) => Answer {
                user,
                sent,
                answered,
                changes: 0,
                error: Some(error.to_string()),
            },
        };
        let failed = answer.error.is_some();
        if answers.send(answer).is_err() || failed {
            return;
        }
    }
}

/// What the waiters' part measured on one backend.
struct WaitResult {
    backend: Backend,
    users: usize,
    waiters: usize,
    rss_before_kib: u64,
    rss_after_kib: u64,
    idle_cpu_without: f64,
    idle_cpu_with: f64,
    post: Percentiles,
    wake: Percentiles,
    answered: usize,
    expected: usize,
    early: usize,
    timeouts: usize,
}

/// Sorts answers that are not the round's: an early wake (another user's waiter answered
/// before its wait was up), a timeout (answered empty at the end of its wait), or an
/// error.
#[derive(Default)]
struct Strays {
    early: usize,
    timeouts: usize,
    /// The first early answers, described.
    examples: Vec<String>,
}

impl Strays {
    fn sort(&mut self, answer: &Answer) -> BenchResult<()> {
        if let Some(error) = &answer.error {
            return Err(format!("a waiter of user {} failed: {error}", answer.user).into());
        }
        let waited = answer.answered - answer.sent;
        if answer.changes == 0 && waited >= Duration::from_secs(WAIT_SECS) {
            self.timeouts += 1;
        } else {
            self.early += 1;
            if self.examples.len() < 3 {
                self.examples.push(format!(
                    "user {} answered {} changes after {:.2} s",
                    answer.user,
                    answer.changes,
                    waited.as_secs_f64()
                ));
            }
        }
        Ok(())
    }
}

async fn waiters(
    backend: Backend,
    database_url: Option<&str>,
    config: &Config,
) -> BenchResult<WaitResult> {
    let dir = std::env::temp_dir().join(format!("scoremate-bench-sync-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir)?;
    let result = match Child::start(&dir, database_url).await {
        Ok(child) => measure_waiters(&child, backend, config).await,
        Err(error) => Err(error),
    };
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn measure_waiters(
    child: &Child,
    backend: Backend,
    config: &Config,
) -> BenchResult<WaitResult> {
    println!(
        "{} long-poll waiters: {} users, {} waiters",
        backend.name(),
        config.users,
        config.waiters
    );
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()?;
    // Registration hashes with argon2: two at a time on two cores.
    let started = Instant::now();
    let mut users = Vec::with_capacity(config.users);
    let mut registering = tokio::task::JoinSet::new();
    for _ in 0..config.users {
        let (client, base) = (client.clone(), child.base.clone());
        registering.spawn(async move {
            let (_, access) = sign_in(&client, &base).await?;
            BenchResult::Ok(access)
        });
        if registering.len() >= 2
            && let Some(joined) = registering.join_next().await
        {
            users.push(joined??);
        }
    }
    while let Some(joined) = registering.join_next().await {
        users.push(joined??);
    }
    println!(
        "  {} users registered and logged in in {:.1} s",
        users.len(),
        started.elapsed().as_secs_f64()
    );

    // Meanwhile the background followers project the registrations (the quota rows).
    let ticks = child.cpu_ticks()?;
    tokio::time::sleep(IDLE).await;
    let idle_cpu_without = cpu_seconds(child.cpu_ticks()? - ticks);
    // Each user's token of its whole (empty) library: a wait from it waits for news.
    let mut tokens = Vec::with_capacity(users.len());
    for access in users {
        let (_, since) = walk_feed(&client, &child.base, &access, PAGE).await?;
        tokens.push(Waiting { access, since });
    }
    let users = tokens;
    let rss_before_kib = child.rss_kib()?;

    let (answers_tx, mut answers) = mpsc::unbounded_channel();
    let sent = Arc::new(AtomicUsize::new(0));
    let url = format!("{}/api/v1/sync", child.base);
    let mut polls = tokio::task::JoinSet::new();
    let mut per_user = vec![0_usize; users.len()];
    let accesses: Vec<Arc<str>> = users
        .iter()
        .map(|user| Arc::from(user.access.as_str()))
        .collect();
    for waiter in 0..config.waiters {
        let user = waiter % users.len();
        per_user[user] += 1;
        polls.spawn(wait_loop(
            client.clone(),
            url.clone(),
            user,
            Arc::clone(&accesses[user]),
            users[user].since.clone(),
            Arc::clone(&sent),
            answers_tx.clone(),
        ));
    }
    drop(answers_tx);
    let opened = Instant::now();
    while sent.load(Ordering::Acquire) < config.waiters {
        if opened.elapsed() > Duration::from_secs(20) {
            return Err("the waiters did not all send within 20 s".into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(PARK).await;
    let rss_after_kib = child.rss_kib()?;
    let mut strays = Strays::default();
    while let Ok(answer) = answers.try_recv() {
        strays.sort(&answer)?;
    }
    let parked_early = strays.early;
    println!(
        "  {} waiters sent in {:.2} s; VmRSS {} → {} KiB",
        config.waiters,
        opened.elapsed().as_secs_f64() - PARK.as_secs_f64(),
        rss_before_kib,
        rss_after_kib
    );

    let ticks = child.cpu_ticks()?;
    tokio::time::sleep(IDLE).await;
    let idle_cpu_with = cpu_seconds(child.cpu_ticks()? - ticks);
    while let Ok(answer) = answers.try_recv() {
        strays.sort(&answer)?;
    }

    let mut post_times = Vec::with_capacity(config.rounds);
    let mut wakes = Vec::new();
    let mut expected = 0;
    for (round, user) in users.iter().enumerate().take(config.rounds) {
        while let Ok(answer) = answers.try_recv() {
            strays.sort(&answer)?;
        }
        expected += per_user[round];
        let started = Instant::now();
        let create = format!("{}/api/v1/setlists", child.base);
        let body = json!({"name": format!("Round {round}"), "event_date": "2027-05-01"});
        post_json(&client, &create, Some(&user.access), &body, 201).await?;
        post_times.push(started.elapsed());
        let deadline = tokio::time::Instant::now() + ROUND_DEADLINE;
        let mut woken = 0;
        while woken < per_user[round] {
            let Ok(Some(answer)) = tokio::time::timeout_at(deadline, answers.recv()).await else {
                break;
            };
            if answer.user == round && answer.error.is_none() && answer.changes > 0 {
                woken += 1;
                wakes.push(answer.answered - started);
            } else {
                strays.sort(&answer)?;
            }
        }
        tokio::time::sleep(ROUND_GRACE).await;
        while let Ok(answer) = answers.try_recv() {
            strays.sort(&answer)?;
        }
    }
    polls.abort_all();
    println!(
        "  {} rounds; {} of {} woken waiters answered; {} early answers of other users ({} \
         while parking), {} timeouts",
        config.rounds,
        wakes.len(),
        expected,
        strays.early,
        parked_early,
        strays.timeouts
    );
    for example in &strays.examples {
        println!("    early: {example}");
    }
    Ok(WaitResult {
        backend,
        users: users.len(),
        waiters: config.waiters,
        rss_before_kib,
        rss_after_kib,
        idle_cpu_without,
        idle_cpu_with,
        post: percentiles(post_times),
        answered: wakes.len(),
        wake: percentiles(wakes),
        expected,
        early: strays.early,
        timeouts: strays.timeouts,
    })
}

#[allow(clippy::cast_precision_loss)]
fn cpu_seconds(ticks: u64) -> f64 {
    ticks as f64 / CLOCK_TICKS_PER_SECOND
}

#[allow(clippy::cast_precision_loss)]
fn print_wait_results(results: &[WaitResult], config: &Config) {
    println!(
        "\nlong-poll waiters: `wait={WAIT_SECS}`, each on its own connection, against a \
         `serve` child process; {} rounds of one POST /api/v1/setlists by one user; wake = \
         from sending the POST to each of the user's waiters having its answer",
        config.rounds
    );
    println!(
        "{:<8} {:>5} {:>7} {:>9} {:>9} {:>9} {:>8} {:>10} {:>10} {:>8} {:>8} {:>8} {:>9} {:>5}",
        "backend",
        "users",
        "waiters",
        "RSS0 MiB",
        "RSS1 MiB",
        "Δ MiB",
        "KiB/wtr",
        "CPU idle 0",
        "CPU idle W",
        "POST p50",
        "wake p50",
        "wake p99",
        "answered",
        "early"
    );
    for result in results {
        let delta = result.rss_after_kib.saturating_sub(result.rss_before_kib);
        println!(
            "{:<8} {:>5} {:>7} {:>9.1} {:>9.1} {:>9.1} {:>8.1} {:>9.2}s {:>9.2}s {:>8.2} {:>8.2} \
             {:>8.2} {:>9} {:>5}",
            result.backend.name(),
            result.users,
            result.waiters,
            result.rss_before_kib as f64 / 1024.0,
            result.rss_after_kib as f64 / 1024.0,
            delta as f64 / 1024.0,
            delta as f64 / result.waiters as f64,
            result.idle_cpu_without,
            result.idle_cpu_with,
            ms(result.post.p50),
            ms(result.wake.p50),
            ms(result.wake.p99),
            format!("{}/{}", result.answered, result.expected),
            result.early,
        );
    }
    println!(
        "  CPU idle 0 / W: server CPU time (utime+stime) over {} s idle, without waiters / \
         with them parked; times in ms; timeouts: {}",
        IDLE.as_secs(),
        results
            .iter()
            .map(|result| format!("{} {}", result.backend.name(), result.timeouts))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

// ---------------------------------------------------------------------------------------
// Main

async fn run(config: &Config) -> BenchResult<()> {
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    println!(
        "sync: {} scores, {} walks; {} waiters over {} users, {} rounds; {cores} cores",
        config.scores, config.walks, config.waiters, config.users, config.rounds
    );
    let mut feeds = Vec::new();
    let mut waits = Vec::new();
    for &backend in &config.backends {
        match backend {
            Backend::Sqlite => {
                let dir =
                    std::env::temp_dir().join(format!("scoremate-bench-{}", uuid::Uuid::new_v4()));
                std::fs::create_dir_all(&dir)?;
                let sqlite_url = format!("sqlite://{}", dir.join("bench.db").display());
                let feed = feed_rate(backend, &sqlite_url, config).await;
                std::fs::remove_dir_all(&dir)?;
                feeds.push(feed?);
                waits.push(waiters(backend, None, config).await?);
            }
            Backend::Postgres => {
                let Some(mut postgres) = benches::ScratchServer::connect().await else {
                    continue;
                };
                let database = postgres.create("sync_feed").await?;
                let feed = feed_rate(backend, &database.url, config).await;
                postgres.drop_database(database).await?;
                feeds.push(feed?);
                let database = postgres.create("sync_waiters").await?;
                let wait = waiters(backend, Some(&database.url), config).await;
                postgres.drop_database(database).await?;
                waits.push(wait?);
            }
        }
    }
    print_feed_results(&feeds, config);
    print_wait_results(&waits, config);
    Ok(())
}

fn main() -> ExitCode {
    // The PDF processors of the serve child run this executable as their sandbox child.
    if std::env::args_os()
        .nth(1)
        .is_some_and(|arg| arg == scoremate::pdf_sandbox::CHILD_SUBCOMMAND)
    {
        return scoremate::cli::pdf::process_pdf();
    }
    if std::env::var_os("SCOREMATE_SYNC_CHILD").is_some_and(|child| child == "serve") {
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
            eprintln!("sync: {error}");
            ExitCode::FAILURE
        }
    }
}

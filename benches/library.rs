//! Latency of the score library (`GET /api/v1/scores`) over a large library — one user
//! with `SCOREMATE_BENCH_SCORES` scores (default 100000) — on both backends, beside the
//! SQL the handler runs issued directly on the same database in the same run.
//!
//! `cargo bench -p benches --bench library` — PostgreSQL from
//! `SCOREMATE_BENCH_DATABASE_URL` (default: the local server; a fresh database is created
//! and dropped), skipped with a notice when unreachable. `SCOREMATE_BENCH_REQUESTS` sets
//! the timed requests per case and side (default 200), `SCOREMATE_BENCH_BACKENDS`
//! (`sqlite,postgres`) narrows a run, and `SCOREMATE_BENCH_EXPLAIN=1` prints each
//! statement's plan. See `docs/benchmarks.md`.
//!
//! The application is built in-process (`Application::build`: connect, migrate, services,
//! embedded S3 on port 0, a temporary data dir; throttling off), configured through the
//! same settings parser as the binary, and its router is served on `127.0.0.1:0` by the
//! server's own `serve` loop — without the background followers, which only the listing's
//! read model matters to and whose backlog would otherwise compete for the CPU. One user
//! registers and logs in over HTTP; the scores' events (`RequestUpload` then
//! `ConfirmUpload`, decided by the real `Score` aggregate) are written straight into the
//! log, 40,000 rows a transaction, and the `scores` read model is built by its
//! `ProjectionRunner`. Every case is timed twice: as loaded (on PostgreSQL with autovacuum
//! off for the read-model tables, so neither a visibility map nor statistics exist: the
//! state of a library just written whose autovacuum lags), then after `VACUUM ANALYZE`
//! (SQLite: `ANALYZE`).

use benches::{InProcessServer, Percentiles, percentiles};
use std::time::{Duration, Instant};

use aggregates::{ScoreMetadata, UploadId, UserId};
use chrono::DateTime;
use eventstore::{Actor, Database, EventMetadata};
use indicatif::{ProgressBar, ProgressStyle};
use scoremate::http::pagination::{PAGE_DEPTH, Page, PageQuery};
use scoremate::routes::scores::library::{LibraryQuery, explain_page, read_page};
use serde_json::{Value, json};
use testkit::Mix;
use testkit::event_rows::{EventRow, confirmed_score_rows, insert_event_rows};

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Timed requests before which a few untimed ones warm caches and pools.
const WARM_UP: usize = 10;
const PASSWORD: &str = "correct horse battery staple";
/// The search term: one title form in [`FORMS`], nowhere in [`COMPOSERS`] (~3% of titles).
const SEARCH: &str = "nocturne";
/// Two tags of [`TAGS`]: a score carries both with probability ~3.6%.
const TAG_FILTER: [&str; 2] = ["jazz", "duet"];
/// The page size of the deep pages.
const DEEP_PAGE_SIZE: usize = 25;
/// How deep the cursor case reads (with fewer scores, as deep as they go).
const CURSOR_DEPTH: usize = 100_000;
/// Events written per transaction while seeding.
const SEED_ROWS_PER_TRANSACTION: usize = 40_000;
/// When the first seeded score is confirmed (2026-01-01T00:00:00Z); one a second after.
const SEED_START_SECONDS: i64 = 1_767_225_600;

const FORMS: [&str; 30] = [
    "Nocturne",
    "Sonata",
    "Étude",
    "Prélude",
    "Waltz",
    "Fugue",
    "Impromptu",
    "Ballade",
    "Mazurka",
    "Polonaise",
    "Rêverie",
    "Gymnopédie",
    "Invention",
    "Partita",
    "Suite",
    "Fantaisie",
    "Berceuse",
    "Capriccio",
    "Scherzo",
    "Rondo",
    "Romance",
    "Toccata",
    "Chaconne",
    "아리랑 변주곡",
    "봄의 소리",
    "Canción",
    "Lied ohne Worte",
    "Humoresque",
    "Intermezzo",
    "Barcarolle",
];
const KEYS: [&str; 12] = [
    "C major",
    "G major",
    "D minor",
    "A minor",
    "E♭ major",
    "B♭ major",
    "F♯ minor",
    "C♯ minor",
    "F major",
    "E minor",
    "A♭ major",
    "G minor",
];
const COMPOSERS: [&str; 12] = [
    "Frédéric Chopin",
    "Johann Sebastian Bach",
    "Antonín Dvořák",
    "Gabriel Fauré",
    "Erik Satie",
    "윤이상",
    "Clara Schumann",
    "Ludwig van Beethoven",
    "Claude Debussy",
    "Manuel de Falla",
    "Bill Evans",
    "진은숙",
];
const TAGS: [&str; 8] = [
    "baroque",
    "romantic",
    "jazz",
    "exam",
    "sight-reading",
    "duet",
    "favourite",
    "wedding",
];
const INSTRUMENTS: [&str; 6] = ["piano", "violin", "cello", "flute", "voice", "guitar"];

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|raw| raw.parse().ok())
        .filter(|&value| value > 0)
        .unwrap_or(default)
}

/// The `i`th seeded score's metadata and size (deterministic in `i`).
fn seed_metadata(i: usize) -> (ScoreMetadata, u64) {
    let mut mix = Mix(u64::try_from(i).unwrap_or_default());
    let form = FORMS[mix.below(FORMS.len())];
    let number = mix.below(40) + 1;
    let key = KEYS[mix.below(KEYS.len())];
    let tag_count = mix.below(4);
    let instrument_count = mix.below(2) + 1;
    let metadata = ScoreMetadata {
        title: format!("{form} No. {number} in {key}"),
        composer: Some(COMPOSERS[mix.below(COMPOSERS.len())].to_owned()),
        tags: mix.distinct(&TAGS, tag_count),
        instrumentation: mix.distinct(&INSTRUMENTS, instrument_count),
        rating: u8::try_from(mix.below(5) + 1).ok(),
        difficulty: u8::try_from(mix.below(3) + 1).ok(),
        duration_seconds: u32::try_from(mix.below(1200) + 60).ok(),
        ..ScoreMetadata::default()
    };
    let size = 50_000 + mix.next_u64() % 5_000_000;
    (metadata, size)
}

async fn post_json(
    server: &InProcessServer,
    path: &str,
    body: &Value,
    status: u16,
) -> BenchResult<Value> {
    let response = server
        .client
        .post(server.url(path))
        .json(body)
        .send()
        .await?;
    let actual = response.status().as_u16();
    let text = response.text().await?;
    if actual != status {
        return Err(format!("POST {path}: expected {status}, got {actual}: {text}").into());
    }
    Ok(serde_json::from_str(&text)?)
}

/// Registers and logs in a fresh account: its id and access token.
async fn sign_in(server: &InProcessServer) -> BenchResult<(UserId, String)> {
    let email = format!("bench-{}@example.com", uuid::Uuid::new_v4().simple());
    let credentials = json!({"email": email, "password": PASSWORD});
    let account = post_json(server, "/api/v1/auth/register", &credentials, 201).await?;
    let tokens = post_json(server, "/api/v1/auth/login", &credentials, 200).await?;
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

/// One score's events: `RequestUpload` then `ConfirmUpload`, as the upload routes issue
/// them, the `i`th second after the start.
fn score_rows(owner: UserId, i: usize) -> BenchResult<Vec<EventRow>> {
    let seconds = SEED_START_SECONDS + i64::try_from(i)?;
    let at = DateTime::from_timestamp(seconds, 0).ok_or("a seeding time out of range")?;
    let upload_id = UploadId::from_uuid(uuid::Uuid::now_v7());
    let (metadata, size) = seed_metadata(i);
    let actor = serde_json::to_value(
        EventMetadata::new(Actor::User(owner.into_uuid()), at)
            .with_request_id("bench")
            .to_map(),
    )?;
    confirmed_score_rows(
        owner,
        upload_id,
        at,
        (&format!("score-{i}.pdf"), size),
        metadata,
        &actor,
    )
}

/// Writes `count` scores' events into the log in bulk and builds the `scores` read model
/// from them.
async fn seed(database: &Database, owner: UserId, count: usize) -> BenchResult<()> {
    let progress = ProgressBar::new(u64::try_from(count)?);
    progress.set_style(ProgressStyle::with_template(
        "seeding [{elapsed_precise}] {wide_bar} {pos}/{len} {per_sec} eta {eta}",
    )?);
    let started = Instant::now();
    let per_transaction = SEED_ROWS_PER_TRANSACTION / 2;
    for first in (0..count).step_by(per_transaction) {
        let last = (first + per_transaction).min(count);
        let mut rows = Vec::with_capacity(2 * (last - first));
        for i in first..last {
            rows.extend(score_rows(owner, i)?);
        }
        insert_event_rows(database, &rows).await?;
        progress.inc(u64::try_from(last - first)?);
    }
    progress.finish_and_clear();
    let seeded = started.elapsed();
    println!(
        "  seeded {count} scores (2 events each, decided by the aggregate, written in bulk) \
         in {:.1} s: {:.0} scores/s",
        seeded.as_secs_f64(),
        per_second(count, seeded)
    );

    let started = Instant::now();
    let projected = projections::ProjectionRunner::new(projections::Scores, database.clone())
        .run_until_idle()
        .await?;
    let caught_up = started.elapsed();
    println!(
        "  scores read model built ({projected} events) in {:.1} s: {:.0} events/s",
        caught_up.as_secs_f64(),
        per_second(projected, caught_up)
    );
    Ok(())
}

/// The read model's tables.
const READ_MODEL: [&str; 4] = ["scores", "score_tags", "score_instruments", "score_counts"];

/// On PostgreSQL, autovacuum off for the read model's tables before they are written: the
/// state of a library just bulk-written whose autovacuum lags (no visibility map, no
/// statistics) is what the first round measures, whatever autovacuum would have managed
/// meanwhile.
async fn hold_autovacuum(database: &Database) -> BenchResult<()> {
    if let Database::Postgres(pool) = database {
        for table in READ_MODEL {
            sqlx::query(&format!(
                "ALTER TABLE {table} SET (autovacuum_enabled = false)"
            ))
            .execute(pool)
            .await?;
        }
    }
    Ok(())
}

/// What autovacuum does to a table some time after a bulk write (PostgreSQL: `VACUUM
/// ANALYZE`, autovacuum back on), or on SQLite what `ANALYZE` gives its planner.
async fn settle(database: &Database) -> BenchResult<()> {
    let started = Instant::now();
    match database {
        Database::Postgres(pool) => {
            for table in READ_MODEL {
                sqlx::query(&format!("VACUUM ANALYZE {table}"))
                    .execute(pool)
                    .await?;
                sqlx::query(&format!("ALTER TABLE {table} RESET (autovacuum_enabled)"))
                    .execute(pool)
                    .await?;
            }
        }
        Database::Sqlite(pool) => {
            sqlx::query("ANALYZE").execute(pool).await?;
        }
    }
    println!(
        "  VACUUM ANALYZE (SQLite: ANALYZE) of the read model in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

#[allow(clippy::cast_precision_loss)]
fn per_second(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64().max(1e-9)
}

/// One way of listing: the request's path and query.
struct Case {
    name: &'static str,
    request: String,
}

impl Case {
    fn new(name: &'static str, request: impl Into<String>) -> Self {
        Self {
            name,
            request: request.into(),
        }
    }

    /// The request's page and filters as the handler receives them.
    fn query(&self) -> BenchResult<(Page, LibraryQuery)> {
        let query = self.request.split_once('?').map_or("", |(_, query)| query);
        let page_query: PageQuery = serde_urlencoded::from_str(query)?;
        let page = Page::from_query(&page_query, "http://bench", "/api/v1/scores")
            .map_err(|error| format!("{}: {error:?}", self.name))?;
        Ok((page, serde_urlencoded::from_str(query)?))
    }
}

/// The cases; the deep one by cursor is reached by following `next` links from the last
/// page numbers reach.
async fn cases(server: &InProcessServer, token: &str, scores: usize) -> BenchResult<Vec<Case>> {
    let depth = usize::try_from(PAGE_DEPTH)?;
    let deepest_numbered = (depth.min(scores) / DEEP_PAGE_SIZE).max(1);
    let mut cases = vec![
        Case::new("first page", "/api/v1/scores"),
        Case::new("search", format!("/api/v1/scores?search={SEARCH}")),
        Case::new(
            "2 tags (AND)",
            format!("/api/v1/scores?tags={}", TAG_FILTER.join(",")),
        ),
        Case::new(
            "deep page, number",
            format!("/api/v1/scores?page={deepest_numbered}&page_size={DEEP_PAGE_SIZE}"),
        ),
    ];
    // 100 a page from the last numbered one, until the next page would start at the depth.
    let walk_size = 100;
    let target = CURSOR_DEPTH.min(scores).saturating_sub(walk_size);
    let mut link = format!(
        "/api/v1/scores?page={}&page_size={walk_size}",
        depth / walk_size
    );
    let mut start = depth - walk_size;
    while start + walk_size < target {
        let page = get(server, token, &link).await?;
        let Some(next) = page["next"].as_str() else {
            break;
        };
        link = next
            .split_once("/api/v1/")
            .map(|(_, rest)| format!("/api/v1/{rest}"))
            .ok_or("a next link outside the API")?;
        start += walk_size;
    }
    if start > depth {
        let link = link.replace(
            &format!("page_size={walk_size}"),
            &format!("page_size={DEEP_PAGE_SIZE}"),
        );
        println!("  the cursor case starts after item {start}");
        cases.push(Case::new("deep page, cursor", link));
    }
    Ok(cases)
}

/// The handler's statements on `database` (`read_page`: the total, then the page), without
/// HTTP, the token check or the views. Answers the count and the number of results.
async fn run_sql(database: &Database, owner: &str, case: &Case) -> BenchResult<(i64, usize)> {
    let (page, library_query) = case.query()?;
    let read = read_page(database, owner, &page, &library_query)
        .await
        .map_err(|error| format!("{}: {error:?}", case.name))?;
    let size = usize::try_from(page.size)?;
    Ok((i64::try_from(read.count.items)?, read.rows_read().min(size)))
}

/// The plans of the handler's statements for `case`, printed.
async fn explain(database: &Database, owner: &str, case: &Case) -> BenchResult<()> {
    let (page, library_query) = case.query()?;
    let lines = explain_page(database, owner, &page, &library_query)
        .await
        .map_err(|error| format!("{}: {error:?}", case.name))?;
    println!("  plan of {}:", case.name);
    for line in lines {
        println!("    {line}");
    }
    Ok(())
}

/// One `GET`, its body read to the end and parsed.
async fn get(server: &InProcessServer, token: &str, request: &str) -> BenchResult<Value> {
    let response = server
        .client
        .get(server.url(request))
        .bearer_auth(token)
        .send()
        .await?;
    let status = response.status().as_u16();
    let body = response.bytes().await?;
    if status != 200 {
        return Err(format!(
            "GET {request}: {status}: {}",
            String::from_utf8_lossy(&body)
        )
        .into());
    }
    Ok(serde_json::from_slice(&body)?)
}

/// One `GET` of a case. Answers the count and the number of results.
async fn run_api(server: &InProcessServer, token: &str, case: &Case) -> BenchResult<(i64, usize)> {
    let page = get(server, token, &case.request).await?;
    let count = page["count"].as_i64().unwrap_or(-1);
    let results = page["results"].as_array().map_or(0, Vec::len);
    Ok((count, results))
}

async fn time<F, Fut>(requests: usize, mut operation: F) -> BenchResult<Percentiles>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = BenchResult<(i64, usize)>>,
{
    for _ in 0..WARM_UP {
        operation().await?;
    }
    let mut samples = Vec::with_capacity(requests);
    for _ in 0..requests {
        let started = Instant::now();
        operation().await?;
        samples.push(started.elapsed());
    }
    Ok(percentiles(samples))
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
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

async fn run_backend(
    name: &str,
    database_url: &str,
    scores: usize,
    requests: usize,
) -> BenchResult<()> {
    let server = InProcessServer::start(database_url).await?;
    let result = measure_backend(&server, name, scores, requests).await;
    server.stop().await;
    result
}

async fn measure_backend(
    server: &InProcessServer,
    name: &str,
    scores: usize,
    requests: usize,
) -> BenchResult<()> {
    println!("{name}: {}", server_version(&server.database).await?);
    let (owner, token) = sign_in(server).await?;
    hold_autovacuum(&server.database).await?;
    seed(&server.database, owner, scores).await?;
    let owner = owner.to_string();
    let cases = cases(server, &token, scores).await?;
    for state in ["as loaded", "analysed"] {
        if state == "analysed" {
            settle(&server.database).await?;
        }
        for case in &cases {
            let api = run_api(server, &token, case).await?;
            let sql = run_sql(&server.database, &owner, case).await?;
            if api != sql {
                return Err(format!(
                    "{}: the API answered count {} with {} results, the SQL {} with {}",
                    case.name, api.0, api.1, sql.0, sql.1
                )
                .into());
            }
            if std::env::var_os("SCOREMATE_BENCH_EXPLAIN").is_some() {
                explain(&server.database, &owner, case).await?;
            }
            let api_times = time(requests, || run_api(server, &token, case)).await?;
            let sql_times = time(requests, || run_sql(&server.database, &owner, case)).await?;
            println!(
                "{name:<8} {state:<9} {:<17} {:>7} {:>6} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>8.2}x",
                case.name,
                sql.0,
                sql.1,
                ms(api_times.p50),
                ms(api_times.p99),
                ms(sql_times.p50),
                ms(sql_times.p99),
                api_times.p50.as_secs_f64() / sql_times.p50.as_secs_f64().max(1e-9),
            );
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> BenchResult<()> {
    let scores = env_usize("SCOREMATE_BENCH_SCORES", 100_000);
    let requests = env_usize("SCOREMATE_BENCH_REQUESTS", 200);
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    println!(
        "library: {scores} scores of one user, {requests} timed requests per case and side \
         (after {WARM_UP} untimed), {cores} cores"
    );
    println!(
        "search={SEARCH}, tags={}, deep pages of {DEEP_PAGE_SIZE}; times in ms; SQL = the \
         handler's statements (read_page: total, page) on the server's own pool",
        TAG_FILTER.join(",")
    );
    println!(
        "{:<8} {:<9} {:<17} {:>7} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "backend",
        "state",
        "case",
        "count",
        "rows",
        "API p50",
        "API p99",
        "SQL p50",
        "SQL p99",
        "API/SQL"
    );

    let backends =
        std::env::var("SCOREMATE_BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".to_owned());
    if backends
        .split(',')
        .any(|backend| backend.trim() == "sqlite")
    {
        let dir = std::env::temp_dir().join(format!("scoremate-bench-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir)?;
        let sqlite_url = format!("sqlite://{}", dir.join("bench.db").display());
        let sqlite = run_backend("sqlite", &sqlite_url, scores, requests).await;
        std::fs::remove_dir_all(&dir)?;
        sqlite?;
    }
    if !backends
        .split(',')
        .any(|backend| backend.trim() == "postgres")
    {
        return Ok(());
    }

    let Some(mut postgres) = benches::ScratchServer::connect().await else {
        return Ok(());
    };
    let database = postgres.create("library").await?;
    let result = run_backend("postgres", &database.url, scores, requests).await;
    postgres.drop_database(database).await?;
    result
}

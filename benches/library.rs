//! Latency of the score library (`GET /api/v1/scores`) over a large library — one user
//! with `SCOREMATE_BENCH_SCORES` scores (default 100000) — on both backends, beside the
//! SQL the handler runs issued directly on the same database in the same run.
//!
//! `cargo bench -p benches --bench library` — PostgreSQL from
//! `SCOREMATE_BENCH_DATABASE_URL` (default: the local server; a fresh database is created
//! and dropped), skipped with a notice when unreachable. `SCOREMATE_BENCH_REQUESTS` sets
//! the timed requests per case and side (default 200), `SCOREMATE_BENCH_SEED_WRITERS` the
//! concurrent seeding tasks (default 8), `SCOREMATE_BENCH_BACKENDS` (`sqlite,postgres`)
//! narrows a run. See `docs/benchmarks.md`.
//!
//! The application is built in-process (`Application::build`: connect, migrate, services,
//! embedded S3 on port 0, a temporary data dir; throttling off), configured through the
//! same settings parser as the binary, and its router is served on `127.0.0.1:0` by the
//! server's own `serve` loop — without the background followers, which only the listing's
//! read model matters to and whose backlog would otherwise compete for the CPU. One user
//! registers and logs in over HTTP; the scores are seeded through the real command path
//! (`RequestUpload` then `ConfirmUpload` on the application's own `AggregateStore<Score>`,
//! without S3), and the `scores` read model is built by its `ProjectionRunner` (then, on
//! PostgreSQL, vacuumed and analysed as autovacuum would in time) before anything is timed.

use benches::{Percentiles, percentiles};
use integration_tests::Mix;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aggregates::{Bytes, Score, ScoreCommand, ScoreMetadata, UploadId, UserId};
use chrono::{DateTime, Utc};
use clap::Parser;
use eventstore::{Actor, AggregateStore, Database, EventMetadata};
use indicatif::{ProgressBar, ProgressStyle};
use scoremate::cli::Cli;
use scoremate::startup::{Application, router};
use serde_json::{Value, json};
use tokio::sync::oneshot;

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Timed requests before which a few untimed ones warm caches and pools.
const WARM_UP: usize = 10;
const PASSWORD: &str = "correct horse battery staple";
/// The search term: one title form in [`FORMS`], nowhere in [`COMPOSERS`] (~3% of titles).
const SEARCH: &str = "nocturne";
/// Two tags of [`TAGS`]: a score carries both with probability ~3.6%.
const TAG_FILTER: [&str; 2] = ["jazz", "duet"];
const DEEP_PAGE: usize = 4000;
const DEEP_PAGE_SIZE: usize = 25;
/// `GET /api/v1/scores` without `page_size` (`pagination::DEFAULT_PAGE_SIZE`).
const DEFAULT_PAGE_SIZE: usize = 20;

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

/// The application's routes serving on a free port, and what the benchmark needs of it.
struct Server {
    address: std::net::SocketAddr,
    client: reqwest::Client,
    database: Database,
    scores: Arc<AggregateStore<Score>>,
    data_dir: PathBuf,
    shutdown: oneshot::Sender<()>,
    serving: tokio::task::JoinHandle<()>,
    /// Built (connected, migrated, services and embedded S3 up) but never run: its
    /// `run_until` would also start the background followers, and the processors' backlog
    /// of 2 events per seeded score (one commit each) would run during the measurements.
    _app: Application,
}

impl Server {
    async fn start(database_url: &str) -> BenchResult<Self> {
        let data_dir =
            std::env::temp_dir().join(format!("scoremate-bench-app-{}", uuid::Uuid::new_v4()));
        let data_dir_arg = data_dir.display().to_string();
        let cli = Cli::try_parse_from([
            "scoremate",
            "--bind",
            "127.0.0.1:0",
            "--data-dir",
            &data_dir_arg,
            "--database-url",
            database_url,
            "--throttle-anon-per-hour",
            "0",
            "--throttle-user-per-hour",
            "0",
            "--embedded-s3-bind",
            "127.0.0.1:0",
            "--metrics-bind",
            "127.0.0.1:0",
            "serve",
        ])?;
        let app = Application::build(cli.settings).await?;
        let state = app.state().clone();
        // The server's own router and serve loop, on a listener of ours.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let (shutdown, stopped) = oneshot::channel::<()>();
        let serving = tokio::spawn(scoremate::server::serve(
            listener,
            warp::service(router(state.clone())),
            async {
                let _ = stopped.await;
            },
        ));
        Ok(Self {
            address,
            client: reqwest::Client::new(),
            database: state.database.clone(),
            scores: Arc::clone(&state.services.scores),
            data_dir,
            shutdown,
            serving,
            _app: app,
        })
    }

    fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{path_and_query}", self.address)
    }

    async fn post_json(&self, path: &str, body: &Value, status: u16) -> BenchResult<Value> {
        let response = self.client.post(self.url(path)).json(body).send().await?;
        let actual = response.status().as_u16();
        let text = response.text().await?;
        if actual != status {
            return Err(format!("POST {path}: expected {status}, got {actual}: {text}").into());
        }
        Ok(serde_json::from_str(&text)?)
    }

    /// Registers and logs in a fresh account: its id and access token.
    async fn sign_in(&self) -> BenchResult<(UserId, String)> {
        let email = format!("bench-{}@example.com", uuid::Uuid::new_v4().simple());
        let credentials = json!({"email": email, "password": PASSWORD});
        let account = self
            .post_json("/api/v1/auth/register", &credentials, 201)
            .await?;
        let tokens = self
            .post_json("/api/v1/auth/login", &credentials, 200)
            .await?;
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

    async fn stop(self) {
        let _ = self.shutdown.send(());
        let _ = self.serving.await;
        self.database.close().await;
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// One score: `RequestUpload` then `ConfirmUpload`, as the upload routes issue them.
async fn seed_one(scores: &AggregateStore<Score>, owner: UserId, i: usize) -> BenchResult<()> {
    let upload_id = UploadId::from_uuid(uuid::Uuid::now_v7());
    let id = upload_id.to_string();
    let (metadata, size) = seed_metadata(i);
    let actor =
        || EventMetadata::new(Actor::User(owner.into_uuid()), Utc::now()).with_request_id("bench");
    let request = ScoreCommand::RequestUpload {
        upload_id,
        owner,
        filename: format!("score-{i}.pdf"),
        size_bytes: Bytes(size),
        mime_type: "application/pdf".to_owned(),
        sha256: None,
        // processors::objects::score_object_key
        object_key: format!("{owner}/scores/{upload_id}/original.pdf"),
        expires_at: Utc::now() + chrono::Duration::hours(1),
    };
    scores.execute(&id, request, &actor()).await?;
    let confirm = ScoreCommand::ConfirmUpload {
        user_id: owner,
        now: Utc::now(),
        size_bytes: Bytes(size),
        etag: format!("\"{:032x}\"", upload_id.into_uuid().as_u128()),
        sha256: None,
        metadata,
    };
    scores.execute(&id, confirm, &actor()).await?;
    Ok(())
}

async fn seed(server: &Server, owner: UserId, count: usize, writers: usize) -> BenchResult<()> {
    let progress = ProgressBar::new(u64::try_from(count)?);
    progress.set_style(ProgressStyle::with_template(
        "seeding [{elapsed_precise}] {wide_bar} {pos}/{len} {per_sec} eta {eta}",
    )?);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|_| {
            let scores = Arc::clone(&server.scores);
            let next = Arc::clone(&next);
            let progress = progress.clone();
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        return BenchResult::Ok(());
                    }
                    seed_one(&scores, owner, i).await?;
                    progress.inc(1);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    progress.finish_and_clear();
    let seeded = started.elapsed();
    println!(
        "  seeded {count} scores (2 commands each, {writers} tasks) in {:.1} s: {:.0} scores/s",
        seeded.as_secs_f64(),
        per_second(count, seeded)
    );

    let started = Instant::now();
    let projected =
        projections::ProjectionRunner::new(projections::Scores, server.database.clone())
            .run_until_idle()
            .await?;
    let caught_up = started.elapsed();
    println!(
        "  scores read model built ({projected} events) in {:.1} s: {:.0} events/s",
        caught_up.as_secs_f64(),
        per_second(projected, caught_up)
    );
    settle(&server.database).await
}

/// On PostgreSQL, what autovacuum does to a table some time after a bulk write: without it
/// the freshly written heap has no visibility map (every index-only `count(*)` visits the
/// heap) and the planner no statistics. SQLite has no such background work to stand in for.
async fn settle(database: &Database) -> BenchResult<()> {
    let Database::Postgres(pool) = database else {
        return Ok(());
    };
    let started = Instant::now();
    for table in ["scores", "score_tags", "score_instruments"] {
        sqlx::query(&format!("VACUUM ANALYZE {table}"))
            .execute(pool)
            .await?;
    }
    println!(
        "  VACUUM ANALYZE of the read model in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

#[allow(clippy::cast_precision_loss)]
fn per_second(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64().max(1e-9)
}

/// One way of listing: the request, and the SQL the handler runs for it.
struct Case {
    name: &'static str,
    /// Path and query of the request.
    request: String,
    /// Conditions after `owner_id = $1 AND lifecycle = 'confirmed'`, as the handler writes
    /// them (api/src/routes/library.rs, `filters`).
    conditions: String,
    /// `$2`, `$3`, … of `conditions`.
    args: Vec<String>,
    limit: i64,
    offset: i64,
}

fn tag_condition(n: usize) -> String {
    format!(
        " AND EXISTS (SELECT 1 FROM score_tags t WHERE t.score_id = scores.id AND t.tag_folded = ${n})"
    )
}

fn cases(scores: usize) -> BenchResult<Vec<Case>> {
    let default_size = i64::try_from(DEFAULT_PAGE_SIZE)?;
    // Page 4000 of 25 needs 100000 scores; with fewer, the last full page stands in.
    let deep_page = DEEP_PAGE.min((scores / DEEP_PAGE_SIZE).max(1));
    Ok(vec![
        Case {
            name: "first page",
            request: "/api/v1/scores".to_owned(),
            conditions: String::new(),
            args: vec![],
            limit: default_size,
            offset: 0,
        },
        Case {
            name: "search",
            request: format!("/api/v1/scores?search={SEARCH}"),
            conditions:
                " AND (title_folded LIKE $2 ESCAPE '\\' OR composer_folded LIKE $2 ESCAPE '\\')"
                    .to_owned(),
            args: vec![format!("%{SEARCH}%")],
            limit: default_size,
            offset: 0,
        },
        Case {
            name: "2 tags (AND)",
            request: format!("/api/v1/scores?tags={}", TAG_FILTER.join(",")),
            conditions: format!("{}{}", tag_condition(2), tag_condition(3)),
            args: TAG_FILTER.iter().map(|&tag| tag.to_owned()).collect(),
            limit: default_size,
            offset: 0,
        },
        Case {
            name: "deep page",
            request: format!("/api/v1/scores?page={deep_page}&page_size={DEEP_PAGE_SIZE}"),
            conditions: String::new(),
            args: vec![],
            limit: i64::try_from(DEEP_PAGE_SIZE)?,
            offset: i64::try_from((deep_page - 1) * DEEP_PAGE_SIZE)?,
        },
    ])
}

type ScoreRow = (Value, i64, Option<DateTime<Utc>>, Option<DateTime<Utc>>);

macro_rules! bind_case {
    ($query:expr, $owner:expr, $case:expr) => {{
        let mut query = $query.bind($owner);
        for arg in &$case.args {
            query = query.bind(arg.as_str());
        }
        query
    }};
}

/// The handler's two statements on `database`: the count, then the page. Answers the
/// count and the number of rows.
async fn run_sql(database: &Database, owner: &str, case: &Case) -> BenchResult<(i64, usize)> {
    let filter = format!(
        "owner_id = $1 AND lifecycle = 'confirmed'{}",
        case.conditions
    );
    let count_sql = format!("SELECT count(*) FROM scores WHERE {filter}");
    let limit = case.args.len() + 2;
    let offset = limit + 1;
    let page_sql = format!(
        "SELECT state, version, created_at, updated_at FROM scores WHERE {filter} \
         ORDER BY updated_at DESC, id DESC LIMIT ${limit} OFFSET ${offset}"
    );
    let (count, rows): (i64, Vec<ScoreRow>) = match database {
        Database::Sqlite(pool) => {
            let count = bind_case!(sqlx::query_scalar(&count_sql), owner, case)
                .fetch_one(pool)
                .await?;
            let rows = bind_case!(sqlx::query_as(&page_sql), owner, case)
                .bind(case.limit)
                .bind(case.offset)
                .fetch_all(pool)
                .await?;
            (count, rows)
        }
        Database::Postgres(pool) => {
            let count = bind_case!(sqlx::query_scalar(&count_sql), owner, case)
                .fetch_one(pool)
                .await?;
            let rows = bind_case!(sqlx::query_as(&page_sql), owner, case)
                .bind(case.limit)
                .bind(case.offset)
                .fetch_all(pool)
                .await?;
            (count, rows)
        }
    };
    Ok((count, rows.len()))
}

/// One `GET`, its body read to the end. Answers the count and the number of results.
async fn run_api(server: &Server, token: &str, case: &Case) -> BenchResult<(i64, usize)> {
    let response = server
        .client
        .get(server.url(&case.request))
        .bearer_auth(token)
        .send()
        .await?;
    let status = response.status().as_u16();
    let body = response.bytes().await?;
    if status != 200 {
        return Err(format!(
            "GET {}: {status}: {}",
            case.request,
            String::from_utf8_lossy(&body)
        )
        .into());
    }
    let page: Value = serde_json::from_slice(&body)?;
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
    writers: usize,
) -> BenchResult<()> {
    let server = Server::start(database_url).await?;
    let result = measure_backend(&server, name, scores, requests, writers).await;
    server.stop().await;
    result
}

async fn measure_backend(
    server: &Server,
    name: &str,
    scores: usize,
    requests: usize,
    writers: usize,
) -> BenchResult<()> {
    println!("{name}: {}", server_version(&server.database).await?);
    let (owner, token) = server.sign_in().await?;
    seed(server, owner, scores, writers).await?;
    let owner = owner.to_string();
    for case in cases(scores)? {
        let api = run_api(server, &token, &case).await?;
        let sql = run_sql(&server.database, &owner, &case).await?;
        if api != sql {
            return Err(format!(
                "{}: the API answered count {} with {} results, the SQL {} with {}",
                case.name, api.0, api.1, sql.0, sql.1
            )
            .into());
        }
        let api_times = time(requests, || run_api(server, &token, &case)).await?;
        let sql_times = time(requests, || run_sql(&server.database, &owner, &case)).await?;
        println!(
            "{name:<8} {:<13} {:>7} {:>6} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>8.2}x",
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
    Ok(())
}

#[tokio::main]
async fn main() -> BenchResult<()> {
    let scores = env_usize("SCOREMATE_BENCH_SCORES", 100_000);
    let requests = env_usize("SCOREMATE_BENCH_REQUESTS", 200);
    let writers = env_usize("SCOREMATE_BENCH_SEED_WRITERS", 8);
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    println!(
        "library: {scores} scores of one user, {requests} timed requests per case and side \
         (after {WARM_UP} untimed), {cores} cores"
    );
    println!(
        "search={SEARCH}, tags={}, deep page={DEEP_PAGE} of {DEEP_PAGE_SIZE}; times in ms; \
         SQL = the handler's count(*) + page SELECT on the server's own pool",
        TAG_FILTER.join(",")
    );
    println!(
        "{:<8} {:<13} {:>7} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "backend", "case", "count", "rows", "API p50", "API p99", "SQL p50", "SQL p99", "API/SQL"
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
        let sqlite = run_backend("sqlite", &sqlite_url, scores, requests, writers).await;
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
    let result = run_backend("postgres", &database.url, scores, requests, writers).await;
    postgres.drop_database(database).await?;
    result
}

//! Rebuilding the read models from a long log: `projections rebuild NAME` of every
//! projection (what `rebuild all` runs, one after the other) over a fresh database holding
//! `SCOREMATE_BENCH_EVENTS` events (default 1,000,000) of a realistic mix, beside two reads
//! of the same log in the same run: a plain `SELECT` of the `events` table in position
//! order, page by page (the floor any rebuild pays), and the log reader the projections use
//! (`EventLog::read_after`: the same pages, JSON decoded, PostgreSQL's commit-order guard).
//!
//! `cargo bench -p benches --bench rebuild` (bench profile) — PostgreSQL from
//! `SCOREMATE_BENCH_DATABASE_URL` (default: the local server; a database of its own is
//! created and dropped; skipped with a notice when unreachable). `SCOREMATE_BENCH_EVENTS`
//! sets the log's length (default 1000000), `SCOREMATE_BENCH_BACKENDS` (`sqlite,postgres`)
//! and `SCOREMATE_BENCH_PROJECTIONS` (`all`, or names) narrow a run.
//!
//! The history: users who register, log in (sessions with refresh rotations, some logged
//! out), get a quota, upload scores (reserve, request, confirm, quota confirmed, PDF info,
//! thumbnail or a processing failure; some edited, some deleted with their quota released;
//! some uploads expire, are cancelled or rejected instead) and arrange setlists (items
//! added, reordered, removed, renamed, some deleted). Every command is decided by the real
//! aggregate on its real state, so the events are exactly what the service stores; users'
//! lives are interleaved in the log, and the rows are written with multi-row `INSERT`s in
//! large transactions instead of one commit per command.

use benches::Mix;
use std::time::{Duration, Instant};

use aggregates::{
    Account, AccountCommand, Bytes, Email, PdfInfo, ProcessingStage, Quota, QuotaCommand,
    ReleaseReason, RevocationReason, Role, Score, ScoreCommand, ScoreId, ScoreMetadata,
    ScoreMetadataPatch, Session, SessionCommand, SessionId, Setlist, SetlistCommand, SetlistId,
    SetlistItemId, UploadId, UserId,
};
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use cqrs_es::{Aggregate, DomainEvent};
use eventstore::{Actor, Database, DatabaseOptions, EventLog, EventMetadata, LogCursor};
use projections::PROJECTION_NAMES;
use serde_json::Value;
use sqlx::QueryBuilder;
use uuid::Uuid;

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Rows per `INSERT` statement: 7 bound columns stay under SQLite's 32,766 variables.
const ROWS_PER_INSERT: usize = 4_000;
/// Rows per seeding transaction (users are interleaved within one).
const ROWS_PER_TRANSACTION: usize = 40_000;
/// Page size of both baselines: the rebuild's own batch (`projections/src/rebuild.rs`).
const PAGE: u32 = 2_000;

const TITLES: [&str; 12] = [
    "Nocturne",
    "Étude",
    "Prelude",
    "Sonata",
    "Gymnopédie",
    "Ballade",
    "Invention",
    "Waltz",
    "아리랑",
    "Fugue",
    "Impromptu",
    "Suite",
];
const COMPOSERS: [&str; 8] = [
    "Chopin",
    "Bach",
    "Satie",
    "Debussy",
    "Dvořák",
    "윤이상",
    "Schumann",
    "Ravel",
];
const TAGS: [&str; 8] = [
    "jazz",
    "duet",
    "classical",
    "exam",
    "wedding",
    "sight-reading",
    "favourite",
    "church",
];
const INSTRUMENTS: [&str; 5] = ["Piano", "Violin", "Cello", "Flute", "Voice"];

/// One row of the `events` table.
struct Row {
    aggregate_type: &'static str,
    aggregate_id: String,
    sequence: i64,
    event_type: String,
    event_version: String,
    payload: Value,
    metadata: Value,
}

/// One aggregate's stream while the history is written: its state and version.
struct Stream<A> {
    id: String,
    state: A,
    version: i64,
}

impl<A: Aggregate> Stream<A> {
    fn new(id: &impl std::fmt::Display) -> Self {
        Self {
            id: id.to_string(),
            state: A::default(),
            version: 0,
        }
    }
}

/// One user's life, written as rows in the order it happens.
struct Life {
    user: UserId,
    mix: Mix,
    now: DateTime<Utc>,
    rows: Vec<Row>,
}

impl Life {
    /// Decides `decide` on `stream`'s state, records the events as `actor` at the current
    /// simulated time, applies them, and lets a little time pass.
    fn run<A, E>(
        &mut self,
        stream: &mut Stream<A>,
        actor: Actor,
        decide: impl FnOnce(&A) -> Result<Vec<A::Event>, E>,
    ) -> BenchResult<()>
    where
        A: Aggregate,
        E: std::error::Error + Send + Sync + 'static,
    {
        let metadata = serde_json::to_value(
            EventMetadata::new(actor, self.now)
                .with_request_id(format!("bench-{}", self.rows.len()))
                .to_map(),
        )?;
        for event in decide(&stream.state)? {
            stream.version += 1;
            self.rows.push(Row {
                aggregate_type: A::TYPE,
                aggregate_id: stream.id.clone(),
                sequence: stream.version,
                event_type: event.event_type(),
                event_version: event.event_version(),
                payload: serde_json::to_value(&event)?,
                metadata: metadata.clone(),
            });
            stream.state.apply(event);
        }
        // Under 90 s a step: an upload is confirmed well within its 5-minute ticket.
        self.now += TimeDelta::seconds(i64::try_from(self.mix.below_u64(90)).unwrap_or(0) + 1);
        Ok(())
    }

    fn me(&self) -> Actor {
        Actor::User(self.user.0)
    }
}

fn score_metadata(mix: &mut Mix) -> ScoreMetadata {
    let tags = (0..mix.below_u64(4))
        .map(|_| mix.pick(&TAGS))
        .collect::<Vec<_>>();
    let mut unique_tags: Vec<String> = tags.into_iter().map(str::to_owned).collect();
    unique_tags.sort();
    unique_tags.dedup();
    ScoreMetadata {
        title: format!("{} No. {}", mix.pick(&TITLES), mix.below_u64(40) + 1),
        composer: Some(mix.pick(&COMPOSERS).to_owned()),
        instrumentation: vec![mix.pick(&INSTRUMENTS).to_owned()],
        tags: unique_tags,
        rating: u8::try_from(mix.below_u64(5) + 1).ok(),
        difficulty: u8::try_from(mix.below_u64(3) + 1).ok(),
        duration_seconds: u32::try_from(mix.below_u64(1200) + 60).ok(),
        ..ScoreMetadata::default()
    }
}

/// An upload's whole life; answers the score id when it ends as a live score.
fn upload(life: &mut Life, quota: &mut Stream<Quota>) -> BenchResult<Option<ScoreId>> {
    let user = life.user;
    let me = life.me();
    let upload_id = UploadId::from_uuid(Uuid::now_v7());
    let score_id = ScoreId::from_uuid(upload_id.0);
    let size = Bytes(50_000 + life.mix.below_u64(5_000_000));
    let expires_at = life.now + TimeDelta::minutes(5);
    let mut score = Stream::<Score>::new(&upload_id);
    life.run(quota, me.clone(), |q| {
        q.decide(QuotaCommand::ReserveQuota {
            upload_id,
            bytes: size,
            expires_at,
        })
    })?;
    life.run(&mut score, me.clone(), |s| {
        s.decide(ScoreCommand::RequestUpload {
            upload_id,
            owner: user,
            filename: "score.pdf".to_owned(),
            size_bytes: size,
            mime_type: "application/pdf".to_owned(),
            sha256: None,
            object_key: format!("{user}/scores/{score_id}/original.pdf"),
            expires_at,
        })
    })?;
    let fate = life.mix.below_u64(100);
    if fate >= 80 {
        // Not confirmed: expired (most), cancelled or rejected, and the reservation freed.
        let reason = match fate {
            80..=89 => {
                let now = expires_at + TimeDelta::seconds(30);
                life.run(&mut score, Actor::System, |s| {
                    s.decide(ScoreCommand::ExpireUpload { now })
                })?;
                ReleaseReason::Expired
            }
            90..=94 => {
                life.run(&mut score, me, |s| {
                    s.decide(ScoreCommand::CancelUpload { user_id: user })
                })?;
                ReleaseReason::Cancelled
            }
            _ => {
                life.run(&mut score, me, |s| {
                    s.decide(ScoreCommand::RejectUpload {
                        reason: "the uploaded file is not a PDF".to_owned(),
                    })
                })?;
                ReleaseReason::Rejected
            }
        };
        life.run(quota, Actor::System, |q| {
            q.decide(QuotaCommand::ReleaseReservation { upload_id, reason })
        })?;
        return Ok(None);
    }
    let metadata = score_metadata(&mut life.mix);
    let now = life.now;
    life.run(&mut score, me.clone(), |s| {
        s.decide(ScoreCommand::ConfirmUpload {
            user_id: user,
            now,
            size_bytes: size,
            etag: format!("{:032x}", upload_id.0.as_u128()),
            sha256: None,
            metadata,
        })
    })?;
    life.run(quota, Actor::System, |q| {
        q.decide(QuotaCommand::ConfirmQuota {
            upload_id,
            score_id,
            actual_bytes: size,
        })
    })?;
    let pages = u32::try_from(life.mix.below_u64(120) + 1).unwrap_or(1);
    life.run(&mut score, Actor::System, |s| {
        s.decide(ScoreCommand::RecordPdfInfo {
            info: PdfInfo {
                page_count: pages,
                page_width_pt: 595.28,
                page_height_pt: 841.89,
                title: None,
                author: Some("Engraver".to_owned()),
                subject: None,
                keywords: None,
                encrypted: false,
            },
        })
    })?;
    if life.mix.chance(95) {
        life.run(&mut score, Actor::System, |s| {
            s.decide(ScoreCommand::RecordThumbnail {
                object_key: format!("{user}/scores/{score_id}/thumbnail.png"),
                width: 300,
                height: 424,
            })
        })?;
    } else {
        life.run(&mut score, Actor::System, |s| {
            s.decide(ScoreCommand::RecordProcessingFailure {
                stage: ProcessingStage::Thumbnail,
                reason: "the page could not be rendered".to_owned(),
            })
        })?;
    }
    if life.mix.chance(30) {
        let patch = ScoreMetadataPatch {
            tags: Some(vec![life.mix.pick(&TAGS).to_owned()]),
            notes: Some(Some("fingering from the lesson".to_owned())),
            ..ScoreMetadataPatch::default()
        };
        life.run(&mut score, me.clone(), |s| {
            s.decide(ScoreCommand::UpdateScoreMetadata {
                user_id: user,
                patch,
            })
        })?;
    }
    if life.mix.chance(10) {
        life.run(&mut score, me, |s| {
            s.decide(ScoreCommand::DeleteScore { user_id: user })
        })?;
        life.run(quota, Actor::System, |q| {
            q.decide(QuotaCommand::ReleaseQuota { score_id })
        })?;
        return Ok(None);
    }
    Ok(Some(score_id))
}

fn session(life: &mut Life) -> BenchResult<()> {
    let session_id = SessionId::from_uuid(Uuid::now_v7());
    let user_id = life.user;
    let mut session = Stream::<Session>::new(&session_id);
    let mut token = Uuid::new_v4();
    let expires_at = life.now + TimeDelta::days(1);
    life.run(&mut session, life.me(), |s| {
        s.decide(SessionCommand::StartSession {
            session_id,
            user_id,
            refresh_token_id: token,
            expires_at,
        })
    })?;
    for _ in 0..life.mix.below_u64(6) {
        let next = Uuid::new_v4();
        let now = life.now;
        life.run(&mut session, life.me(), |s| {
            s.decide(SessionCommand::RotateRefreshToken {
                presented_token_id: token,
                next_token_id: next,
                now,
                expires_at: now + TimeDelta::days(1),
            })
        })?;
        token = next;
    }
    if life.mix.chance(50) {
        life.run(&mut session, life.me(), |s| {
            s.decide(SessionCommand::RevokeSession {
                reason: RevocationReason::Logout,
            })
        })?;
    }
    Ok(())
}

fn setlist(life: &mut Life, scores: &[ScoreId]) -> BenchResult<()> {
    let user = life.user;
    let me = life.me();
    let setlist_id = SetlistId::from_uuid(Uuid::now_v7());
    let mut setlist = Stream::<Setlist>::new(&setlist_id);
    let date = NaiveDate::from_ymd_opt(2027, 1, 1)
        .map(|day| day + TimeDelta::days(i64::try_from(life.mix.below_u64(365)).unwrap_or(0)));
    life.run(&mut setlist, me.clone(), |s| {
        s.decide(SetlistCommand::CreateSetlist {
            setlist_id,
            owner: user,
            name: format!("Concert {}", life_number(user)),
            description: Some("Programme and encores".to_owned()),
            event_date: date,
        })
    })?;
    let mut items = Vec::new();
    let wanted = usize::try_from(life.mix.below_u64(7)).unwrap_or(0);
    for score_id in scores.iter().take(wanted) {
        let item_id = SetlistItemId::from_uuid(Uuid::now_v7());
        life.run(&mut setlist, me.clone(), |s| {
            s.decide(SetlistCommand::AddSetlistItem {
                user_id: user,
                item_id,
                score_id: *score_id,
                position: None,
                note: None,
            })
        })?;
        items.push(item_id);
    }
    if items.len() > 1 && life.mix.chance(50) {
        items.reverse();
        let item_ids = items.clone();
        life.run(&mut setlist, me.clone(), |s| {
            s.decide(SetlistCommand::ReorderSetlistItems {
                user_id: user,
                item_ids,
            })
        })?;
    }
    if let Some(item_id) = items.first().copied().filter(|_| life.mix.chance(30)) {
        life.run(&mut setlist, me.clone(), |s| {
            s.decide(SetlistCommand::RemoveSetlistItem {
                user_id: user,
                item_id,
            })
        })?;
    }
    if life.mix.chance(20) {
        life.run(&mut setlist, me.clone(), |s| {
            s.decide(SetlistCommand::UpdateSetlistDetails {
                user_id: user,
                name: Some("Spring concert".to_owned()),
                description: None,
                event_date: None,
            })
        })?;
    }
    if life.mix.chance(5) {
        life.run(&mut setlist, me, |s| {
            s.decide(SetlistCommand::DeleteSetlist { user_id: user })
        })?;
    }
    Ok(())
}

fn life_number(user: UserId) -> u64 {
    // The low bits of a v7 id are random: a short, stable label for names.
    u64::try_from(user.0.as_u128() % 10_000).unwrap_or_default()
}

/// Everything user number `n` does, in order (about 75 events on average).
fn user_life(n: u64, start: DateTime<Utc>) -> BenchResult<Vec<Row>> {
    let user = UserId::from_uuid(Uuid::now_v7());
    let mut life = Life {
        user,
        mix: Mix(n),
        now: start,
        rows: Vec::with_capacity(96),
    };
    let mut account = Stream::<Account>::new(&user);
    let email = Email::parse(&format!("user{n}@bench.example"))?;
    life.run(&mut account, Actor::System, |a| {
        a.decide(AccountCommand::RegisterAccount {
            user_id: user,
            email,
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$YmVuY2hzYWx0$YmVuY2hoYXNo".to_owned(),
            display_name: Some(format!("Player {n}")),
        })
    })?;
    if life.mix.chance(2) {
        life.run(&mut account, Actor::System, |a| {
            a.decide(AccountCommand::GrantRole {
                role: Role::Auditor,
            })
        })?;
    }
    let mut quota = Stream::<Quota>::new(&user);
    life.run(&mut quota, Actor::System, |q| {
        q.decide(QuotaCommand::SetQuotaLimit {
            limit: Bytes(1 << 30),
        })
    })?;
    session(&mut life)?;
    let mut scores = Vec::new();
    for _ in 0..life.mix.below_u64(16) + 1 {
        if life.mix.chance(15) {
            session(&mut life)?;
        }
        if let Some(score) = upload(&mut life, &mut quota)? {
            scores.push(score);
        }
    }
    for _ in 0..life.mix.below_u64(3) {
        setlist(&mut life, &scores)?;
    }
    Ok(life.rows)
}

/// Appends `rows` in one transaction, `ROWS_PER_INSERT` a statement.
async fn insert(database: &Database, rows: &[Row]) -> BenchResult<()> {
    const INSERT: &str = "INSERT INTO events \
        (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) ";
    match database {
        Database::Sqlite(pool) => {
            let mut transaction = pool.begin().await?;
            for chunk in rows.chunks(ROWS_PER_INSERT) {
                let mut query = QueryBuilder::<sqlx::Sqlite>::new(INSERT);
                query.push_values(chunk, |mut values, row| {
                    values
                        .push_bind(row.aggregate_type)
                        .push_bind(&row.aggregate_id)
                        .push_bind(row.sequence)
                        .push_bind(&row.event_type)
                        .push_bind(&row.event_version)
                        .push_bind(&row.payload)
                        .push_bind(&row.metadata);
                });
                query.build().execute(&mut *transaction).await?;
            }
            transaction.commit().await?;
        }
        Database::Postgres(pool) => {
            let mut transaction = pool.begin().await?;
            for chunk in rows.chunks(ROWS_PER_INSERT) {
                let mut query = QueryBuilder::<sqlx::Postgres>::new(INSERT);
                query.push_values(chunk, |mut values, row| {
                    values
                        .push_bind(row.aggregate_type)
                        .push_bind(&row.aggregate_id)
                        .push_bind(row.sequence)
                        .push_bind(&row.event_type)
                        .push_bind(&row.event_version)
                        .push_bind(&row.payload)
                        .push_bind(&row.metadata);
                });
                query.build().execute(&mut *transaction).await?;
            }
            transaction.commit().await?;
        }
    }
    Ok(())
}

/// Writes exactly `events` events: users' lives, a few hundred interleaved at a time the
/// way concurrent users' commands interleave in the log (each stream stays in order; the
/// last life is cut short where the count is reached, as a log read mid-way would be).
async fn seed(database: &Database, events: u64) -> BenchResult<Seeded> {
    let start = Utc::now() - TimeDelta::days(365);
    let mut seeded = Seeded::default();
    while seeded.events < events {
        let deciding = Instant::now();
        let mut lives = Vec::new();
        let mut pending = 0;
        while pending < ROWS_PER_TRANSACTION {
            // Users arrive over the year: about 40 a day at a million events.
            let arrival = start + TimeDelta::minutes(i64::try_from(seeded.users * 36).unwrap_or(0));
            let life = user_life(seeded.users, arrival)?;
            seeded.users += 1;
            pending += life.len();
            lives.push(life.into_iter());
        }
        let mut rows = Vec::with_capacity(pending);
        while rows.len() < pending {
            for life in &mut lives {
                rows.extend(life.next());
            }
        }
        let room = usize::try_from(events - seeded.events).unwrap_or(usize::MAX);
        rows.truncate(room);
        seeded.deciding += deciding.elapsed();
        let inserting = Instant::now();
        insert(database, &rows).await?;
        seeded.inserting += inserting.elapsed();
        seeded.events += rows.len() as u64;
    }
    Ok(seeded)
}

/// What [`seed`] wrote and where its time went.
#[derive(Default)]
struct Seeded {
    events: u64,
    users: u64,
    /// Deciding the commands and serialising the events.
    deciding: Duration,
    /// The `INSERT`s and commits.
    inserting: Duration,
}

const SQLITE_PAGE: &str = "SELECT position, aggregate_type, aggregate_id, sequence, event_type, \
    event_version, payload, metadata, recorded_at FROM events WHERE position > $1 \
    ORDER BY position LIMIT $2";
const POSTGRES_PAGE: &str = "SELECT position, aggregate_type, aggregate_id, sequence, event_type, \
    event_version, payload::text, metadata::text, recorded_at FROM events WHERE position > $1 \
    ORDER BY position LIMIT $2";

type SqliteRow = (
    i64,
    String,
    String,
    i64,
    String,
    String,
    String,
    String,
    String,
);
type PostgresRow = (
    i64,
    String,
    String,
    i64,
    String,
    String,
    String,
    String,
    DateTime<Utc>,
);

/// Baseline: every row of `events` in position order, `PAGE` rows a query (keyset
/// pagination), each column decoded into an owned value but the JSON left as text.
async fn select_all(database: &Database) -> BenchResult<u64> {
    let mut after = 0_i64;
    let mut read = 0_u64;
    loop {
        let last = match database {
            Database::Sqlite(pool) => {
                let page: Vec<SqliteRow> = sqlx::query_as(SQLITE_PAGE)
                    .bind(after)
                    .bind(i64::from(PAGE))
                    .fetch_all(pool)
                    .await?;
                read += page.len() as u64;
                page.last().map(|row| row.0)
            }
            Database::Postgres(pool) => {
                let page: Vec<PostgresRow> = sqlx::query_as(POSTGRES_PAGE)
                    .bind(after)
                    .bind(i64::from(PAGE))
                    .fetch_all(pool)
                    .await?;
                read += page.len() as u64;
                page.last().map(|row| row.0)
            }
        };
        match last {
            Some(position) => after = position,
            None => return Ok(read),
        }
    }
}

/// Second reference: the log reader every projection runs, the same page size.
async fn read_log(database: &Database) -> BenchResult<u64> {
    let log = EventLog::new(database.clone());
    let mut cursor = LogCursor::START;
    let mut read = 0_u64;
    loop {
        let page = log.read_after(cursor, PAGE).await?;
        let Some(last) = page.last() else {
            return Ok(read);
        };
        cursor = last.cursor;
        read += page.len() as u64;
    }
}

fn rate(events: u64, elapsed: Duration) -> f64 {
    events as f64 / elapsed.as_secs_f64().max(1e-9)
}

async fn timed<F: Future<Output = BenchResult<u64>>>(run: F) -> BenchResult<(u64, Duration)> {
    let started = Instant::now();
    let read = run.await?;
    Ok((read, started.elapsed()))
}

async fn run_backend(
    name: &str,
    database: Database,
    events: u64,
    projections_to_rebuild: &[&'static str],
) -> BenchResult<()> {
    database.migrate().await?;
    let seeded = seed(&database, events).await?;
    let written = seeded.events;
    println!(
        "{name:<9} seeded {written} events of {} users: deciding and serialising {:.1} s, \
         INSERTs {:.1} s ({:.0} events/s)",
        seeded.users,
        seeded.deciding.as_secs_f64(),
        seeded.inserting.as_secs_f64(),
        rate(written, seeded.inserting)
    );
    if let Database::Postgres(pool) = &database {
        // What autovacuum would do some time after such a load: planner statistics.
        sqlx::query("VACUUM ANALYZE events").execute(pool).await?;
    }

    // Untimed: brings the table into the page cache for every contender alike.
    select_all(&database).await?;
    let (read, select_before) = timed(select_all(&database)).await?;
    if read != written {
        return Err(format!("the SELECT read {read} of {written} events").into());
    }
    let (read, log_reader) = timed(read_log(&database)).await?;
    if read != written {
        return Err(format!("the log reader read {read} of {written} events").into());
    }

    let select_rate = rate(written, select_before);
    println!(
        "{name:<9} baseline: SELECT by position in pages of {PAGE}: {:.1} s, {select_rate:.0} events/s",
        select_before.as_secs_f64(),
    );
    println!(
        "{name:<9} log reader (EventLog::read_after):  {:.1} s, {:.0} events/s, {:.3}x the SELECT",
        log_reader.as_secs_f64(),
        rate(written, log_reader),
        rate(written, log_reader) / select_rate
    );
    // Printed as each one ends: a long run interrupted still leaves its figures.
    let mut all = Duration::ZERO;
    for projection in projections_to_rebuild {
        let started = Instant::now();
        let report = projections::rebuild_named(projection, &database, |_| {}).await?;
        let elapsed = started.elapsed();
        if report.applied != written {
            return Err(format!("{projection} applied {} of {written}", report.applied).into());
        }
        all += elapsed;
        println!(
            "{name:<9} rebuild {projection:<18} {:>7.1} s {:>8.0} events/s {:>7.4}x the SELECT",
            elapsed.as_secs_f64(),
            rate(written, elapsed),
            rate(written, elapsed) / select_rate
        );
    }
    println!(
        "{name:<9} rebuild, all of the above  {:>7.1} s {:>8.0} events/s {:>7.4}x the SELECT",
        all.as_secs_f64(),
        rate(written, all),
        rate(written, all) / select_rate
    );
    // The same SELECT again: how much the machine's load moved meanwhile.
    let (_, select_after) = timed(select_all(&database)).await?;
    println!(
        "{name:<9} baseline again after the rebuilds: {:.1} s, {:.0} events/s",
        select_after.as_secs_f64(),
        rate(written, select_after)
    );
    database.close().await;
    Ok(())
}

#[tokio::main]
async fn main() -> BenchResult<()> {
    let events = std::env::var("SCOREMATE_BENCH_EVENTS")
        .ok()
        .and_then(|raw| raw.parse().ok())
        .unwrap_or(1_000_000_u64);
    let list = |name: &str, default: &str| -> Vec<String> {
        std::env::var(name)
            .unwrap_or_else(|_| default.to_owned())
            .split(',')
            .map(|item| item.trim().to_owned())
            .filter(|item| !item.is_empty())
            .collect()
    };
    let backends = list("SCOREMATE_BENCH_BACKENDS", "sqlite,postgres");
    let mut chosen = Vec::new();
    for wanted in list("SCOREMATE_BENCH_PROJECTIONS", "all") {
        if wanted == "all" {
            chosen.extend(PROJECTION_NAMES);
        } else {
            chosen.push(projections::projection_name(&wanted)?);
        }
    }
    let options = DatabaseOptions::default();

    if backends.iter().any(|backend| backend == "sqlite") {
        sqlite(events, &chosen, &options).await?;
    }
    if backends.iter().any(|backend| backend == "postgres") {
        postgres(events, &chosen, &options).await?;
    }
    Ok(())
}

/// A fresh SQLite file in a temporary folder, removed afterwards.
async fn sqlite(
    events: u64,
    projections_to_rebuild: &[&'static str],
    options: &DatabaseOptions,
) -> BenchResult<()> {
    let dir = std::env::temp_dir().join(format!("scoremate-bench-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir)?;
    let sqlite_url = format!("sqlite://{}", dir.join("bench.db").display());
    let result = match Database::connect(&sqlite_url, options).await {
        Ok(database) => run_backend("sqlite", database, events, projections_to_rebuild).await,
        Err(error) => Err(error.into()),
    };
    std::fs::remove_dir_all(&dir)?;
    result
}

/// A fresh PostgreSQL database on `SCOREMATE_BENCH_DATABASE_URL`'s server, dropped
/// afterwards; skipped with a notice when the server is unreachable.
async fn postgres(
    events: u64,
    projections_to_rebuild: &[&'static str],
    options: &DatabaseOptions,
) -> BenchResult<()> {
    let Some(mut postgres) = benches::ScratchServer::connect().await else {
        return Ok(());
    };
    let database = postgres.create("rebuild").await?;
    let result = match Database::connect(&database.url, options).await {
        Ok(database) => run_backend("postgres", database, events, projections_to_rebuild).await,
        Err(error) => Err(error.into()),
    };
    postgres.drop_database(database).await?;
    result
}

//! A long, realistic event log, written fast and the same for the same seed: users who
//! register, log in (sessions with refresh rotations, some logged out), get a quota, upload
//! scores (reserve, request, confirm, quota confirmed, PDF info, thumbnail or a processing
//! failure; some edited, some deleted with their quota released; some uploads expire, are
//! cancelled or rejected instead) and arrange setlists (items added, reordered, removed,
//! renamed, some deleted).
//!
//! Every command is decided by the real aggregate on its real state, so the events are
//! exactly what the service stores; users' lives are interleaved in the log, a few hundred
//! at a time, and the rows are written with multi-row `INSERT`s in large transactions
//! instead of one commit per command. Ids and times come from the seed too (ids are v7,
//! stamped with the simulated time), so two histories of one seed hold the same events;
//! only `recorded_at` and the positions are the database's. One history per database: a
//! second one of the same seed would repeat its streams.
//!
//! The rebuild benchmark seeds its log with it (seed 0), and the `batched_projections`
//! test holds the projections' batched path to their one-by-one path over it.

use std::error::Error;
use std::time::{Duration, Instant};

use aggregates::{
    Account, AccountCommand, Bytes, Email, PdfInfo, ProcessingStage, Quota, QuotaCommand,
    ReleaseReason, RevocationReason, Role, Score, ScoreCommand, ScoreId, ScoreMetadata,
    ScoreMetadataPatch, Session, SessionCommand, SessionId, Setlist, SetlistCommand, SetlistId,
    SetlistItemId, UploadId, UserId,
};
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use cqrs_es::Aggregate;
use eventstore::{Actor, Database, EventMetadata};
use uuid::{Builder, Uuid};

use crate::event_rows::{EventRow, Stream, insert_event_rows};
use crate::mix::Mix;

type HistoryResult<T> = Result<T, Box<dyn Error + Send + Sync>>;

/// Rows per transaction; the lives interleaved in one transaction fill it.
const ROWS_PER_TRANSACTION: usize = 40_000;
/// When the first user arrives (2026-01-01T00:00:00Z); the others follow every 36 minutes.
const START_SECONDS: i64 = 1_767_225_600;

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

/// What [`write_mixed_history_measured`] wrote and where its time went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MixedHistory {
    pub events: u64,
    /// Users whose lives were (at least partly) written.
    pub users: u64,
    /// Deciding the commands and serialising the events.
    pub deciding: Duration,
    /// The `INSERT`s and commits.
    pub inserting: Duration,
}

/// Appends exactly `events` events of the mixed history of `seed` to `database`'s log;
/// answers how many it wrote.
pub async fn write_mixed_history(
    database: &Database,
    events: u64,
    seed: u64,
) -> HistoryResult<u64> {
    Ok(write_mixed_history_measured(database, events, seed)
        .await?
        .events)
}

/// [`write_mixed_history`], with the number of users and the time spent deciding and
/// inserting.
///
/// Users' lives are interleaved a few hundred at a time (as many as fill a transaction), the
/// way concurrent users' commands interleave in the log (each stream stays in order); the
/// last lives are cut short where the count is reached, as a log read mid-way would be. A
/// history shorter than one transaction interleaves just enough lives to fill it, so it
/// holds whole lives, not only their beginnings.
pub async fn write_mixed_history_measured(
    database: &Database,
    events: u64,
    seed: u64,
) -> HistoryResult<MixedHistory> {
    let start = DateTime::from_timestamp(START_SECONDS, 0).unwrap_or_default();
    let per_transaction = usize::try_from(events).map_or(ROWS_PER_TRANSACTION, |events| {
        events.min(ROWS_PER_TRANSACTION)
    });
    let mut written = MixedHistory::default();
    while written.events < events {
        let deciding = Instant::now();
        let mut lives = Vec::new();
        let mut pending = 0;
        while pending < per_transaction {
            // Users arrive over the year: about 40 a day at a million events.
            let minutes = i64::try_from(written.users * 36).unwrap_or(0);
            let life = user_life(seed, written.users, start + TimeDelta::minutes(minutes))?;
            written.users += 1;
            pending += life.len();
            lives.push(life.into_iter());
        }
        let mut rows = Vec::with_capacity(pending);
        while rows.len() < pending {
            for life in &mut lives {
                rows.extend(life.next());
            }
        }
        rows.truncate(usize::try_from(events - written.events).unwrap_or(usize::MAX));
        written.deciding += deciding.elapsed();
        let inserting = Instant::now();
        insert_event_rows(database, &rows).await?;
        written.inserting += inserting.elapsed();
        written.events += rows.len() as u64;
    }
    Ok(written)
}

/// One user's life, written as rows in the order it happens.
struct Life {
    user: UserId,
    /// The life's choices.
    mix: Mix,
    /// The life's ids: a stream of their own, so minting one leaves the choices alone.
    ids: Mix,
    now: DateTime<Utc>,
    rows: Vec<EventRow>,
}

impl Life {
    /// Decides `decide` on `stream`'s state, records the events as `actor` at the current
    /// simulated time, applies them, and lets a little time pass.
    fn run<A, E>(
        &mut self,
        stream: &mut Stream<A>,
        actor: Actor,
        decide: impl FnOnce(&A) -> Result<Vec<A::Event>, E>,
    ) -> HistoryResult<()>
    where
        A: Aggregate,
        E: Error + Send + Sync + 'static,
    {
        let metadata = serde_json::to_value(
            EventMetadata::new(actor, self.now)
                .with_request_id(format!("mixed-{}", self.rows.len()))
                .to_map(),
        )?;
        self.rows.extend(stream.run(&metadata, decide)?);
        // Under 90 s a step: an upload is confirmed well within its 5-minute ticket.
        self.now += TimeDelta::seconds(i64::try_from(self.mix.below_u64(90)).unwrap_or(0) + 1);
        Ok(())
    }

    fn me(&self) -> Actor {
        Actor::User(self.user.0)
    }

    /// A new v7 id, minted now (in simulated time).
    fn new_id(&mut self) -> Uuid {
        v7(&mut self.ids, self.now)
    }

    /// A new random (v4) id, such as a refresh token's.
    fn new_token(&mut self) -> Uuid {
        let bits = u128::from(self.ids.next_u64()) << 64 | u128::from(self.ids.next_u64());
        Builder::from_random_bytes(bits.to_be_bytes()).into_uuid()
    }
}

/// A v7 id stamped `at`, its random bits drawn from `ids`.
fn v7(ids: &mut Mix, at: DateTime<Utc>) -> Uuid {
    let millis = u64::try_from(at.timestamp_millis()).unwrap_or_default();
    let bits = u128::from(ids.next_u64()) << 64 | u128::from(ids.next_u64());
    let mut random = [0_u8; 10];
    random.copy_from_slice(&bits.to_be_bytes()[..10]);
    Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
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
fn upload(life: &mut Life, quota: &mut Stream<Quota>) -> HistoryResult<Option<ScoreId>> {
    let user = life.user;
    let me = life.me();
    let upload_id = UploadId::from_uuid(life.new_id());
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
                xmp: None,
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

fn session(life: &mut Life) -> HistoryResult<()> {
    let session_id = SessionId::from_uuid(life.new_id());
    let user_id = life.user;
    let mut session = Stream::<Session>::new(&session_id);
    let mut token = life.new_token();
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
        let next = life.new_token();
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

fn setlist(life: &mut Life, scores: &[ScoreId]) -> HistoryResult<()> {
    let user = life.user;
    let me = life.me();
    let setlist_id = SetlistId::from_uuid(life.new_id());
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
            notes: None,
        })
    })?;
    let mut items = Vec::new();
    let wanted = usize::try_from(life.mix.below_u64(7)).unwrap_or(0);
    for score_id in scores.iter().take(wanted) {
        let item_id = SetlistItemId::from_uuid(life.new_id());
        // Some items play a page sequence of their score (repeats allowed).
        let pages = life.mix.chance(20).then(|| vec![1, 2, 1]);
        life.run(&mut setlist, me.clone(), |s| {
            s.decide(SetlistCommand::AddSetlistItem {
                user_id: user,
                item_id,
                score_id: *score_id,
                bookmark_id: None,
                pages,
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
                notes: Some(Some("Tune to 442 Hz".to_owned())),
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

/// Everything user number `n` of the history of `seed` does from `arrival` on, in order
/// (about 75 events on average).
fn user_life(seed: u64, n: u64, arrival: DateTime<Utc>) -> HistoryResult<Vec<EventRow>> {
    // Seed 0 keeps the choices the rebuild benchmark has always made (user n: `Mix(n)`).
    let state = seed.wrapping_mul(1 << 32).wrapping_add(n);
    let mut ids = Mix(Mix(!state).next_u64());
    let user = UserId::from_uuid(v7(&mut ids, arrival));
    let mut life = Life {
        user,
        mix: Mix(state),
        ids,
        now: arrival,
        rows: Vec::with_capacity(96),
    };
    let mut account = Stream::<Account>::new(&user);
    // As long as `user{n}@bench.example` was: seed 0's payloads keep their size.
    let email = Email::parse(&format!("user{n}@seed{seed}.example"))?;
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::{START_SECONDS, user_life};
    use chrono::DateTime;

    #[test]
    fn a_seed_decides_the_same_lives_every_time() {
        let arrival = DateTime::from_timestamp(START_SECONDS, 0).unwrap();
        for n in 0..20 {
            assert_eq!(
                user_life(7, n, arrival).unwrap(),
                user_life(7, n, arrival).unwrap()
            );
        }
    }

    #[test]
    fn another_seed_decides_other_lives() {
        let arrival = DateTime::from_timestamp(START_SECONDS, 0).unwrap();
        assert_ne!(
            user_life(7, 3, arrival).unwrap(),
            user_life(8, 3, arrival).unwrap()
        );
    }
}

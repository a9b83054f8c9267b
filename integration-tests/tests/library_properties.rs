//! Property: `GET /api/v1/scores` answers every combination of search, filters, ordering
//! and pagination as a naive in-memory reference does, on random libraries of several
//! users (Unicode titles, equal timestamps, scores edited, failed, deleted, uploads never
//! confirmed). Walked forward by the `next` links, from a cursor forward and back by the
//! `previous` links, with the total checked. Plus the capped count beyond `COUNT_CAP`.
//!
//! The libraries' events are decided by the real `Score` aggregate and written into the
//! log in bulk; the `scores` projection builds the read model. `PROPTEST_CASES` and
//! `PROPTEST_RNG_SEED` apply as usual.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cmp::Ordering;
use std::collections::BTreeSet;

use aggregates::{
    Bytes, PdfInfo, ProcessingStage, ProcessingStatus, Score, ScoreCommand, ScoreMetadata,
    ScoreMetadataPatch, UploadId, UserId,
};
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use eventstore::{Actor, EventMetadata};
use integration_tests::{SignedIn, TestApp, expect_json, spawn_app};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use scoremate::http::pagination::cursor_after;
use scoremate::routes::scores::library::COUNT_CAP;
use serde_json::{Value, json};
use testkit::event_rows::{EventRow, Stream, insert_event_rows};
use testkit::{Mix, TestDatabase};

const TITLES: [&str; 14] = [
    "Nocturne",
    "NOCTURNE op. 9",
    "Étude in É",
    "étude",
    "아리랑",
    "봄의 소리 왈츠",
    "Straße",
    "100% Jazz",
    "a_b c",
    "Gymnopédie No. 1",
    "Ave Maria",
    "ÅNGSTRÖM",
    "Ο Θεός",
    "nocturne",
];
const COMPOSERS: [&str; 6] = ["Chopin", "CHOPIN", "Dvořák", "윤이상", "Satie", "Fauré"];
const TAGS: [&str; 7] = [
    "Jazz",
    "Duet",
    "exam",
    "Hochzeit",
    "결혼식",
    "sight-reading",
    "100%",
];
const INSTRUMENTS: [&str; 5] = ["Piano", "Violin", "cello", "Voice", "가야금"];
const ORDERINGS: [&str; 6] = [
    "created_at",
    "-created_at",
    "updated_at",
    "-updated_at",
    "title",
    "-title",
];
const STATUSES: [&str; 3] = ["pending", "ready", "failed"];

fn fold(text: &str) -> String {
    text.to_lowercase()
}

/// A listed score as the reference knows it.
#[derive(Debug, Clone)]
struct Entry {
    id: String,
    title: String,
    composer: Option<String>,
    tags: BTreeSet<String>,
    instruments: BTreeSet<String>,
    status: &'static str,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// One library's events and the scores it lists.
/// One library's events and the scores it lists; every score is tagged `everywhere`, when
/// given, besides its own tags.
fn library(
    seed: u64,
    owner: UserId,
    scores: usize,
    everywhere: Option<&str>,
) -> (Vec<EventRow>, Vec<Entry>) {
    let mut mix = Mix(seed);
    let start = DateTime::from_timestamp(1_767_225_600, 0).unwrap();
    let mut rows = Vec::new();
    let mut entries = Vec::new();
    for i in 0..scores {
        // Few distinct minutes: many scores share a timestamp, and the id breaks the tie.
        let confirmed_at = start + TimeDelta::minutes(i64::try_from(mix.below_u64(40)).unwrap());
        let upload_id = UploadId::from_uuid(uuid::Uuid::now_v7());
        let actor = |at: DateTime<Utc>| {
            serde_json::to_value(
                EventMetadata::new(Actor::User(owner.into_uuid()), at)
                    .with_request_id("property")
                    .to_map(),
            )
            .unwrap()
        };
        let mut score = Stream::<Score>::new(&upload_id);
        // Answers whether the command changed anything (an empty edit records nothing).
        let mut run = |score: &mut Stream<Score>, at, command: ScoreCommand| {
            let decided = score
                .run(&actor(at), |state| state.decide(command))
                .unwrap();
            let changed = !decided.is_empty();
            rows.extend(decided);
            changed
        };
        run(
            &mut score,
            confirmed_at,
            ScoreCommand::RequestUpload {
                upload_id,
                owner,
                filename: format!("{i}.pdf"),
                size_bytes: Bytes(1_000),
                mime_type: "application/pdf".to_owned(),
                sha256: None,
                object_key: format!("{owner}/scores/{upload_id}/original.pdf"),
                expires_at: confirmed_at + TimeDelta::hours(1),
            },
        );
        if mix.chance(8) {
            continue; // never confirmed: not in the library
        }
        let tag_count = mix.below(3);
        let metadata = ScoreMetadata {
            title: format!("{} {}", mix.pick(&TITLES), mix.below(5)),
            composer: mix.chance(85).then(|| mix.pick(&COMPOSERS).to_owned()),
            tags: {
                let mut tags = mix.distinct(&TAGS, tag_count);
                tags.extend(everywhere.map(str::to_owned));
                tags
            },
            instrumentation: {
                let count = mix.below(3);
                mix.distinct(&INSTRUMENTS, count)
            },
            ..ScoreMetadata::default()
        };
        run(
            &mut score,
            confirmed_at,
            ScoreCommand::ConfirmUpload {
                user_id: owner,
                now: confirmed_at,
                size_bytes: Bytes(1_000),
                etag: "\"e\"".to_owned(),
                sha256: None,
                metadata,
            },
        );
        let mut updated_at = confirmed_at;
        if mix.chance(60) {
            run(
                &mut score,
                confirmed_at,
                ScoreCommand::RecordPdfInfo {
                    info: PdfInfo {
                        page_count: 2,
                        page_width_pt: 595.0,
                        page_height_pt: 842.0,
                        title: None,
                        author: None,
                        subject: None,
                        keywords: None,
                        encrypted: false,
                        xmp: None,
                    },
                },
            );
            let command = if mix.chance(80) {
                ScoreCommand::RecordThumbnail {
                    object_key: format!("{owner}/scores/{upload_id}/thumbnail.png"),
                    width: 300,
                    height: 424,
                }
            } else {
                ScoreCommand::RecordProcessingFailure {
                    stage: ProcessingStage::Thumbnail,
                    reason: "unreadable".to_owned(),
                }
            };
            run(&mut score, confirmed_at, command);
        }
        if mix.chance(30) {
            let edited_at =
                confirmed_at + TimeDelta::minutes(i64::try_from(mix.below_u64(30)).unwrap());
            let patch = ScoreMetadataPatch {
                title: mix.chance(50).then(|| mix.pick(&TITLES).to_owned()),
                tags: mix.chance(50).then(|| mix.distinct(&TAGS, 2)),
                ..ScoreMetadataPatch::default()
            };
            let edit = ScoreCommand::UpdateScoreMetadata {
                user_id: owner,
                patch,
            };
            if run(&mut score, edited_at, edit) {
                updated_at = edited_at;
            }
        }
        if mix.chance(8) {
            run(
                &mut score,
                updated_at,
                ScoreCommand::DeleteScore { user_id: owner },
            );
            continue;
        }
        let metadata = score.state.metadata().cloned().unwrap();
        entries.push(Entry {
            id: upload_id.to_string(),
            title: metadata.title,
            composer: metadata.composer,
            tags: metadata.tags.iter().map(|tag| fold(tag)).collect(),
            instruments: metadata
                .instrumentation
                .iter()
                .map(|name| fold(name))
                .collect(),
            status: match score.state.processing_status() {
                ProcessingStatus::Pending => "pending",
                ProcessingStatus::Ready => "ready",
                ProcessingStatus::Failed => "failed",
            },
            created_at: confirmed_at,
            updated_at,
        });
    }
    (rows, entries)
}

/// One request's filters and ordering.
#[derive(Debug, Clone)]
struct Query {
    search: Option<String>,
    composer: Option<String>,
    tags: Vec<String>,
    instrument: Option<String>,
    status: Option<&'static str>,
    ordering: Option<&'static str>,
}

impl Query {
    fn matches(&self, entry: &Entry) -> bool {
        let search = self.search.as_deref().is_none_or(|search| {
            let search = fold(search);
            fold(&entry.title).contains(&search)
                || entry
                    .composer
                    .as_deref()
                    .is_some_and(|composer| fold(composer).contains(&search))
        });
        let composer = self.composer.as_deref().is_none_or(|composer| {
            entry.composer.as_deref().map(fold) == Some(fold(composer.trim()))
        });
        let tags = self
            .tags
            .iter()
            .all(|tag| entry.tags.contains(&fold(tag.trim())));
        let instrument = self
            .instrument
            .as_deref()
            .is_none_or(|name| entry.instruments.contains(&fold(name.trim())));
        let status = self.status.is_none_or(|status| status == entry.status);
        search && composer && tags && instrument && status
    }

    fn ordering(&self) -> &'static str {
        self.ordering.unwrap_or("-updated_at")
    }

    /// The entry's ordering key, as text the way a cursor holds it.
    fn key(&self, entry: &Entry) -> String {
        let instant = |at: DateTime<Utc>| at.to_rfc3339_opts(SecondsFormat::AutoSi, true);
        match self.ordering().trim_start_matches('-') {
            "created_at" => instant(entry.created_at),
            "updated_at" => instant(entry.updated_at),
            _ => fold(&entry.title),
        }
    }

    fn compare(&self, a: &Entry, b: &Entry) -> Ordering {
        let order = match self.ordering().trim_start_matches('-') {
            "created_at" => a.created_at.cmp(&b.created_at),
            "updated_at" => a.updated_at.cmp(&b.updated_at),
            // Both databases compare the folded titles' bytes (SQLite's BINARY collation;
            // PostgreSQL's C.UTF-8 of the test cluster), as `str` does.
            _ => fold(&a.title).cmp(&fold(&b.title)),
        }
        .then_with(|| a.id.cmp(&b.id));
        if self.ordering().starts_with('-') {
            order.reverse()
        } else {
            order
        }
    }

    fn reference(&self, library: &[Entry]) -> Vec<Entry> {
        let mut listed: Vec<Entry> = library
            .iter()
            .filter(|entry| self.matches(entry))
            .cloned()
            .collect();
        listed.sort_by(|a, b| self.compare(a, b));
        listed
    }

    /// The query string of the filters and ordering.
    fn encoded(&self) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        if let Some(search) = &self.search {
            pairs.push(("search", search.clone()));
        }
        if let Some(composer) = &self.composer {
            pairs.push(("composer", composer.clone()));
        }
        if !self.tags.is_empty() {
            pairs.push(("tags", self.tags.join(",")));
        }
        if let Some(instrument) = &self.instrument {
            pairs.push(("instrumentation", instrument.clone()));
        }
        if let Some(status) = self.status {
            pairs.push(("status", status.to_owned()));
        }
        if let Some(ordering) = self.ordering {
            pairs.push(("ordering", ordering.to_owned()));
        }
        serde_urlencoded::to_string(pairs).unwrap()
    }
}

/// Some text of the library in another case, cut anywhere (one character to six), or
/// text that matches nothing or only literally (`%`, `_`).
fn search_term() -> impl Strategy<Value = String> {
    let cut = (
        prop::sample::select(TITLES.iter().chain(&COMPOSERS).copied().collect::<Vec<_>>()),
        any::<Index>(),
        1_usize..=6,
        any::<bool>(),
    )
        .prop_map(|(text, start, length, upper)| {
            let chars: Vec<char> = text.chars().collect();
            let start = start.index(chars.len());
            let cut: String = chars[start..(start + length).min(chars.len())]
                .iter()
                .collect();
            if upper { cut.to_uppercase() } else { cut }
        });
    prop_oneof![
        4 => cut,
        1 => prop::sample::select(vec!["%", "_", "zzz", "b c", "100%", "é", "소리"]).prop_map(str::to_owned),
    ]
}

fn any_case(words: &'static [&'static str]) -> impl Strategy<Value = String> {
    (prop::sample::select(words), any::<bool>()).prop_map(|(word, upper)| {
        if upper {
            word.to_uppercase()
        } else {
            word.to_owned()
        }
    })
}

fn query() -> impl Strategy<Value = Query> {
    (
        prop::option::weighted(0.4, search_term()),
        prop::option::weighted(0.15, any_case(&COMPOSERS)),
        prop::collection::vec(any_case(&TAGS), 0..=2),
        prop::option::weighted(0.2, any_case(&INSTRUMENTS)),
        prop::option::weighted(0.2, prop::sample::select(STATUSES.to_vec())),
        prop::option::of(prop::sample::select(ORDERINGS.to_vec())),
    )
        .prop_map(
            |(search, composer, tags, instrument, status, ordering)| Query {
                search,
                composer,
                tags,
                instrument,
                status,
                ordering,
            },
        )
}

/// A user with their library, in the read model.
struct Library {
    user: SignedIn,
    entries: Vec<Entry>,
}

async fn libraries(app: &TestApp, sizes: &[usize], everywhere: Option<&str>) -> Vec<Library> {
    let mut libraries = Vec::new();
    for (seed, &size) in (11_u64..).zip(sizes) {
        let user = app.signed_in_user().await;
        let owner: UserId = user.id.parse().unwrap();
        let (rows, entries) = library(seed, owner, size, everywhere);
        insert_event_rows(&app.database.database, &rows)
            .await
            .unwrap();
        libraries.push(Library { user, entries });
    }
    // The projection alone: the processors would try to render the scores, whose files
    // were never uploaded, and record failures the reference knows nothing of. Until it has
    // every event: on PostgreSQL another test's open transaction can hold the log back.
    let database = &app.database.database;
    let runner = projections::ProjectionRunner::new(projections::Scores, database.clone());
    for _ in 0..1_000 {
        runner.run_until_idle().await.unwrap();
        let statuses = projections::status(database).await.unwrap();
        if statuses
            .iter()
            .any(|status| status.name == "scores" && status.lag == 0)
        {
            return libraries;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the scores projection did not catch up");
}

async fn get(app: &TestApp, user: &SignedIn, path_and_query: &str) -> Value {
    let response = app.get_authed(path_and_query, &user.tokens.access).await;
    expect_json(response, 200).await
}

/// The path and query of an absolute link of the API.
fn relative(link: &str) -> String {
    link.split_once("/api/v1/")
        .map(|(_, rest)| format!("/api/v1/{rest}"))
        .unwrap()
}

fn ids(page: &Value) -> Vec<String> {
    page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|score| score["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Follows `link` (`"next"` or `"previous"`) from `page` to the end; answers every page's
/// ids, in the order visited.
async fn walk(app: &TestApp, user: &SignedIn, mut page: Value, link: &str) -> Vec<Vec<String>> {
    let mut pages = vec![ids(&page)];
    for _ in 0..200 {
        let Some(next) = page[link].as_str() else {
            return pages;
        };
        page = get(app, user, &relative(next)).await;
        pages.push(ids(&page));
    }
    panic!("more than 200 pages");
}

async fn check(
    app: &TestApp,
    library: &Library,
    query: &Query,
    page_size: usize,
    from: &dyn Fn(usize) -> usize,
) -> Result<(), TestCaseError> {
    let expected: Vec<String> = query
        .reference(&library.entries)
        .iter()
        .map(|entry| entry.id.clone())
        .collect();
    let filters = query.encoded();
    let first = get(
        app,
        &library.user,
        &format!("/api/v1/scores?page_size={page_size}&{filters}"),
    )
    .await;
    let cap = usize::try_from(COUNT_CAP).unwrap();
    prop_assert_eq!(
        first["count"].as_u64(),
        u64::try_from(expected.len().min(cap)).ok()
    );
    prop_assert_eq!(
        first["count_is_exact"].as_bool(),
        Some(expected.len() <= cap)
    );
    let forward: Vec<String> = walk(app, &library.user, first, "next").await.concat();
    prop_assert_eq!(&forward, &expected, "forward by next links, {}", filters);

    if expected.is_empty() {
        return Ok(());
    }
    // From a cursor after the `start`th item: the page after it, then back to the start.
    let start = from(expected.len()).min(expected.len() - 1);
    let reference = query.reference(&library.entries);
    let key = vec![
        json!(query.key(&reference[start])),
        json!(reference[start].id),
    ];
    let cursor = cursor_after(query.ordering(), key);
    let after = get(
        app,
        &library.user,
        &format!("/api/v1/scores?cursor={cursor}&page_size={page_size}&{filters}"),
    )
    .await;
    let end = (start + 1 + page_size).min(expected.len());
    prop_assert_eq!(
        &ids(&after),
        &expected[start + 1..end].to_vec(),
        "after {}",
        start
    );
    prop_assert_eq!(after["next"].is_string(), end < expected.len());
    if end > start + 1 {
        let mut back = walk(app, &library.user, after, "previous").await;
        back.reverse();
        prop_assert_eq!(
            &back.concat(),
            &expected[..end].to_vec(),
            "back from {}",
            start
        );
    }
    Ok(())
}

fn check_library_property(runtime: &tokio::runtime::Runtime, database: TestDatabase) {
    let app = runtime.block_on(spawn_app(database));
    let libraries = runtime.block_on(libraries(&app, &[90, 60, 30], None));
    let mut runner = TestRunner::new(Config {
        cases: 256,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (0..libraries.len(), query(), 1_usize..=25, any::<Index>());
    let outcome = runner.run(&strategy, |(library, query, page_size, from)| {
        runtime.block_on(check(
            &app,
            &libraries[library],
            &query,
            page_size,
            &|len| from.index(len),
        ))
    });
    runtime.block_on(app.stop());
    if let Err(error) = outcome {
        panic!("{error}");
    }
}

#[test]
fn listings_agree_with_the_reference_on_sqlite() {
    let runtime = integration_tests::test_runtime();
    let database = runtime.block_on(TestDatabase::sqlite());
    check_library_property(&runtime, database);
}

#[test]
fn listings_agree_with_the_reference_on_postgres() {
    let runtime = integration_tests::test_runtime();
    let Some(database) = runtime.block_on(TestDatabase::postgres()) else {
        return;
    };
    check_library_property(&runtime, database);
}

/// Beyond `COUNT_CAP` matches the total says "at least"; without a filter (or with the
/// status alone) it comes from the counters and stays exact.
async fn counts_are_capped(database: TestDatabase) {
    let app = spawn_app(database).await;
    // Some uploads are never confirmed, some scores deleted, some titles without a space.
    let size = usize::try_from(COUNT_CAP).unwrap() * 3 / 2;
    let library = &libraries(&app, &[size], Some("Everywhere")).await[0];
    let confirmed = library.entries.len();
    assert!(confirmed > usize::try_from(COUNT_CAP).unwrap());
    let page = get(&app, &library.user, "/api/v1/scores").await;
    assert_eq!(page["count"].as_u64(), u64::try_from(confirmed).ok());
    assert_eq!(page["count_is_exact"], json!(true));
    let pending = library
        .entries
        .iter()
        .filter(|entry| entry.status == "pending")
        .count();
    let page = get(&app, &library.user, "/api/v1/scores?status=pending").await;
    assert_eq!(page["count"].as_u64(), u64::try_from(pending).ok());
    // Most titles have a space.
    let spaced = library
        .entries
        .iter()
        .filter(|entry| entry.title.contains(' '))
        .count();
    assert!(spaced > usize::try_from(COUNT_CAP).unwrap());
    let page = get(&app, &library.user, "/api/v1/scores?search=%20").await;
    assert_eq!(page["count"].as_u64(), Some(COUNT_CAP));
    assert_eq!(page["count_is_exact"], json!(false));
    assert!(page["next"].is_string());
    // Beyond the cap the pages walk the owner's rows in order and test each: whole walks
    // of queries with more matches than that, as the reference lists them.
    let plain = Query {
        search: None,
        composer: None,
        tags: Vec::new(),
        instrument: None,
        status: None,
        ordering: None,
    };
    let queries = [
        Query {
            tags: vec!["EVERYWHERE".to_owned()],
            ..plain.clone()
        },
        Query {
            tags: vec!["everywhere".to_owned()],
            search: Some(" 1".to_owned()),
            ordering: Some("title"),
            ..plain.clone()
        },
        Query {
            search: Some("No".to_owned()),
            ordering: Some("-created_at"),
            ..plain.clone()
        },
        Query {
            instrument: Some("piano".to_owned()),
            tags: vec!["everywhere".to_owned()],
            ..plain
        },
    ];
    for query in &queries {
        for from in [0, 500, 999] {
            check(&app, library, query, 100, &|_| from)
                .await
                .unwrap_or_else(|error| panic!("{query:?} from {from}: {error}"));
        }
    }
    // A rebuild swaps every row out and in again: the search tables and indexes follow.
    projections::rebuild(&projections::Scores, &app.database.database, |_| {})
        .await
        .unwrap();
    let narrow = Query {
        search: Some("nocturne".to_owned()),
        tags: vec!["everywhere".to_owned(), "jazz".to_owned()],
        ..queries[0].clone()
    };
    for query in [&queries[0], &queries[1], &narrow] {
        check(&app, library, query, 100, &|_| 7)
            .await
            .unwrap_or_else(|error| panic!("after a rebuild, {query:?}: {error}"));
    }
    app.stop().await;
}

#[tokio::test]
async fn counts_beyond_the_cap_are_marked_inexact_on_sqlite() {
    counts_are_capped(TestDatabase::sqlite().await).await;
}

#[tokio::test]
async fn counts_beyond_the_cap_are_marked_inexact_on_postgres() {
    if let Some(database) = TestDatabase::postgres().await {
        counts_are_capped(database).await;
    }
}

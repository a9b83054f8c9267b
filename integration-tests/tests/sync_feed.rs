//! The change feed (issue #21): `GET /api/v1/sync`. A client that applies the feed from
//! any token it was given ends equal to `GET` of everything (property, both backends:
//! random creates, edits and deletes of scores and setlists from two devices, pages of
//! random sizes); offline edits come back with `If-Match` and a 412 on a stale version;
//! a long-poll wakes on a change and answers empty at its timeout; another user's token
//! or an edited one is refused and never answers data.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use integration_tests::problem::expect_problem;
use integration_tests::{SignedIn, TestApp, expect_json, spawn_app};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use reqwest::Method;
use serde_json::{Value, json};
use testkit::TestDatabase;

/// A client's copy of its library, built from the feed alone.
#[derive(Debug, Clone, Default, PartialEq)]
struct Replica {
    scores: BTreeMap<String, Value>,
    /// Each score's bookmarks, as the feed carries them with the score.
    bookmarks: BTreeMap<String, Value>,
    setlists: BTreeMap<String, Value>,
    quota: Option<Value>,
    token: Option<String>,
}

impl Replica {
    fn apply(&mut self, change: &Value) {
        let id = change["id"].as_str().unwrap().to_owned();
        let upsert = change["op"] == "upsert";
        match change["kind"].as_str().unwrap() {
            "score" if upsert => {
                assert_eq!(change["score"]["version"], change["version"], "{change}");
                self.bookmarks
                    .insert(id.clone(), change["bookmarks"].clone());
                self.scores.insert(id, change["score"].clone());
            }
            "score" => {
                self.bookmarks.remove(&id);
                self.scores.remove(&id);
            }
            "setlist" if upsert => {
                self.setlists.insert(id, change["setlist"].clone());
            }
            "setlist" => {
                self.setlists.remove(&id);
            }
            "quota" => self.quota = Some(change["quota"].clone()),
            other => panic!("unknown kind {other} in {change}"),
        }
    }

    /// Reads the feed from the replica's token until nothing more is readable.
    async fn sync(&mut self, app: &TestApp, user: &SignedIn, limit: usize) {
        for _ in 0..10_000 {
            let page = feed(app, user, self.token.as_deref(), limit, 0).await;
            let changes = page["changes"].as_array().unwrap();
            assert!(changes.len() <= limit, "{page}");
            for change in changes {
                self.apply(change);
            }
            self.token = Some(page["next"].as_str().unwrap().to_owned());
            if page["has_more"] == false {
                return;
            }
            assert!(!changes.is_empty(), "has_more with no changes: {page}");
        }
        panic!("the feed never ended");
    }

    /// The library as `GET` shows it, derived from the copy: a setlist shows the items
    /// whose score the copy holds, numbered in order.
    fn as_shown(&self) -> Library {
        let setlists = self
            .setlists
            .iter()
            .map(|(id, setlist)| {
                let items: Vec<Value> = setlist["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|item| self.scores.contains_key(item["score_id"].as_str().unwrap()))
                    .map(|item| json!([item["id"], item["score_id"], item["note"]]))
                    .collect();
                let shown = json!({
                    "name": setlist["name"],
                    "description": setlist["description"],
                    "event_date": setlist["event_date"],
                    "version": setlist["version"],
                    "created_at": setlist["created_at"],
                    "updated_at": setlist["updated_at"],
                    "items": items,
                });
                (id.clone(), shown)
            })
            .collect();
        Library {
            scores: self.scores.clone(),
            bookmarks: self.bookmarks.clone(),
            setlists,
            quota: self.quota.clone().unwrap_or(Value::Null),
        }
    }
}

#[derive(Debug, PartialEq)]
struct Library {
    scores: BTreeMap<String, Value>,
    bookmarks: BTreeMap<String, Value>,
    setlists: BTreeMap<String, Value>,
    quota: Value,
}

async fn feed(
    app: &TestApp,
    user: &SignedIn,
    since: Option<&str>,
    limit: usize,
    wait: u64,
) -> Value {
    expect_json(feed_response(app, user, since, limit, wait).await, 200).await
}

async fn feed_response(
    app: &TestApp,
    user: &SignedIn,
    since: Option<&str>,
    limit: usize,
    wait: u64,
) -> reqwest::Response {
    let mut query = vec![("limit", limit.to_string()), ("wait", wait.to_string())];
    if let Some(since) = since {
        query.push(("since", since.to_owned()));
    }
    let path = format!(
        "/api/v1/sync?{}",
        serde_urlencoded::to_string(&query).unwrap()
    );
    app.get_authed(&path, &user.tokens.access).await
}

/// `TestApp::send_as` with `If-Match` as the version the feed gave.
async fn send(
    app: &TestApp,
    user: &SignedIn,
    method: Method,
    path: &str,
    body: Option<Value>,
    if_match: Option<u64>,
) -> reqwest::Response {
    let etag = if_match.map(|version| format!("\"{version}\""));
    app.send_as(user, method, path, body, etag.as_deref()).await
}

async fn get(app: &TestApp, user: &SignedIn, path: &str) -> Value {
    expect_json(app.get_authed(path, &user.tokens.access).await, 200).await
}

/// Every item of a paginated list, following the `next` links.
async fn all_of(app: &TestApp, user: &SignedIn, path: &str) -> Vec<Value> {
    let mut page = get(app, user, path).await;
    let mut all = page["results"].as_array().unwrap().clone();
    while let Some(next) = page["next"].as_str() {
        let response = app
            .send(app.client.get(next).bearer_auth(&user.tokens.access))
            .await;
        page = expect_json(response, 200).await;
        all.extend(page["results"].as_array().unwrap().iter().cloned());
    }
    all
}

/// The caller's whole library as the API's `GET`s show it.
async fn library(app: &TestApp, user: &SignedIn) -> Library {
    let mut scores = BTreeMap::new();
    let mut bookmarks = BTreeMap::new();
    for listed in all_of(app, user, "/api/v1/scores?page_size=100").await {
        let id = listed["id"].as_str().unwrap().to_owned();
        let score = get(app, user, &format!("/api/v1/scores/{id}")).await;
        let listed = get(app, user, &format!("/api/v1/scores/{id}/bookmarks")).await;
        bookmarks.insert(id.clone(), listed["bookmarks"].clone());
        scores.insert(id, score);
    }
    let mut setlists = BTreeMap::new();
    for listed in all_of(app, user, "/api/v1/setlists?page_size=100").await {
        let id = listed["id"].as_str().unwrap().to_owned();
        let setlist = get(app, user, &format!("/api/v1/setlists/{id}")).await;
        let items: Vec<Value> = setlist["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| json!([item["id"], item["score_id"], item["note"]]))
            .collect();
        let shown = json!({
            "name": setlist["name"],
            "description": setlist["description"],
            "event_date": setlist["event_date"],
            "version": setlist["version"],
            "created_at": setlist["created_at"],
            "updated_at": setlist["updated_at"],
            "items": items,
        });
        setlists.insert(id, shown);
    }
    Library {
        scores,
        bookmarks,
        setlists,
        quota: get(app, user, "/api/v1/quota").await,
    }
}

/// One step of a random history.
#[derive(Debug, Clone)]
enum Step {
    AddScore,
    EditScore(Index),
    DeleteScore(Index),
    CreateSetlist,
    RenameSetlist(Index),
    AddItem(Index, Index),
    RemoveItem(Index, Index),
    DeleteSetlist(Index),
    /// A bookmark on a score, then (when the second index says so) edited or removed.
    Bookmark(Index, Index),
    /// A device syncs with pages of this size, and keeps the token it ends with.
    Sync(bool, usize),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => Just(Step::AddScore),
        2 => any::<Index>().prop_map(Step::EditScore),
        1 => any::<Index>().prop_map(Step::DeleteScore),
        2 => Just(Step::CreateSetlist),
        1 => any::<Index>().prop_map(Step::RenameSetlist),
        3 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Step::AddItem(a, b)),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Step::RemoveItem(a, b)),
        1 => any::<Index>().prop_map(Step::DeleteSetlist),
        2 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Step::Bookmark(a, b)),
        3 => (any::<bool>(), 1_usize..=4).prop_map(|(device, limit)| Step::Sync(device, limit)),
    ]
}

/// The ids and versions the history works on, from `GET`s.
async fn live(app: &TestApp, user: &SignedIn) -> (Vec<(String, u64)>, Vec<Value>) {
    let scores = all_of(app, user, "/api/v1/scores?page_size=100")
        .await
        .iter()
        .map(|score| {
            (
                score["id"].as_str().unwrap().to_owned(),
                score["version"].as_u64().unwrap(),
            )
        })
        .collect();
    let mut setlists = Vec::new();
    for listed in all_of(app, user, "/api/v1/setlists?page_size=100").await {
        let id = listed["id"].as_str().unwrap();
        setlists.push(get(app, user, &format!("/api/v1/setlists/{id}")).await);
    }
    (scores, setlists)
}

/// Runs `steps` for a new user on two devices, keeping every replica a sync produced;
/// then checks that each of them, synced to the end, equals the library `GET` shows.
async fn check_history(app: &TestApp, steps: Vec<Step>) -> Result<(), TestCaseError> {
    let user = app.signed_in_user().await;
    let mut devices = [Replica::default(), Replica::default()];
    let mut kept: Vec<Replica> = vec![Replica::default()];
    for (number, step) in steps.into_iter().enumerate() {
        let (scores, setlists) = live(app, &user).await;
        let setlist_id = |index: &Index| {
            (!setlists.is_empty()).then(|| {
                let setlist = &setlists[index.index(setlists.len())];
                (
                    setlist["id"].as_str().unwrap().to_owned(),
                    setlist["version"].as_u64().unwrap(),
                    setlist["items"].as_array().unwrap().clone(),
                )
            })
        };
        let score =
            |index: &Index| (!scores.is_empty()).then(|| scores[index.index(scores.len())].clone());
        match step {
            Step::AddScore => {
                app.add_score(&user, json!({"title": format!("Score {number}")}))
                    .await;
            }
            Step::EditScore(index) => {
                if let Some((id, version)) = score(&index) {
                    let edited = send(
                        app,
                        &user,
                        Method::PATCH,
                        &format!("/api/v1/scores/{id}"),
                        Some(json!({"title": format!("Edited {number}"), "tags": ["sync"]})),
                        Some(version),
                    )
                    .await;
                    prop_assert_eq!(edited.status(), 200);
                }
            }
            Step::DeleteScore(index) => {
                if let Some((id, _)) = score(&index) {
                    let deleted = send(
                        app,
                        &user,
                        Method::DELETE,
                        &format!("/api/v1/scores/{id}"),
                        None,
                        None,
                    )
                    .await;
                    prop_assert_eq!(deleted.status(), 204);
                }
            }
            Step::CreateSetlist => {
                let created = send(
                    app,
                    &user,
                    Method::POST,
                    "/api/v1/setlists",
                    Some(json!({"name": format!("Gig {number}")})),
                    None,
                )
                .await;
                prop_assert_eq!(created.status(), 201);
            }
            Step::RenameSetlist(index) => {
                if let Some((id, version, _)) = setlist_id(&index) {
                    let renamed = send(
                        app,
                        &user,
                        Method::PATCH,
                        &format!("/api/v1/setlists/{id}"),
                        Some(json!({"name": format!("Renamed {number}")})),
                        Some(version),
                    )
                    .await;
                    prop_assert_eq!(renamed.status(), 200);
                }
            }
            Step::AddItem(list, item) => {
                if let (Some((id, _, _)), Some((score_id, _))) = (setlist_id(&list), score(&item)) {
                    let added = send(
                        app,
                        &user,
                        Method::POST,
                        &format!("/api/v1/setlists/{id}/items"),
                        Some(json!({"score_id": score_id, "note": format!("n{number}")})),
                        None,
                    )
                    .await;
                    prop_assert_eq!(added.status(), 201);
                }
            }
            Step::RemoveItem(list, item) => {
                if let Some((id, _, items)) = setlist_id(&list)
                    && !items.is_empty()
                {
                    let item_id = items[item.index(items.len())]["id"]
                        .as_str()
                        .unwrap()
                        .to_owned();
                    let removed = send(
                        app,
                        &user,
                        Method::DELETE,
                        &format!("/api/v1/setlists/{id}/items/{item_id}"),
                        None,
                        None,
                    )
                    .await;
                    prop_assert_eq!(removed.status(), 204);
                }
            }
            Step::DeleteSetlist(index) => {
                if let Some((id, _, _)) = setlist_id(&index) {
                    let deleted = send(
                        app,
                        &user,
                        Method::DELETE,
                        &format!("/api/v1/setlists/{id}"),
                        None,
                        None,
                    )
                    .await;
                    prop_assert_eq!(deleted.status(), 204);
                }
            }
            Step::Bookmark(index, then) => {
                if let Some((id, version)) = score(&index) {
                    let path = format!("/api/v1/scores/{id}/bookmarks");
                    let added = send(
                        app,
                        &user,
                        Method::POST,
                        &path,
                        Some(json!({"title": format!("Piece {number}"), "start_page": 1})),
                        Some(version),
                    )
                    .await;
                    prop_assert_eq!(added.status(), 201);
                    // Past the bounded wait the answer says so, and the read model
                    // shows the change a moment later (the contract; seen under load).
                    let lagging = added.headers().contains_key("x-read-models");
                    let added: Value = added.json().await.unwrap();
                    let bookmark = format!("{path}/{}", added["id"].as_str().unwrap());
                    let (method, body, status) = match then.index(3) {
                        0 => (Method::PATCH, Some(json!({"composer": "trad."})), 200),
                        1 => (Method::DELETE, None, 204),
                        _ => (Method::GET, None, 200),
                    };
                    let mut answered =
                        send(app, &user, method.clone(), &bookmark, body.clone(), None).await;
                    for _ in 0..100 {
                        if !(lagging && method == Method::GET && answered.status() == 404) {
                            break;
                        }
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        answered =
                            send(app, &user, method.clone(), &bookmark, body.clone(), None).await;
                    }
                    prop_assert_eq!(answered.status(), status);
                }
            }
            Step::Sync(device, limit) => {
                let replica = &mut devices[usize::from(device)];
                replica.sync(app, &user, limit).await;
                kept.push(replica.clone());
            }
        }
    }
    // The deletion processor removes a deleted score's items; the quota saga settles.
    app.run_processors_until_idle().await;
    let expected = library(app, &user).await;
    for (index, mut replica) in kept.into_iter().enumerate() {
        replica.sync(app, &user, 3).await;
        prop_assert_eq!(&replica.as_shown(), &expected, "replica {}", index);
    }
    Ok(())
}

fn check_feed_property(runtime: &tokio::runtime::Runtime, database: TestDatabase) {
    let app = runtime.block_on(spawn_app(database));
    let mut runner = TestRunner::new(Config {
        cases: 12,
        failure_persistence: None,
        ..Config::default()
    });
    let outcome = runner.run(&prop::collection::vec(step(), 5..30), |steps| {
        runtime.block_on(check_history(&app, steps))
    });
    runtime.block_on(app.stop());
    if let Err(error) = outcome {
        panic!("{error}");
    }
}

#[test]
fn a_replica_fed_from_any_token_equals_the_library_on_sqlite() {
    let runtime = integration_tests::test_runtime();
    let database = runtime.block_on(TestDatabase::sqlite());
    check_feed_property(&runtime, database);
}

#[test]
fn a_replica_fed_from_any_token_equals_the_library_on_postgres() {
    let runtime = integration_tests::test_runtime();
    let Some(database) = runtime.block_on(TestDatabase::postgres()) else {
        return;
    };
    check_feed_property(&runtime, database);
}

/// The recipe of docs/sync.md: an edit made offline goes back with `If-Match` = the
/// version the feed gave; when the server's copy moved on meanwhile (another device),
/// 412, and the client fetches the feed, merges and sends again.
async fn offline_edits_come_back_or_meet_a_412(app: TestApp) {
    let user = app.signed_in_user().await;
    let score = app.add_score(&user, json!({"title": "Offline"})).await;
    let id = score["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/scores/{id}");
    let mut tablet = Replica::default();
    tablet.sync(&app, &user, 100).await;
    let seen = tablet.scores[&id]["version"].as_u64().unwrap();

    // The phone edits while the tablet is offline.
    let phone = send(
        &app,
        &user,
        Method::PATCH,
        &path,
        Some(json!({"rating": 4})),
        Some(seen),
    )
    .await;
    assert_eq!(phone.status(), 200);

    // The tablet comes back with its edit against the version it saw: refused.
    let stale = send(
        &app,
        &user,
        Method::PATCH,
        &path,
        Some(json!({"title": "Mine"})),
        Some(seen),
    )
    .await;
    expect_problem(stale, 412, "E011").await;

    // It syncs, sees the phone's edit, merges and sends again with the new version.
    tablet.sync(&app, &user, 100).await;
    let merged = &tablet.scores[&id];
    assert_eq!(merged["rating"], 4, "{merged}");
    let version = merged["version"].as_u64().unwrap();
    let retried = send(
        &app,
        &user,
        Method::PATCH,
        &path,
        Some(json!({"title": "Mine"})),
        Some(version),
    )
    .await;
    let retried = expect_json(retried, 200).await;
    assert_eq!(
        (&retried["title"], &retried["rating"]),
        (&json!("Mine"), &json!(4))
    );

    // The next sync brings exactly that state back.
    tablet.sync(&app, &user, 100).await;
    assert_eq!(tablet.scores[&id], get(&app, &user, &path).await);
    app.stop().await;
}

#[tokio::test]
async fn offline_edits_on_sqlite() {
    offline_edits_come_back_or_meet_a_412(spawn_app(TestDatabase::sqlite().await).await).await;
}

#[tokio::test]
async fn offline_edits_on_postgres() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    offline_edits_come_back_or_meet_a_412(spawn_app(database).await).await;
}

/// A long-poll answers within a second of a change (here: another device creates a
/// setlist), and empty, with a token, when its wait runs out. Another user's changes do
/// not wake it.
async fn long_polls_wake_on_a_change_and_end_empty(app: TestApp) {
    let user = app.signed_in_user().await;
    let stranger = app.signed_in_user().await;
    let mut replica = Replica::default();
    replica.sync(&app, &user, 100).await;
    let token = replica.token.clone().unwrap();

    // Nothing happens: empty after the wait, with a token as good as the one given.
    let started = Instant::now();
    let idle = feed(&app, &user, Some(&token), 100, 1).await;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(950),
        "answered after {waited:?}"
    );
    assert_eq!(idle["changes"], json!([]), "{idle}");
    assert_eq!(idle["has_more"], false);

    // A change of the caller's during the wait answers it at once.
    let waiter = {
        let app_url = app.url("/api/v1/sync");
        let client = app.client.clone();
        let access = user.tokens.access.clone();
        let since = idle["next"].as_str().unwrap().to_owned();
        tokio::spawn(async move {
            let started = Instant::now();
            let response = client
                .get(app_url)
                .query(&[("since", since.as_str()), ("wait", "20")])
                .bearer_auth(access)
                .send()
                .await
                .unwrap();
            let body: Value = response.json().await.unwrap();
            (started.elapsed(), body)
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The open long-poll is counted (other tests of this process may have theirs open).
    let metrics = app.metrics_text().await;
    let parked: f64 = metrics
        .lines()
        .find_map(|line| line.strip_prefix("scoremate_sync_long_polls "))
        .unwrap_or_else(|| panic!("no long-poll gauge in {metrics}"))
        .parse()
        .unwrap();
    assert!(parked >= 1.0, "{parked} long-polls counted");
    // Someone else's change is not the waiter's business.
    let other = send(
        &app,
        &stranger,
        Method::POST,
        "/api/v1/setlists",
        Some(json!({"name": "Theirs"})),
        None,
    )
    .await;
    assert_eq!(other.status(), 201);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiter.is_finished(), "woken by another user's change");
    let changed_at = Instant::now();
    let created = send(
        &app,
        &user,
        Method::POST,
        "/api/v1/setlists",
        Some(json!({"name": "Mine"})),
        None,
    )
    .await;
    let created = expect_json(created, 201).await;
    let (waited, body) = waiter.await.unwrap();
    let woke_after = changed_at.elapsed();
    assert!(
        woke_after < Duration::from_secs(1),
        "woke {woke_after:?} after the change"
    );
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    let changes = body["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{body}");
    assert_eq!(changes[0]["kind"], "setlist");
    assert_eq!(changes[0]["id"], created["id"]);
    assert_eq!(changes[0]["setlist"]["name"], "Mine");
    app.stop().await;
}

#[tokio::test]
async fn long_polls_on_sqlite() {
    long_polls_wake_on_a_change_and_end_empty(spawn_app(TestDatabase::sqlite().await).await).await;
}

#[tokio::test]
async fn long_polls_on_postgres() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    long_polls_wake_on_a_change_and_end_empty(spawn_app(database).await).await;
}

/// A token of another user, an edited one, garbage, and bad `limit`/`wait`: 400 E007
/// naming the parameter, and never a change.
async fn foreign_and_malformed_tokens_are_refused(app: TestApp) {
    let owner = app.signed_in_user().await;
    let thief = app.signed_in_user().await;
    app.add_score(&owner, json!({"title": "Private"})).await;
    app.run_processors_until_idle().await;
    let first = feed(&app, &owner, None, 1, 0).await;
    assert_eq!(first["has_more"], true, "{first}");
    let token = first["next"].as_str().unwrap().to_owned();

    let refused = feed_response(&app, &thief, Some(&token), 100, 0).await;
    let problem = expect_problem(refused, 400, "E007").await;
    assert!(
        problem.body["fields"]["since"].is_array(),
        "{:?}",
        problem.body
    );
    assert!(problem.body.get("changes").is_none());

    let mut edited = token.clone().into_bytes();
    let last = edited.len() - 1;
    edited[last] = if edited[last] == b'A' { b'B' } else { b'A' };
    let edited = String::from_utf8(edited).unwrap();
    for since in [edited.as_str(), "", "garbage", "%00", &"x".repeat(5000)] {
        let refused = feed_response(&app, &owner, Some(since), 100, 0).await;
        expect_problem(refused, 400, "E007").await;
    }
    for (limit, wait) in [
        ("0", "0"),
        ("1001", "0"),
        ("x", "0"),
        ("1", "31"),
        ("1", "-1"),
    ] {
        let path = format!("/api/v1/sync?limit={limit}&wait={wait}");
        let refused = app.get_authed(&path, &owner.tokens.access).await;
        let problem = expect_problem(refused, 400, "E007").await;
        assert!(problem.body["fields"].is_object(), "{:?}", problem.body);
    }
    // Without a token, the thief sees its own (empty) library only.
    let own = feed(&app, &thief, None, 100, 0).await;
    let kinds: Vec<&Value> = own["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|change| &change["kind"])
        .collect();
    assert!(kinds.iter().all(|kind| *kind == "quota"), "{own}");
    app.stop().await;
}

#[tokio::test]
async fn tokens_on_sqlite() {
    foreign_and_malformed_tokens_are_refused(spawn_app(TestDatabase::sqlite().await).await).await;
}

#[tokio::test]
async fn tokens_on_postgres() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    foreign_and_malformed_tokens_are_refused(spawn_app(database).await).await;
}

/// A setlist whose event's transaction began before another one's and commits after it:
/// the feed never passes it. While it is open, the feed stops before it (the projections'
/// checkpoints cannot pass the log's horizon); once it commits, a client syncing from
/// the token it got meanwhile receives it.
#[tokio::test]
async fn a_late_committing_change_is_never_skipped() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    let app = spawn_app(database).await;
    let user = app.signed_in_user().await;
    let created = send(
        &app,
        &user,
        Method::POST,
        "/api/v1/setlists",
        Some(json!({"name": "First"})),
        None,
    )
    .await;
    assert_eq!(created.status(), 201);
    app.run_processors_until_idle().await;
    let mut replica = Replica::default();
    replica.sync(&app, &user, 100).await;

    let pool = match &app.database.database {
        eventstore::Database::Postgres(pool) => pool.clone(),
        eventstore::Database::Sqlite(_) => unreachable!("a PostgreSQL test"),
    };
    let event_version: String = sqlx::query_scalar(
        "SELECT event_version FROM events WHERE event_type = 'SetlistCreated' LIMIT 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let late_id = uuid::Uuid::new_v4();
    let payload = serde_json::to_value(aggregates::SetlistEvent::SetlistCreated {
        setlist_id: late_id.to_string().parse().unwrap(),
        owner: user.id.parse().unwrap(),
        name: "Late".to_owned(),
        description: None,
        event_date: None,
        notes: None,
    })
    .unwrap();
    let mut late = pool.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
         VALUES ('Setlist', $1, 1, 'SetlistCreated', $2, $3, '{}')",
    )
    .bind(late_id.to_string())
    .bind(&event_version)
    .bind(&payload)
    .execute(&mut *late)
    .await
    .unwrap();

    // A later transaction commits first (its answer says the read models lag: the
    // horizon holds them before the open transaction).
    let early = send(
        &app,
        &user,
        Method::POST,
        "/api/v1/setlists",
        Some(json!({"name": "Early"})),
        None,
    )
    .await;
    let early = expect_json(early, 201).await;
    let mut meanwhile = replica.clone();
    meanwhile.sync(&app, &user, 100).await;
    assert!(!meanwhile.setlists.contains_key(&late_id.to_string()));
    assert!(
        !meanwhile
            .setlists
            .contains_key(early["id"].as_str().unwrap()),
        "the feed passed a transaction still open"
    );

    late.commit().await.unwrap();
    app.run_processors_until_idle().await;
    for mut synced in [replica, meanwhile] {
        synced.sync(&app, &user, 1).await;
        assert!(
            synced.setlists.contains_key(&late_id.to_string()),
            "{synced:?}"
        );
        assert!(synced.setlists.contains_key(early["id"].as_str().unwrap()));
        assert_eq!(synced.as_shown(), library(&app, &user).await);
    }
    app.stop().await;
}

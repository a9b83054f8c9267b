//! Setlists over HTTP (DESIGN.md §5 "Setlists", §6): creating, editing and deleting them,
//! their items (insert, encores, removal, reorder), the paginated list with search and
//! ordering, other users' setlists staying invisible, and a deleted score leaving every
//! setlist at once with the removal recorded in each setlist's history. Every behaviour
//! runs on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeSet, HashSet};

use eventstore::{Actor, EventLog, RecordedEvent};
use integration_tests::app::{SignedIn, expect_json};
use integration_tests::problem::expect_problem;
use integration_tests::{TestApp, spawn_app};
use reqwest::Method;
use serde_json::{Value, json};
use testkit::{TestDatabase, read_whole_log};

const SETLISTS: &str = "/api/v1/setlists";

fn setlist_path(id: &str) -> String {
    format!("{SETLISTS}/{id}")
}

fn items_path(id: &str) -> String {
    format!("{SETLISTS}/{id}/items")
}

fn item_path(id: &str, item_id: &str) -> String {
    format!("{SETLISTS}/{id}/items/{item_id}")
}

fn order_path(id: &str) -> String {
    format!("{SETLISTS}/{id}/items/order")
}

fn etag(version: u64) -> String {
    format!("\"{version}\"")
}

fn field_set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|name| (*name).to_owned()).collect()
}

fn id_of(value: &Value) -> String {
    value["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {value}"))
        .to_owned()
}

fn results(page: &Value) -> &Vec<Value> {
    page["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results in {page}"))
}

fn names(page: &Value) -> Vec<String> {
    results(page)
        .iter()
        .map(|setlist| setlist["name"].as_str().unwrap().to_owned())
        .collect()
}

fn ids(page: &Value) -> Vec<String> {
    results(page).iter().map(id_of).collect()
}

fn items(setlist: &Value) -> &Vec<Value> {
    setlist["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {setlist}"))
}

/// The score ids of the items, in order; checks that positions are 0, 1, 2, … and that
/// `item_count` agrees.
fn item_scores(setlist: &Value) -> Vec<String> {
    let items = items(setlist);
    for (index, item) in items.iter().enumerate() {
        assert_eq!(
            item["position"].as_u64(),
            Some(index as u64),
            "positions are dense and 0-based: {setlist}"
        );
        assert_eq!(item["score"]["id"], item["score_id"], "{item}");
    }
    assert_eq!(
        setlist["item_count"].as_u64(),
        Some(items.len() as u64),
        "{setlist}"
    );
    items
        .iter()
        .map(|item| item["score_id"].as_str().unwrap().to_owned())
        .collect()
}

fn owned(ids: &[&String]) -> Vec<String> {
    ids.iter().map(|id| (*id).clone()).collect()
}

fn instant(value: &Value) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(value.as_str().unwrap_or_default())
        .unwrap_or_else(|error| panic!("{value} is not RFC 3339: {error}"))
}

fn item_ids(setlist: &Value) -> Vec<String> {
    items(setlist).iter().map(id_of).collect()
}

async fn score_id(app: &TestApp, user: &SignedIn, title: &str) -> String {
    id_of(&app.add_score(user, json!({"title": title})).await)
}

/// One user's view of the API.
struct Api<'a> {
    app: &'a TestApp,
    token: &'a str,
}

impl<'a> Api<'a> {
    fn of(app: &'a TestApp, user: &'a SignedIn) -> Self {
        Self {
            app,
            token: &user.tokens.access,
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        if_match: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self.app.request(method, path).bearer_auth(self.token);
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(version) = if_match {
            request = request.header("if-match", version);
        }
        self.app.send(request).await
    }

    /// A body that is not JSON at all, declared as JSON.
    async fn send_malformed(&self, method: Method, path: &str) -> reqwest::Response {
        self.app
            .send(
                self.app
                    .request(method, path)
                    .bearer_auth(self.token)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body("{\"name\": "),
            )
            .await
    }

    async fn create(&self, body: &Value) -> Value {
        expect_json(
            self.send(Method::POST, SETLISTS, Some(body), None).await,
            201,
        )
        .await
    }

    async fn setlist(&self, id: &str) -> Value {
        expect_json(
            self.send(Method::GET, &setlist_path(id), None, None).await,
            200,
        )
        .await
    }

    async fn list(&self, query: &str) -> Value {
        expect_json(
            self.send(Method::GET, &format!("{SETLISTS}{query}"), None, None)
                .await,
            200,
        )
        .await
    }

    /// `GET` of an absolute link the API answered.
    async fn follow(&self, url: &str) -> Value {
        let response = self
            .app
            .send(self.app.client.get(url).bearer_auth(self.token))
            .await;
        expect_json(response, 200).await
    }

    async fn add(&self, setlist: &str, body: &Value) -> Value {
        expect_json(
            self.send(Method::POST, &items_path(setlist), Some(body), None)
                .await,
            201,
        )
        .await
    }

    async fn add_score(&self, setlist: &str, score: &str) -> String {
        id_of(&self.add(setlist, &json!({"score_id": score})).await)
    }
}

/// The events of one setlist, in order, read from the event store.
async fn setlist_history(app: &TestApp, setlist_id: &str) -> Vec<RecordedEvent> {
    let log = EventLog::new(app.database.database.clone());
    read_whole_log(&log, 1_000)
        .await
        .into_iter()
        .filter(|event| event.aggregate_type == "Setlist" && event.aggregate_id == setlist_id)
        .collect()
}

/// The event's own fields (payloads may be wrapped in their event name).
fn event_body(event: &RecordedEvent) -> Value {
    let payload: Value = serde_json::from_str(event.payload.get()).expect("stored JSON");
    match payload.get(&event.event_type) {
        Some(body) => body.clone(),
        None => payload,
    }
}

/// `(item_id, reason)` of every `SetlistItemRemoved` in `history`.
fn removals(history: &[RecordedEvent]) -> Vec<(String, String)> {
    history
        .iter()
        .filter(|event| event.event_type == "SetlistItemRemoved")
        .map(|event| {
            let body = event_body(event);
            (
                body["item_id"].as_str().unwrap_or_default().to_owned(),
                body["reason"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------

async fn a_new_setlist_is_created_empty_and_reads_back_the_same(database: TestDatabase) {
    let app = spawn_app(database).await;
    let user = app.signed_in_user().await;
    let api = Api::of(&app, &user);

    let response = api
        .send(
            Method::POST,
            SETLISTS,
            Some(&json!({"name": "Winterkonzert – Nikolaikirche 🎻", "description": "Hall B, 19:30", "event_date": "2026-12-24"})),
            None,
        )
        .await;
    assert_eq!(response.headers()["etag"], etag(1).as_str());
    assert!(
        response.headers().get("x-read-models").is_none(),
        "caught up before answering"
    );
    let created = expect_json(response, 201).await;
    let id = id_of(&created);
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{created}");
    assert_eq!(created["name"], "Winterkonzert – Nikolaikirche 🎻");
    assert_eq!(created["description"], "Hall B, 19:30");
    assert_eq!(created["event_date"], "2026-12-24");
    assert_eq!(created["item_count"], 0);
    assert_eq!(created["items"], json!([]));
    assert_eq!(created["version"], 1);
    assert!(created["created_at"].is_string(), "{created}");
    assert_eq!(created["created_at"], created["updated_at"]);

    let response = api.send(Method::GET, &setlist_path(&id), None, None).await;
    assert_eq!(response.headers()["etag"], etag(1).as_str());
    assert_eq!(
        expect_json(response, 200).await,
        created,
        "a read answers what the creation answered"
    );

    let minimal = api.create(&json!({"name": "Rehearsal"})).await;
    assert_eq!(
        (&minimal["description"], &minimal["event_date"]),
        (&Value::Null, &Value::Null)
    );

    let page = api.list("").await;
    assert_eq!(page["count"], 2);
    assert!(
        page["next"].is_null() && page["previous"].is_null(),
        "{page}"
    );
    assert_eq!(
        ids(&page),
        [id_of(&minimal), id.clone()],
        "newest change first"
    );
    let summary = &results(&page)[1];
    assert!(
        summary.get("items").is_none() && summary.get("notes").is_none(),
        "summaries come without items and notes: {summary}"
    );
    let mut expected = created.clone();
    expected.as_object_mut().unwrap().remove("items");
    expected.as_object_mut().unwrap().remove("notes");
    assert_eq!(summary, &expected);

    let unknown = uuid::Uuid::new_v4().to_string();
    for path in [setlist_path(&unknown), setlist_path("not-a-uuid")] {
        expect_problem(api.send(Method::GET, &path, None, None).await, 404, "E003").await;
    }
    expect_problem(
        app.post_json(SETLISTS, &json!({"name": "Anonymous"})).await,
        401,
        "E002",
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn a_new_setlist_is_created_empty_and_reads_back_the_same_on_sqlite() {
    a_new_setlist_is_created_empty_and_reads_back_the_same(TestDatabase::sqlite().await).await;
}

#[tokio::test]
async fn a_new_setlist_is_created_empty_and_reads_back_the_same_on_postgres() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    a_new_setlist_is_created_empty_and_reads_back_the_same(database).await;
}

// ---------------------------------------------------------------------------------------

async fn details_change_by_patch_null_clears_and_if_match_guards_every_change(
    database: TestDatabase,
) {
    let app = spawn_app(database).await;
    let user = app.signed_in_user().await;
    let api = Api::of(&app, &user);
    let created = api
        .create(
            &json!({"name": "Spring Gala", "description": "Main hall", "event_date": "2026-04-01"}),
        )
        .await;
    let id = id_of(&created);
    let path = setlist_path(&id);

    let response = api
        .send(
            Method::PATCH,
            &path,
            Some(&json!({"name": "Spring Gala 2026"})),
            Some(&etag(1)),
        )
        .await;
    assert_eq!(response.headers()["etag"], etag(2).as_str());
    let patched = expect_json(response, 200).await;
    assert_eq!(patched["name"], "Spring Gala 2026");
    assert_eq!(
        (&patched["description"], &patched["event_date"]),
        (&json!("Main hall"), &json!("2026-04-01")),
        "absent fields stay"
    );
    assert_eq!(patched["version"], 2);
    assert_eq!(patched["created_at"], created["created_at"]);
    assert!(
        instant(&patched["updated_at"]) > instant(&created["updated_at"]),
        "an edit moves updated_at"
    );
    assert_eq!(api.setlist(&id).await, patched, "read-your-writes");

    let cleared = expect_json(
        api.send(
            Method::PATCH,
            &path,
            Some(&json!({"description": null, "event_date": null})),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        (
            &cleared["name"],
            &cleared["description"],
            &cleared["event_date"],
            &cleared["version"]
        ),
        (
            &json!("Spring Gala 2026"),
            &Value::Null,
            &Value::Null,
            &json!(3)
        )
    );

    let stale = expect_problem(
        api.send(
            Method::PATCH,
            &path,
            Some(&json!({"event_date": "2026-05-02"})),
            Some(&etag(2)),
        )
        .await,
        412,
        "E011",
    )
    .await;
    assert!(stale.has_no_fields(), "{:?}", stale.body);
    let read = api.setlist(&id).await;
    assert_eq!(
        (&read["event_date"], &read["version"]),
        (&Value::Null, &json!(3)),
        "a refused change changes nothing"
    );
    let dated = expect_json(
        api.send(
            Method::PATCH,
            &path,
            Some(&json!({"event_date": "2026-05-02"})),
            Some(&etag(3)),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        (&dated["event_date"], &dated["version"]),
        (&json!("2026-05-02"), &json!(4))
    );

    expect_problem(
        api.send(Method::DELETE, &path, None, Some(&etag(3))).await,
        412,
        "E011",
    )
    .await;
    assert_eq!(api.setlist(&id).await["version"], 4, "still there");
    let deleted = api.send(Method::DELETE, &path, None, Some(&etag(4))).await;
    assert_eq!(deleted.status(), 204);
    expect_problem(api.send(Method::GET, &path, None, None).await, 404, "E003").await;
    expect_problem(
        api.send(Method::PATCH, &path, Some(&json!({"name": "Back"})), None)
            .await,
        404,
        "E003",
    )
    .await;
    expect_problem(
        api.send(Method::DELETE, &path, None, None).await,
        404,
        "E003",
    )
    .await;
    let page = api.list("").await;
    assert_eq!(page["count"], 0, "{page}");
    app.stop().await;
}

#[tokio::test]
async fn details_change_by_patch_null_clears_and_if_match_guards_every_change_on_sqlite() {
    details_change_by_patch_null_clears_and_if_match_guards_every_change(
        TestDatabase::sqlite().await,
    )
    .await;
}

#[tokio::test]
async fn details_change_by_patch_null_clears_and_if_match_guards_every_change_on_postgres() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    details_change_by_patch_null_clears_and_if_match_guards_every_change(database).await;
}

// ---------------------------------------------------------------------------------------

async fn invalid_details_are_refused_naming_the_bad_fields(database: TestDatabase) {
    let app = spawn_app(database).await;
    let user = app.signed_in_user().await;
    let api = Api::of(&app, &user);
    let too_long_description = "d".repeat(2_001);

    for (body, bad) in [
        (json!({}), &["name"][..]),
        (json!({"name": "   "}), &["name"]),
        (json!({"name": "x".repeat(201)}), &["name"]),
        (
            json!({"name": "Ok", "description": too_long_description}),
            &["description"],
        ),
        (
            json!({"name": "Ok", "event_date": "2026-02-30"}),
            &["event_date"],
        ),
        (
            json!({"name": "Ok", "event_date": "24.12.2026"}),
            &["event_date"],
        ),
        (
            json!({"name": 5, "description": ["x"], "event_date": 20_261_224}),
            &["name", "description", "event_date"],
        ),
    ] {
        let problem = expect_problem(
            api.send(Method::POST, SETLISTS, Some(&body), None).await,
            400,
            "E007",
        )
        .await;
        assert_eq!(problem.field_names(), field_set(bad), "POST {body}");
    }
    let malformed = expect_problem(
        api.send_malformed(Method::POST, SETLISTS).await,
        400,
        "E007",
    )
    .await;
    assert!(
        malformed.has_no_fields(),
        "malformed JSON has no fields: {:?}",
        malformed.body
    );
    assert_eq!(api.list("").await["count"], 0, "nothing was created");

    // Characters are counted, not bytes.
    let longest = api
        .create(&json!({"name": "é".repeat(200), "description": "ü".repeat(2_000)}))
        .await;
    let id = id_of(&longest);
    let path = setlist_path(&id);

    for (body, bad) in [
        (json!({"name": ""}), &["name"][..]),
        (json!({"name": null}), &["name"]),
        (json!({"name": "x".repeat(201)}), &["name"]),
        (
            json!({"description": too_long_description}),
            &["description"],
        ),
        (json!({"event_date": "2026-13-01"}), &["event_date"]),
        (json!({"event_date": 1}), &["event_date"]),
    ] {
        let problem = expect_problem(
            api.send(Method::PATCH, &path, Some(&body), None).await,
            400,
            "E007",
        )
        .await;
        assert_eq!(problem.field_names(), field_set(bad), "PATCH {body}");
    }
    assert!(
        expect_problem(api.send_malformed(Method::PATCH, &path).await, 400, "E007")
            .await
            .has_no_fields()
    );
    let read = api.setlist(&id).await;
    assert_eq!(read["version"], 1, "no refused change was applied: {read}");
    assert_eq!(read["name"], "é".repeat(200));

    // All bad fields at once, also when some are caught by the route and some by the rules
    // of a setlist.
    let all_bad =
        json!({"name": " ", "description": too_long_description, "event_date": "2026-02-30"});
    let created = expect_problem(
        api.send(Method::POST, SETLISTS, Some(&all_bad), None).await,
        400,
        "E007",
    )
    .await
    .field_names();
    let patched = expect_problem(
        api.send(Method::PATCH, &path, Some(&all_bad), None).await,
        400,
        "E007",
    )
    .await
    .field_names();
    let every = field_set(&["name", "description", "event_date"]);
    assert_eq!(
        (created, patched),
        (every.clone(), every),
        "POST and PATCH name every bad field at once"
    );
    app.stop().await;
}

#[tokio::test]
async fn invalid_details_are_refused_naming_the_bad_fields_on_sqlite() {
    invalid_details_are_refused_naming_the_bad_fields(TestDatabase::sqlite().await).await;
}

#[tokio::test]
async fn invalid_details_are_refused_naming_the_bad_fields_on_postgres() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    invalid_details_are_refused_naming_the_bad_fields(database).await;
}

// ---------------------------------------------------------------------------------------

async fn items_append_insert_at_a_position_and_may_repeat_a_score(database: TestDatabase) {
    let app = spawn_app(database).await;
    let user = app.signed_in_user().await;
    let api = Api::of(&app, &user);
    let satie = id_of(
        &app.add_score(
            &user,
            json!({"title": "Gymnopédie No. 1", "composer": "Erik Satie"}),
        )
        .await,
    );
    let arirang = id_of(
        &app.add_score(&user, json!({"title": "아리랑", "composer": "전통"}))
            .await,
    );
    let clair = score_id(&app, &user, "Clair de lune").await;
    let setlist = id_of(&api.create(&json!({"name": "Recital"})).await);
    let items = items_path(&setlist);

    let response = api
        .send(
            Method::POST,
            &items,
            Some(&json!({"score_id": satie})),
            Some(&etag(1)),
        )
        .await;
    assert_eq!(response.headers()["etag"], etag(2).as_str());
    let first = expect_json(response, 201).await;
    assert!(uuid::Uuid::parse_str(&id_of(&first)).is_ok(), "{first}");
    assert_eq!(
        (&first["position"], &first["score_id"], &first["note"]),
        (&json!(0), &json!(satie), &Value::Null)
    );
    assert_eq!(first["score"]["id"], satie);
    assert_eq!(first["score"]["title"], "Gymnopédie No. 1");
    assert_eq!(first["score"]["composer"], "Erik Satie");
    assert_eq!(
        first["score"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<BTreeSet<_>>(),
        field_set(&["id", "title", "composer", "page_count", "thumbnail"])
    );

    expect_problem(
        api.send(
            Method::POST,
            &items,
            Some(&json!({"score_id": arirang})),
            Some(&etag(1)),
        )
        .await,
        412,
        "E011",
    )
    .await;
    let second = expect_json(
        api.send(
            Method::POST,
            &items,
            Some(&json!({"score_id": arirang})),
            Some(&etag(2)),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(second["position"], 1);
    assert_eq!(second["score"]["title"], "아리랑");

    let encore = api
        .add(&setlist, &json!({"score_id": satie, "note": "Encore 🎹"}))
        .await;
    assert_eq!(
        (&encore["position"], &encore["note"]),
        (&json!(2), &json!("Encore 🎹")),
        "the same score may come back"
    );
    let opener = api
        .add(&setlist, &json!({"score_id": clair, "position": 0}))
        .await;
    assert_eq!(opener["position"], 0, "inserted at the front");
    assert_eq!(opener["score"]["composer"], Value::Null);
    let closer = api
        .add(&setlist, &json!({"score_id": arirang, "position": 4}))
        .await;
    assert_eq!(
        closer["position"], 4,
        "a position equal to the length appends"
    );

    for (body, field) in [
        (json!({"score_id": satie, "position": 6}), "position"),
        (json!({"score_id": satie, "position": -1}), "position"),
        (json!({"score_id": satie, "position": "first"}), "position"),
        (json!({"score_id": satie, "note": "n".repeat(501)}), "note"),
        (json!({"position": 0}), "score_id"),
        (json!({"score_id": 7}), "score_id"),
    ] {
        let problem = expect_problem(
            api.send(Method::POST, &items, Some(&body), None).await,
            400,
            "E007",
        )
        .await;
        assert_eq!(problem.field_names(), field_set(&[field]), "{body}");
    }
    assert!(
        expect_problem(api.send_malformed(Method::POST, &items).await, 400, "E007")
            .await
            .has_no_fields()
    );

    let response = api
        .send(Method::GET, &setlist_path(&setlist), None, None)
        .await;
    assert_eq!(response.headers()["etag"], etag(6).as_str());
    let read = expect_json(response, 200).await;
    assert_eq!(read["version"], 6, "{read}");
    assert_eq!(
        item_scores(&read),
        owned(&[&clair, &satie, &arirang, &satie, &arirang])
    );
    assert_eq!(
        item_ids(&read),
        [&opener, &first, &second, &encore, &closer].map(id_of)
    );
    let notes: Vec<&Value> = self::items(&read)
        .iter()
        .map(|item| &item["note"])
        .collect();
    assert_eq!(
        notes,
        [
            &Value::Null,
            &Value::Null,
            &Value::Null,
            &json!("Encore 🎹"),
            &Value::Null
        ]
    );
    let page = api.list("").await;
    assert_eq!(results(&page)[0]["item_count"], 5, "{page}");
    app.stop().await;
}

#[tokio::test]
async fn items_append_insert_at_a_position_and_may_repeat_a_score_on_sqlite() {
    items_append_insert_at_a_position_and_may_repeat_a_score(TestDatabase::sqlite().await).await;
}

#[tokio::test]
async fn items_append_insert_at_a_position_and_may_repeat_a_score_on_postgres() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    items_append_insert_at_a_position_and_may_repeat_a_score(database).await;
}

// ---------------------------------------------------------------------------------------

async fn items_are_removed_and_reordered_only_as_a_whole_permutation(database: TestDatabase) {
    let app = spawn_app(database).await;
    let user = app.signed_in_user().await;
    let api = Api::of(&app, &user);
    let a = score_id(&app, &user, "A").await;
    let b = score_id(&app, &user, "B").await;
    let c = score_id(&app, &user, "C").await;
    let setlist = id_of(&api.create(&json!({"name": "Tour"})).await);
    let item_a = api.add_score(&setlist, &a).await;
    let item_b = api.add_score(&setlist, &b).await;
    let item_c = api.add_score(&setlist, &c).await;
    let item_a2 = api.add_score(&setlist, &a).await;

    let removed = api
        .send(Method::DELETE, &item_path(&setlist, &item_b), None, None)
        .await;
    assert_eq!(removed.status(), 204);
    let read = api.setlist(&setlist).await;
    assert_eq!(
        item_scores(&read),
        owned(&[&a, &c, &a]),
        "later items moved up"
    );
    assert_eq!(read["version"], 6);
    for item in [item_b.clone(), uuid::Uuid::new_v4().to_string()] {
        expect_problem(
            api.send(Method::DELETE, &item_path(&setlist, &item), None, None)
                .await,
            404,
            "E003",
        )
        .await;
    }
    expect_problem(
        api.send(
            Method::DELETE,
            &item_path(&setlist, &item_c),
            None,
            Some(&etag(5)),
        )
        .await,
        412,
        "E011",
    )
    .await;

    let order = order_path(&setlist);
    let response = api
        .send(
            Method::PUT,
            &order,
            Some(&json!({"item_ids": [item_a2, item_c, item_a]})),
            Some(&etag(6)),
        )
        .await;
    assert_eq!(response.headers()["etag"], etag(7).as_str());
    let reordered = expect_json(response, 200).await;
    assert_eq!(item_ids(&reordered), owned(&[&item_a2, &item_c, &item_a]));
    assert_eq!(item_scores(&reordered), owned(&[&a, &c, &a]));
    assert_eq!(reordered["name"], "Tour");
    assert_eq!(api.setlist(&setlist).await, reordered, "read-your-writes");

    let unknown = uuid::Uuid::new_v4().to_string();
    for item_ids in [
        json!([item_a2, item_c]),
        json!([item_a2, item_c, item_a, unknown]),
        json!([item_a2, item_c, item_a, item_a]),
        json!([item_a2, item_a2, item_a]),
        json!([item_a2, item_c, item_b]),
        json!([]),
        json!("not a list"),
        json!([1, 2, 3]),
        Value::Null,
    ] {
        let problem = expect_problem(
            api.send(
                Method::PUT,
                &order,
                Some(&json!({"item_ids": item_ids})),
                None,
            )
            .await,
            400,
            "E007",
        )
        .await;
        assert_eq!(
            problem.field_names(),
            field_set(&["item_ids"]),
            "{item_ids}"
        );
    }
    assert!(
        expect_problem(api.send_malformed(Method::PUT, &order).await, 400, "E007")
            .await
            .has_no_fields()
    );
    expect_problem(
        api.send(
            Method::PUT,
            &order,
            Some(&json!({"item_ids": [item_a, item_c, item_a2]})),
            Some(&etag(6)),
        )
        .await,
        412,
        "E011",
    )
    .await;
    assert_eq!(
        api.setlist(&setlist).await,
        reordered,
        "refused reorders change nothing"
    );
    app.stop().await;
}

#[tokio::test]
async fn items_are_removed_and_reordered_only_as_a_whole_permutation_on_sqlite() {
    items_are_removed_and_reordered_only_as_a_whole_permutation(TestDatabase::sqlite().await).await;
}

#[tokio::test]
async fn items_are_removed_and_reordered_only_as_a_whole_permutation_on_postgres() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    items_are_removed_and_reordered_only_as_a_whole_permutation(database).await;
}

// ---------------------------------------------------------------------------------------

async fn only_the_callers_own_live_scores_can_be_added(database: TestDatabase) {
    let app = spawn_app(database).await;
    let alice = app.signed_in_user().await;
    let bob = app.signed_in_user().await;
    let api = Api::of(&app, &alice);
    let own = score_id(&app, &alice, "Mine").await;
    let gone = score_id(&app, &alice, "Deleted").await;
    let deleted = api
        .send(
            Method::DELETE,
            &format!("/api/v1/scores/{gone}"),
            None,
            None,
        )
        .await;
    assert_eq!(deleted.status(), 204);
    let bobs = score_id(&app, &bob, "Bob's").await;
    let setlist = id_of(&api.create(&json!({"name": "Mine only"})).await);

    for score in [bobs, gone, uuid::Uuid::new_v4().to_string()] {
        expect_problem(
            api.send(
                Method::POST,
                &items_path(&setlist),
                Some(&json!({"score_id": score})),
                None,
            )
            .await,
            404,
            "E003",
        )
        .await;
    }
    let problem = expect_problem(
        api.send(
            Method::POST,
            &items_path(&setlist),
            Some(&json!({"score_id": "not-a-uuid"})),
            None,
        )
        .await,
        400,
        "E007",
    )
    .await;
    assert_eq!(problem.field_names(), field_set(&["score_id"]));
    let read = api.setlist(&setlist).await;
    assert_eq!(
        (&read["item_count"], &read["version"]),
        (&json!(0), &json!(1)),
        "nothing was added: {read}"
    );

    api.add_score(&setlist, &own).await;
    assert_eq!(item_scores(&api.setlist(&setlist).await), owned(&[&own]));
    app.stop().await;
}

#[tokio::test]
async fn only_the_callers_own_live_scores_can_be_added_on_sqlite() {
    only_the_callers_own_live_scores_can_be_added(TestDatabase::sqlite().await).await;
}

#[tokio::test]
async fn only_the_callers_own_live_scores_can_be_added_on_postgres() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    only_the_callers_own_live_scores_can_be_added(database).await;
}

// ---------------------------------------------------------------------------------------

async fn a_deleted_score_leaves_every_setlist_at_once_and_each_history_records_why(
    database: TestDatabase,
) {
    let app = spawn_app(database).await;
    let user = app.signed_in_user().await;
    let api = Api::of(&app, &user);
    let doomed = score_id(&app, &user, "Doomed").await;
    let kept = score_id(&app, &user, "Kept").await;
    let concert = id_of(&api.create(&json!({"name": "Concert"})).await);
    let doomed_1 = api.add_score(&concert, &doomed).await;
    let kept_item = api.add_score(&concert, &kept).await;
    let doomed_2 = api.add_score(&concert, &doomed).await;
    let matinee = id_of(&api.create(&json!({"name": "Matinee"})).await);
    let doomed_3 = api.add_score(&matinee, &doomed).await;
    let untouched = id_of(&api.create(&json!({"name": "Untouched"})).await);
    api.add_score(&untouched, &kept).await;

    let deleted = api
        .send(
            Method::DELETE,
            &format!("/api/v1/scores/{doomed}"),
            None,
            None,
        )
        .await;
    assert_eq!(deleted.status(), 204);

    // At once: no read shows the deleted score, before any processor ran.
    let read = api.setlist(&concert).await;
    assert_eq!(item_scores(&read), owned(&[&kept]));
    assert_eq!(item_ids(&read), owned(&[&kept_item]));
    assert_eq!(
        item_scores(&api.setlist(&matinee).await),
        Vec::<String>::new()
    );
    assert_eq!(item_scores(&api.setlist(&untouched).await), owned(&[&kept]));
    let page = api.list("").await;
    let counts: Vec<(String, u64)> = results(&page)
        .iter()
        .map(|setlist| (id_of(setlist), setlist["item_count"].as_u64().unwrap()))
        .collect();
    for (setlist, expected) in [(&concert, 1), (&matinee, 0), (&untouched, 1)] {
        assert!(
            counts.contains(&(setlist.clone(), expected)),
            "item_count of {setlist} must be {expected}: {counts:?}"
        );
    }

    app.run_processors_until_idle().await;

    let concert_history = setlist_history(&app, &concert).await;
    let mut removed = removals(&concert_history);
    removed.sort();
    let mut expected = vec![
        (doomed_1, "score_deleted".to_owned()),
        (doomed_2, "score_deleted".to_owned()),
    ];
    expected.sort();
    assert_eq!(removed, expected, "one removal per item of the score");
    assert_eq!(
        removals(&setlist_history(&app, &matinee).await),
        [(doomed_3, "score_deleted".to_owned())]
    );
    assert_eq!(
        removals(&setlist_history(&app, &untouched).await),
        Vec::<(String, String)>::new(),
        "setlists without the score keep their history"
    );
    for event in concert_history
        .iter()
        .filter(|event| event.event_type == "SetlistItemRemoved")
    {
        let metadata = event.metadata().expect("metadata");
        assert_eq!(metadata.actor, Actor::System, "{:?}", event.metadata);
        assert!(
            metadata.causation_id.is_some(),
            "caused by the deletion: {:?}",
            event.metadata
        );
    }

    let after = api.setlist(&concert).await;
    assert_eq!(
        item_scores(&after),
        owned(&[&kept]),
        "the same after the cleanup"
    );
    let reordered = expect_json(
        api.send(
            Method::PUT,
            &order_path(&concert),
            Some(&json!({"item_ids": [kept_item]})),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(item_ids(&reordered), owned(&[&kept_item]));
    let readded = api
        .add(&matinee, &json!({"score_id": kept, "position": 0}))
        .await;
    assert_eq!(readded["position"], 0);
    app.stop().await;
}

#[tokio::test]
async fn a_deleted_score_leaves_every_setlist_at_once_and_each_history_records_why_on_sqlite() {
    a_deleted_score_leaves_every_setlist_at_once_and_each_history_records_why(
        TestDatabase::sqlite().await,
    )
    .await;
}

#[tokio::test]
async fn a_deleted_score_leaves_every_setlist_at_once_and_each_history_records_why_on_postgres() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    a_deleted_score_leaves_every_setlist_at_once_and_each_history_records_why(database).await;
}

// ---------------------------------------------------------------------------------------

async fn other_users_setlists_are_invisible_to_every_call(database: TestDatabase) {
    let app = spawn_app(database).await;
    let alice = app.signed_in_user().await;
    let bob = app.signed_in_user().await;
    let as_alice = Api::of(&app, &alice);
    let as_bob = Api::of(&app, &bob);
    let alices_score = score_id(&app, &alice, "Alice's").await;
    let bobs_score = score_id(&app, &bob, "Bob's").await;
    let setlist = id_of(
        &as_alice
            .create(&json!({"name": "Alice's private gig", "event_date": "2026-06-01"}))
            .await,
    );
    let item = as_alice.add_score(&setlist, &alices_score).await;
    let before = as_alice.setlist(&setlist).await;

    let calls = [
        (Method::GET, setlist_path(&setlist), None),
        (
            Method::PATCH,
            setlist_path(&setlist),
            Some(json!({"name": "Bob's now"})),
        ),
        (Method::DELETE, setlist_path(&setlist), None),
        (
            Method::POST,
            items_path(&setlist),
            Some(json!({"score_id": bobs_score})),
        ),
        (
            Method::POST,
            items_path(&setlist),
            Some(json!({"score_id": alices_score})),
        ),
        (Method::DELETE, item_path(&setlist, &item), None),
        (
            Method::PUT,
            order_path(&setlist),
            Some(json!({"item_ids": [item]})),
        ),
        (
            Method::PUT,
            order_path(&setlist),
            Some(json!({"item_ids": []})),
        ),
    ];
    for (method, path, body) in &calls {
        let response = as_bob.send(method.clone(), path, body.as_ref(), None).await;
        expect_problem(response, 404, "E003").await;
    }
    assert_eq!(as_bob.list("").await["count"], 0);
    assert_eq!(as_bob.list("?search=alice").await["count"], 0);
    assert_eq!(
        as_alice.setlist(&setlist).await,
        before,
        "Bob changed nothing"
    );
    assert_eq!(as_alice.list("").await["count"], 1);
    expect_problem(app.get(SETLISTS).await, 401, "E002").await;
    expect_problem(app.get(&setlist_path(&setlist)).await, 401, "E002").await;

    // A version in If-Match must not reveal that the id exists: Alice's setlist is at
    // version 2, so "1" is stale and "2" current — to Bob both are 404, as for an id that
    // does not exist at all.
    let unknown = setlist_path(&uuid::Uuid::new_v4().to_string());
    let mut answers = Vec::new();
    for (method, path, body, version) in [
        (
            Method::PATCH,
            setlist_path(&setlist),
            Some(json!({"name": "Bob's now"})),
            etag(1),
        ),
        (
            Method::PATCH,
            setlist_path(&setlist),
            Some(json!({"name": "Bob's now"})),
            etag(2),
        ),
        (Method::DELETE, setlist_path(&setlist), None, etag(1)),
        (
            Method::PUT,
            order_path(&setlist),
            Some(json!({"item_ids": [item]})),
            etag(1),
        ),
        (Method::DELETE, item_path(&setlist, &item), None, etag(1)),
        (
            Method::PATCH,
            unknown.clone(),
            Some(json!({"name": "Nobody's"})),
            etag(3),
        ),
        (Method::DELETE, unknown, None, etag(3)),
    ] {
        let response = as_bob
            .send(method.clone(), &path, body.as_ref(), Some(&version))
            .await;
        answers.push((
            format!("{method} {path} If-Match {version}"),
            response.status().as_u16(),
        ));
    }
    let not_404: Vec<_> = answers
        .iter()
        .filter(|(_, status)| *status != 404)
        .collect();
    assert!(
        not_404.is_empty(),
        "with If-Match, other users' and unknown setlists must answer 404 too: {not_404:?}"
    );
    assert_eq!(as_alice.setlist(&setlist).await, before);
    app.stop().await;
}

#[tokio::test]
async fn other_users_setlists_are_invisible_to_every_call_on_sqlite() {
    other_users_setlists_are_invisible_to_every_call(TestDatabase::sqlite().await).await;
}

#[tokio::test]
async fn other_users_setlists_are_invisible_to_every_call_on_postgres() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    other_users_setlists_are_invisible_to_every_call(database).await;
}

// ---------------------------------------------------------------------------------------

async fn search_matches_names_ignoring_case_in_any_script(database: TestDatabase) {
    let app = spawn_app(database).await;
    let user = app.signed_in_user().await;
    let stranger = app.signed_in_user().await;
    let api = Api::of(&app, &user);
    for name in [
        "ÉTÉ Festival",
        "été au parc",
        "Рождественский концерт",
        "100% Bach",
        "Winter_Concert",
        "Winter Concert",
    ] {
        api.create(&json!({"name": name})).await;
    }
    Api::of(&app, &stranger)
        .create(&json!({"name": "été chez moi"}))
        .await;

    for (search, expected) in [
        ("%C3%A9t%C3%A9", &["été au parc", "ÉTÉ Festival"][..]),
        ("%C3%89T%C3%89", &["été au parc", "ÉTÉ Festival"]),
        ("festival", &["ÉTÉ Festival"]),
        (
            "%D0%A0%D0%9E%D0%96%D0%94%D0%95%D0%A1%D0%A2%D0%92",
            &["Рождественский концерт"],
        ),
        (
            "%D0%BA%D0%BE%D0%BD%D1%86%D0%B5%D1%80%D1%82",
            &["Рождественский концерт"],
        ),
        ("100%25", &["100% Bach"]),
        ("%25", &["100% Bach"]),
        ("_", &["Winter_Concert"]),
        ("winter", &["Winter Concert", "Winter_Concert"]),
        (
            "",
            &[
                "Winter Concert",
                "Winter_Concert",
                "100% Bach",
                "Рождественский концерт",
                "été au parc",
                "ÉTÉ Festival",
            ],
        ),
    ] {
        let page = api.list(&format!("?search={search}")).await;
        assert_eq!(names(&page), expected, "search={search}");
        assert_eq!(page["count"], expected.len(), "search={search}");
    }
    let none = api.list("?search=zzz").await;
    assert_eq!(
        (&none["count"], &none["results"], &none["next"]),
        (&json!(0), &json!([]), &Value::Null)
    );
    app.stop().await;
}

#[tokio::test]
async fn search_matches_names_ignoring_case_in_any_script_on_sqlite() {
    search_matches_names_ignoring_case_in_any_script(TestDatabase::sqlite().await).await;
}

#[tokio::test]
async fn search_matches_names_ignoring_case_in_any_script_on_postgres() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    search_matches_names_ignoring_case_in_any_script(database).await;
}

// ---------------------------------------------------------------------------------------

/// What the test knows of a setlist it created, in creation order.
struct Made {
    id: String,
    name: String,
    event_date: Option<&'static str>,
}

async fn every_ordering_sorts_as_documented_with_ties_by_id(database: TestDatabase) {
    let app = spawn_app(database).await;
    let user = app.signed_in_user().await;
    let api = Api::of(&app, &user);
    let mut made = Vec::new();
    for (name, event_date) in [
        ("Chamber Evening", Some("2026-03-01")),
        ("Brass Night", None),
        ("advent matinee", Some("2026-12-06")),
        ("Dance Suite", Some("2026-03-01")),
        ("Brass Night", Some("2025-11-30")),
        ("Evening Prayer", None),
    ] {
        let created = api
            .create(&json!({"name": name, "event_date": event_date}))
            .await;
        made.push(Made {
            id: id_of(&created),
            name: name.to_owned(),
            event_date,
        });
    }
    let in_creation_order: Vec<String> = made.iter().map(|made| made.id.clone()).collect();
    let sorted_ids = |key: &dyn Fn(&Made) -> (bool, String)| {
        let mut sorted: Vec<&Made> = made.iter().collect();
        sorted.sort_by(|a, b| (key(a), &a.id).cmp(&(key(b), &b.id)));
        sorted
            .iter()
            .map(|made| made.id.clone())
            .collect::<Vec<_>>()
    };

    let newest_first: Vec<String> = in_creation_order.iter().rev().cloned().collect();
    assert_eq!(
        ids(&api.list("").await),
        newest_first,
        "default -updated_at"
    );
    assert_eq!(
        ids(&api.list("?ordering=created_at").await),
        in_creation_order
    );
    assert_eq!(ids(&api.list("?ordering=-created_at").await), newest_first);

    let by_name = sorted_ids(&|made: &Made| (false, made.name.to_lowercase()));
    assert_eq!(
        ids(&api.list("?ordering=name").await),
        by_name,
        "case-insensitive, ties by id"
    );
    assert_eq!(
        names(&api.list("?ordering=-name").await),
        [
            "Evening Prayer",
            "Dance Suite",
            "Chamber Evening",
            "Brass Night",
            "Brass Night",
            "advent matinee"
        ]
    );

    let by_date = sorted_ids(&|made: &Made| {
        (
            made.event_date.is_none(),
            made.event_date.unwrap_or_default().to_owned(),
        )
    });
    assert_eq!(
        ids(&api.list("?ordering=event_date").await),
        by_date,
        "undated last, ties by id"
    );
    let dates: Vec<Value> = results(&api.list("?ordering=-event_date").await)
        .iter()
        .map(|setlist| setlist["event_date"].clone())
        .collect();
    assert_eq!(
        dates,
        [
            json!("2026-12-06"),
            json!("2026-03-01"),
            json!("2026-03-01"),
            json!("2025-11-30"),
            Value::Null,
            Value::Null
        ],
        "undated last in descending order too"
    );

    // An edit moves a setlist to the front of the default order.
    expect_json(
        api.send(
            Method::PATCH,
            &setlist_path(&made[0].id),
            Some(&json!({"description": "Moved to the small hall"})),
            None,
        )
        .await,
        200,
    )
    .await;
    let mut recently_changed = vec![made[0].id.clone()];
    recently_changed.extend(newest_first.iter().take(5).cloned());
    assert_eq!(ids(&api.list("").await), recently_changed);
    assert_eq!(
        ids(&api.list("?ordering=-updated_at").await),
        recently_changed
    );
    let oldest_change_first: Vec<String> = recently_changed.iter().rev().cloned().collect();
    assert_eq!(
        ids(&api.list("?ordering=updated_at").await),
        oldest_change_first
    );

    for query in [
        "?ordering=title",
        "?ordering=-",
        "?ordering=name,created_at",
    ] {
        let problem = expect_problem(
            api.send(Method::GET, &format!("{SETLISTS}{query}"), None, None)
                .await,
            400,
            "E007",
        )
        .await;
        assert_eq!(problem.field_names(), field_set(&["ordering"]), "{query}");
    }
    for (query, status, code) in [
        ("?page=3&page_size=3", 404, "E003"),
        ("?page_size=0", 400, "E007"),
        ("?page=0", 400, "E007"),
        ("?page=abc", 400, "E007"),
    ] {
        expect_problem(
            api.send(Method::GET, &format!("{SETLISTS}{query}"), None, None)
                .await,
            status,
            code,
        )
        .await;
    }
    app.stop().await;
}

#[tokio::test]
async fn every_ordering_sorts_as_documented_with_ties_by_id_on_sqlite() {
    every_ordering_sorts_as_documented_with_ties_by_id(TestDatabase::sqlite().await).await;
}

#[tokio::test]
async fn every_ordering_sorts_as_documented_with_ties_by_id_on_postgres() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    every_ordering_sorts_as_documented_with_ties_by_id(database).await;
}

// ---------------------------------------------------------------------------------------

/// Follows `next` from the first page of `query` until it is null; checks every page's
/// `count` and that each page's `previous` leads back to the page before. Answers the
/// pages.
async fn walk(api: &Api<'_>, query: &str, count: u64) -> Vec<Value> {
    let first_url = api.app.url(&format!("{SETLISTS}{query}"));
    let mut pages = vec![api.follow(&first_url).await];
    let mut urls = vec![first_url];
    while let Some(next) = pages.last().unwrap()["next"].as_str().map(str::to_owned) {
        assert!(next.starts_with("http://"), "links are absolute: {next}");
        assert!(pages.len() < 20, "the walk does not end: {next}");
        pages.push(api.follow(&next).await);
        urls.push(next);
    }
    assert!(pages[0]["previous"].is_null(), "{}", pages[0]);
    for (index, page) in pages.iter().enumerate() {
        assert_eq!(page["count"], count, "page {} of {query}", index + 1);
    }
    for index in 1..pages.len() {
        let previous = pages[index]["previous"]
            .as_str()
            .unwrap_or_else(|| panic!("page {} has no previous", index + 1));
        if index >= 2 {
            assert_eq!(
                previous,
                urls[index - 1],
                "previous of page {} is the link that led to page {index}",
                index + 1
            );
        }
        assert_eq!(
            api.follow(previous).await,
            pages[index - 1],
            "previous of page {} answers page {index} of {query}",
            index + 1
        );
    }
    pages
}

async fn following_next_links_visits_every_setlist_exactly_once(database: TestDatabase) {
    let app = spawn_app(database).await;
    let user = app.signed_in_user().await;
    let api = Api::of(&app, &user);
    let mut wanted = Vec::new();
    for n in [4, 1, 7, 2, 6, 3, 5] {
        let created = api.create(&json!({"name": format!("Set {n:02}")})).await;
        wanted.push((format!("Set {n:02}"), id_of(&created)));
    }
    let mut all_ids: Vec<String> = wanted.iter().map(|(_, id)| id.clone()).collect();
    for name in ["Alpha other", "Zulu other"] {
        all_ids.push(id_of(&api.create(&json!({"name": name})).await));
    }

    // The default order, 9 setlists in pages of 4.
    let pages = walk(&api, "?page_size=4", 9).await;
    assert_eq!(
        pages
            .iter()
            .map(|page| results(page).len())
            .collect::<Vec<_>>(),
        [4, 4, 1]
    );
    let walked: Vec<String> = pages.iter().flat_map(ids).collect();
    assert_eq!(
        walked.iter().collect::<HashSet<_>>().len(),
        walked.len(),
        "no setlist twice: {walked:?}"
    );
    let everything = ids(&api.list("?page_size=100").await);
    assert_eq!(walked, everything, "the pages together are the whole list");
    let mut expected_set = all_ids.clone();
    expected_set.sort();
    let mut walked_set = walked.clone();
    walked_set.sort();
    assert_eq!(walked_set, expected_set);

    // Filtered and ordered: the links keep the search and the ordering.
    let pages = walk(&api, "?search=SET&ordering=name&page_size=3", 7).await;
    assert_eq!(
        pages
            .iter()
            .map(|page| results(page).len())
            .collect::<Vec<_>>(),
        [3, 3, 1]
    );
    let walked: Vec<String> = pages.iter().flat_map(names).collect();
    let mut expected_names: Vec<String> = wanted.iter().map(|(name, _)| name.clone()).collect();
    expected_names.sort();
    assert_eq!(walked, expected_names);
    app.stop().await;
}

#[tokio::test]
async fn following_next_links_visits_every_setlist_exactly_once_on_sqlite() {
    following_next_links_visits_every_setlist_exactly_once(TestDatabase::sqlite().await).await;
}

#[tokio::test]
async fn following_next_links_visits_every_setlist_exactly_once_on_postgres() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    following_next_links_visits_every_setlist_exactly_once(database).await;
}

// ---------------------------------------------------------------------------------------

/// Every page's ids, following `link` (`"next"` or `"previous"`) from `page` to the end,
/// and the last page.
async fn walk_pages(api: &Api<'_>, mut page: Value, link: &str) -> (Vec<Vec<String>>, Value) {
    let mut pages = vec![ids(&page)];
    while let Some(url) = page[link].as_str().map(str::to_owned) {
        page = api.follow(&url).await;
        pages.push(ids(&page));
        assert!(pages.len() < 100, "a walk that does not end");
    }
    (pages, page)
}

async fn cursors_walk_every_ordering_both_ways(database: TestDatabase) {
    let app = spawn_app(database).await;
    let user = app.signed_in_user().await;
    let api = Api::of(&app, &user);
    // Names and dates that tie, and setlists without a date.
    for (name, date) in [
        ("Gala", Some("2026-05-01")),
        ("gala", None),
        ("Vespers", Some("2026-05-01")),
        ("Advent", None),
        ("Matinee", Some("2026-01-10")),
        ("Gala", Some("2027-02-02")),
        ("Recital", None),
    ] {
        api.create(&json!({"name": name, "event_date": date})).await;
    }
    for ordering in [
        "name",
        "-name",
        "created_at",
        "-created_at",
        "updated_at",
        "-updated_at",
        "event_date",
        "-event_date",
    ] {
        let all = ids(&api
            .list(&format!("?ordering={ordering}&page_size=100"))
            .await);
        assert_eq!(all.len(), 7);
        let first = api
            .list(&format!("?ordering={ordering}&page_size=2&cursor="))
            .await;
        assert!(first["previous"].is_null(), "{ordering}");
        let (forward, last) = walk_pages(&api, first, "next").await;
        assert_eq!(forward.concat(), all, "forward by cursors, {ordering}");
        assert!(last["next"].is_null());
        // From the last page back to the start, by `previous` cursors.
        let (mut back, start) = walk_pages(&api, last, "previous").await;
        back.reverse();
        assert_eq!(back.concat(), all, "backwards by cursors, {ordering}");
        assert_eq!(ids(&start), all[..2].to_vec(), "{ordering}");
    }
    // A cursor of another ordering, or one made up, is refused.
    let page = api.list("?ordering=name&page_size=2&cursor=").await;
    let next = page["next"].as_str().expect("more").to_owned();
    let foreign = next.replace("ordering=name", "ordering=-name");
    let response = app
        .send(app.client.get(&foreign).bearer_auth(&user.tokens.access))
        .await;
    expect_problem(response, 400, "E007").await;
    let response = api
        .send(
            Method::GET,
            &format!("{SETLISTS}?cursor=bm9wZQ"),
            None,
            None,
        )
        .await;
    expect_problem(response, 400, "E007").await;
    app.stop().await;
}

#[tokio::test]
async fn cursors_walk_every_ordering_both_ways_on_sqlite() {
    cursors_walk_every_ordering_both_ways(TestDatabase::sqlite().await).await;
}

#[tokio::test]
async fn cursors_walk_every_ordering_both_ways_on_postgres() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    cursors_walk_every_ordering_both_ways(database).await;
}

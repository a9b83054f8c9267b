//! Rebuilding read models: after a mixed history, `rebuild all` yields tables identical row
//! for row to the live ones, also when commands keep arriving during the rebuild.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use integration_tests::app::{SignedIn, expect_json};
use integration_tests::upload_client::{Ticket, UploadClient, pdf_bytes_of_size};
use integration_tests::{TestApp, spawn_app};
use reqwest::Method;
use serde_json::{Value, json};
use testkit::TestDatabase;
use testkit::read_models::{assert_same_read_models, dump_read_models};

async fn confirmed_score(app: &TestApp, user: &SignedIn, title: &str) -> String {
    let client = UploadClient {
        app,
        access: &user.tokens.access,
    };
    let bytes = pdf_bytes_of_size(2_000);
    let answer = client.request_upload("s.pdf", bytes.len() as u64).await;
    assert_eq!(answer.status, 201, "{answer:?}");
    let ticket = Ticket::from_answer(&answer);
    assert_eq!(client.put_object(&ticket, bytes).await, 200);
    let confirmed = client.confirm(&ticket.upload_id, title).await;
    assert_eq!(confirmed.status, 201, "{confirmed:?}");
    ticket.upload_id
}

async fn call(app: &TestApp, user: &SignedIn, method: Method, path: &str, body: Value) -> Value {
    let response = app
        .send(
            app.request(method.clone(), path)
                .bearer_auth(&user.tokens.access)
                .json(&body),
        )
        .await;
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    assert!(
        (200..300).contains(&status),
        "{method} {path} answered {status}: {text}"
    );
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Uploads, patches, deletes, a cancelled upload, setlists with every kind of edit, a
/// refresh and a logout: every projection gets rows.
async fn mixed_history(app: &TestApp) {
    let alice = app.signed_in_user().await;
    let bob = app.signed_in_user().await;
    let mut scores = Vec::new();
    for (title, user) in [
        ("Gymnopédie 1", &alice),
        ("아리랑", &alice),
        ("Clair de lune", &alice),
        ("Boléro", &bob),
    ] {
        scores.push((confirmed_score(app, user, title).await, user));
    }
    call(
        app,
        &alice,
        Method::PATCH,
        &format!("/api/v1/scores/{}", scores[0].0),
        json!({"composer": "Érik Satie", "tags": ["Piano", "calm"], "instrumentation": ["Piano"]}),
    )
    .await;
    call(
        app,
        &alice,
        Method::PATCH,
        &format!("/api/v1/scores/{}", scores[2].0),
        json!({"composer": "Debussy"}),
    )
    .await;
    let client = UploadClient {
        app,
        access: &alice.tokens.access,
    };
    let open = client.request_upload("later.pdf", 500).await;
    let cancelled = client.request_upload("never.pdf", 700).await;
    assert_eq!(
        client
            .cancel(cancelled.body["upload_id"].as_str().unwrap())
            .await
            .status,
        204
    );
    assert_eq!(open.status, 201);

    let setlist = call(
        app,
        &alice,
        Method::POST,
        "/api/v1/setlists",
        json!({"name": "Winter concert", "event_date": "2026-12-20"}),
    )
    .await;
    let setlist_path = format!("/api/v1/setlists/{}", setlist["id"].as_str().unwrap());
    let items_path = format!("{setlist_path}/items");
    let mut items = Vec::new();
    for (score, _) in &scores[..3] {
        let item = call(
            app,
            &alice,
            Method::POST,
            &items_path,
            json!({"score_id": score}),
        )
        .await;
        items.push(item["id"].as_str().unwrap().to_owned());
    }
    let encore = call(
        app,
        &alice,
        Method::POST,
        &items_path,
        json!({"score_id": scores[0].0, "position": 0, "note": "encore"}),
    )
    .await;
    items.insert(0, encore["id"].as_str().unwrap().to_owned());
    items.reverse();
    call(
        app,
        &alice,
        Method::PUT,
        &format!("{items_path}/order"),
        json!({"item_ids": items}),
    )
    .await;
    call(
        app,
        &alice,
        Method::DELETE,
        &format!("{items_path}/{}", items[1]),
        Value::Null,
    )
    .await;
    call(
        app,
        &alice,
        Method::PATCH,
        &setlist_path,
        json!({"description": "With the choir", "event_date": null, "notes": "Choir enters at bar 9"}),
    )
    .await;
    let dropped = call(
        app,
        &bob,
        Method::POST,
        "/api/v1/setlists",
        json!({"name": "Gone"}),
    )
    .await;
    call(
        app,
        &bob,
        Method::DELETE,
        &format!("/api/v1/setlists/{}", dropped["id"].as_str().unwrap()),
        Value::Null,
    )
    .await;
    // Bookmarks: added, edited, removed.
    let bookmarks_path = format!("/api/v1/scores/{}/bookmarks", scores[1].0);
    let kept = call(
        app,
        &alice,
        Method::POST,
        &bookmarks_path,
        json!({"title": "Arirang", "start_page": 1}),
    )
    .await;
    let removed = call(
        app,
        &alice,
        Method::POST,
        &bookmarks_path,
        json!({"title": "Gone", "start_page": 2, "end_page": 3}),
    )
    .await;
    call(
        app,
        &alice,
        Method::PATCH,
        &format!("{bookmarks_path}/{}", kept["id"].as_str().unwrap()),
        json!({"composer": "trad.", "tags": ["folk"]}),
    )
    .await;
    // Setlist items playing bookmarks (one of them removed below) and a page sequence.
    for body in [
        json!({"score_id": scores[1].0, "bookmark_id": kept["id"]}),
        json!({"score_id": scores[1].0, "bookmark_id": removed["id"], "note": "gone soon"}),
        json!({"score_id": scores[1].0, "pages": [1, 1, 1]}),
    ] {
        call(app, &alice, Method::POST, &items_path, body).await;
    }
    call(
        app,
        &alice,
        Method::DELETE,
        &format!("{bookmarks_path}/{}", removed["id"].as_str().unwrap()),
        Value::Null,
    )
    .await;
    // A deleted score leaves the setlist through the cleanup processor.
    assert_eq!(client.delete_score(&scores[0].0).await.status, 204);
    assert_eq!(
        UploadClient {
            app,
            access: &bob.tokens.access
        }
        .delete_score(&scores[3].0)
        .await
        .status,
        204
    );
    let refreshed = app.refresh(&bob.tokens.refresh).await;
    app.logout(&refreshed.refresh).await;
    app.run_processors_until_idle().await;
}

async fn rebuild_all(app: &TestApp) {
    let database = app.database.connect_again().await;
    for name in projections::PROJECTION_NAMES {
        projections::rebuild_named(name, &database, |_| {})
            .await
            .unwrap_or_else(|error| panic!("rebuilding {name}: {error}"));
    }
    database.close().await;
}

async fn rebuild_all_equals_the_live_read_models(database: TestDatabase) {
    let app = spawn_app(database).await;
    mixed_history(&app).await;
    let database = app.database.connect_again().await;
    app.run_processors_until_idle().await;
    let live = dump_read_models(&database).await;
    for table in [
        "scores",
        "setlists",
        "setlist_items",
        "quota_ledger",
        "sessions",
        "analytics_daily",
        "analytics_composers",
        "open_reservations",
        "score_tombstones",
        "setlist_tombstones",
    ] {
        assert!(!live[table].is_empty(), "the history left {table} empty");
    }
    rebuild_all(&app).await;
    let rebuilt = dump_read_models(&database).await;
    assert_same_read_models(&live, &rebuilt);
    database.close().await;
    app.stop().await;
}

#[tokio::test]
async fn rebuild_all_equals_the_live_read_models_on_sqlite() {
    rebuild_all_equals_the_live_read_models(TestDatabase::sqlite().await).await;
}

#[tokio::test]
async fn rebuild_all_equals_the_live_read_models_on_postgres() {
    if let Some(database) = TestDatabase::postgres().await {
        rebuild_all_equals_the_live_read_models(database).await;
    }
}

/// Commands keep arriving while every projection is rebuilt: none is lost or doubled.
async fn a_rebuild_under_writes_loses_nothing(database: TestDatabase) {
    let app = spawn_app(database).await;
    mixed_history(&app).await;
    let writer = app.signed_in_user().await;
    let rebuilding = rebuild_all(&app);
    let writing = async {
        let mut created = Vec::new();
        for n in 0..12 {
            let setlist = call(
                &app,
                &writer,
                Method::POST,
                "/api/v1/setlists",
                json!({"name": format!("During rebuild {n}")}),
            )
            .await;
            created.push(setlist["id"].as_str().unwrap().to_owned());
        }
        created
    };
    let ((), created) = tokio::join!(rebuilding, writing);
    app.run_processors_until_idle().await;
    let listed = expect_json(
        app.get_authed("/api/v1/setlists?page_size=100", &writer.tokens.access)
            .await,
        200,
    )
    .await;
    assert_eq!(listed["count"], 12, "{listed}");
    let database = app.database.connect_again().await;
    app.run_processors_until_idle().await;
    let live = dump_read_models(&database).await;
    assert_eq!(
        live["setlists"].len(),
        13,
        "Alice's setlist and the writer's twelve"
    );
    rebuild_all(&app).await;
    assert_same_read_models(&live, &dump_read_models(&database).await);
    assert_eq!(created.len(), 12);
    database.close().await;
    app.stop().await;
}

#[tokio::test]
async fn a_rebuild_under_writes_loses_nothing_on_sqlite() {
    a_rebuild_under_writes_loses_nothing(TestDatabase::sqlite().await).await;
}

#[tokio::test]
async fn a_rebuild_under_writes_loses_nothing_on_postgres() {
    if let Some(database) = TestDatabase::postgres().await {
        a_rebuild_under_writes_loses_nothing(database).await;
    }
}

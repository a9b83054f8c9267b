//! The score library read model: `GET /scores` and `GET /scores/{id}`, read-your-writes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use integration_tests::app::{SignedIn, expect_json};
use integration_tests::problem::expect_problem;
use integration_tests::{TestApp, spawn_app};
use serde_json::{Value, json};
use testkit::TestDatabase;

async fn list(app: &TestApp, user: &SignedIn, query: &str) -> Value {
    expect_json(
        app.get_authed(&format!("/api/v1/scores{query}"), &user.tokens.access)
            .await,
        200,
    )
    .await
}

fn titles(page: &Value) -> Vec<String> {
    page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|score| score["title"].as_str().unwrap().to_owned())
        .collect()
}

async fn library(app: &TestApp) -> SignedIn {
    let user = app.signed_in_user().await;
    for metadata in [
        json!({"title": "Étude Op. 10", "composer": "Chopin", "tags": ["Piano", "romantic"], "instrumentation": ["Piano"]}),
        json!({"title": "아리랑", "composer": "전통", "tags": ["folk"], "instrumentation": ["Voice", "Piano"]}),
        json!({"title": "Brandenburg Concerto 3", "composer": "J. S. Bach", "tags": ["baroque", "romantic"], "instrumentation": ["Strings"]}),
        json!({"title": "étude in C", "composer": "CHOPIN", "tags": ["piano"], "instrumentation": ["piano"]}),
    ] {
        app.add_score(&user, metadata).await;
    }
    user
}

#[tokio::test]
async fn the_library_lists_the_callers_scores_newest_change_first() {
    let app = spawn_app(TestDatabase::sqlite().await).await;
    let user = library(&app).await;
    let stranger = app.signed_in_user().await;

    let page = list(&app, &user, "").await;
    assert_eq!(page["count"], 4);
    assert_eq!(
        titles(&page),
        [
            "étude in C",
            "Brandenburg Concerto 3",
            "아리랑",
            "Étude Op. 10"
        ]
    );
    assert!(page["next"].is_null() && page["previous"].is_null());
    assert_eq!(
        list(&app, &stranger, "").await["count"],
        0,
        "other users' scores are invisible"
    );
    app.stop().await;
}

#[tokio::test]
async fn filters_ignore_case_in_any_script() {
    let app = spawn_app(TestDatabase::sqlite().await).await;
    let user = library(&app).await;

    assert_eq!(
        titles(&list(&app, &user, "?search=%C3%89TUDE&ordering=title").await),
        ["étude in C", "Étude Op. 10"]
    );
    assert_eq!(
        titles(&list(&app, &user, "?search=%EC%95%84%EB%A6%AC").await),
        ["아리랑"]
    );
    assert_eq!(
        list(&app, &user, "?search=bach").await["count"],
        1,
        "composer matches too"
    );
    assert_eq!(list(&app, &user, "?composer=chopin").await["count"], 2);
    assert_eq!(
        list(&app, &user, "?composer=chop").await["count"],
        0,
        "composer is exact"
    );
    assert_eq!(
        titles(&list(&app, &user, "?tags=PIANO,Romantic").await),
        ["Étude Op. 10"]
    );
    assert_eq!(
        list(&app, &user, "?instrumentation=piano").await["count"],
        3
    );
    assert_eq!(list(&app, &user, "?status=pending").await["count"], 4);
    assert_eq!(
        list(&app, &user, "?search=100%25").await["count"],
        0,
        "% is literal"
    );
    expect_problem(
        app.get_authed("/api/v1/scores?status=done", &user.tokens.access)
            .await,
        400,
        "E007",
    )
    .await;
    expect_problem(
        app.get_authed("/api/v1/scores?ordering=size", &user.tokens.access)
            .await,
        400,
        "E007",
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn ordering_and_pagination_are_stable() {
    let app = spawn_app(TestDatabase::sqlite().await).await;
    let user = library(&app).await;

    assert_eq!(
        titles(&list(&app, &user, "?ordering=-title").await)[0],
        "아리랑"
    );
    assert_eq!(
        titles(&list(&app, &user, "?ordering=created_at").await)[0],
        "Étude Op. 10"
    );
    let first = list(&app, &user, "?ordering=title&page_size=3").await;
    assert_eq!(first["results"].as_array().unwrap().len(), 3);
    let next = first["next"].as_str().unwrap();
    assert!(
        next.starts_with("http://") && next.contains("page=2"),
        "{next}"
    );
    let second = list(&app, &user, "?ordering=title&page_size=3&page=2").await;
    assert_eq!(titles(&second), ["아리랑"]);
    expect_problem(
        app.get_authed("/api/v1/scores?page=3&page_size=3", &user.tokens.access)
            .await,
        404,
        "E003",
    )
    .await;
    expect_problem(
        app.get_authed("/api/v1/scores?page_size=0", &user.tokens.access)
            .await,
        400,
        "E007",
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn a_score_is_readable_with_its_etag_and_reflects_changes_at_once() {
    let app = spawn_app(TestDatabase::sqlite().await).await;
    let user = app.signed_in_user().await;
    let score = app
        .add_score(&user, json!({"title": "Before", "composer": "Satie"}))
        .await;
    let id = score["id"].as_str().unwrap();

    let response = app
        .get_authed(&format!("/api/v1/scores/{id}"), &user.tokens.access)
        .await;
    assert_eq!(response.headers()["etag"], "\"2\"");
    let read = expect_json(response, 200).await;
    assert_eq!(read["title"], "Before");
    assert_eq!(read["file"]["filename"], "s.pdf");

    let patched = app
        .send(
            app.request(reqwest::Method::PATCH, &format!("/api/v1/scores/{id}"))
                .bearer_auth(&user.tokens.access)
                .header("if-match", "\"2\"")
                .json(&json!({"title": "After"})),
        )
        .await;
    assert!(
        patched.headers().get("x-read-models").is_none(),
        "caught up before answering"
    );
    expect_json(patched, 200).await;
    let read = expect_json(
        app.get_authed(&format!("/api/v1/scores/{id}"), &user.tokens.access)
            .await,
        200,
    )
    .await;
    assert_eq!(
        (read["title"].as_str(), read["version"].as_u64()),
        (Some("After"), Some(3))
    );
    assert!(read["updated_at"].as_str().unwrap() > read["created_at"].as_str().unwrap());

    let stranger = app.signed_in_user().await;
    expect_problem(
        app.get_authed(&format!("/api/v1/scores/{id}"), &stranger.tokens.access)
            .await,
        404,
        "E003",
    )
    .await;

    let deleted = app
        .send(
            app.request(reqwest::Method::DELETE, &format!("/api/v1/scores/{id}"))
                .bearer_auth(&user.tokens.access),
        )
        .await;
    assert_eq!(deleted.status(), 204);
    expect_problem(
        app.get_authed(&format!("/api/v1/scores/{id}"), &user.tokens.access)
            .await,
        404,
        "E003",
    )
    .await;
    assert_eq!(list(&app, &user, "").await["count"], 0);
    app.stop().await;
}

#[tokio::test]
async fn the_library_works_on_postgres() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    let app = spawn_app(database).await;
    let user = library(&app).await;
    assert_eq!(
        titles(&list(&app, &user, "?search=%C3%89TUDE&ordering=title").await),
        ["étude in C", "Étude Op. 10"]
    );
    assert_eq!(
        titles(&list(&app, &user, "?tags=PIANO,Romantic").await),
        ["Étude Op. 10"]
    );
    assert_eq!(
        list(&app, &user, "?composer=chopin&page_size=1").await["count"],
        2
    );
    app.stop().await;
}

async fn count(app: &TestApp, user: &SignedIn, query: &str) -> u64 {
    list(app, user, query).await["count"].as_u64().unwrap()
}

async fn patch(app: &TestApp, user: &SignedIn, id: &str, body: Value) {
    let patched = app
        .send(
            app.request(reqwest::Method::PATCH, &format!("/api/v1/scores/{id}"))
                .bearer_auth(&user.tokens.access)
                .json(&body),
        )
        .await;
    expect_json(patched, 200).await;
}

/// The filter tables are rewritten only when a score's lists change: every other change
/// must leave them as they were, and each list's change must reach its own table.
async fn filters_follow_each_change(app: &TestApp) {
    let user = app.signed_in_user().await;
    let score = app
        .add_score(
            &user,
            json!({"title": "Gymnopédie", "tags": ["Calm", "solo"], "instrumentation": ["Piano"]}),
        )
        .await;
    let id = score["id"].as_str().unwrap();

    patch(app, &user, id, json!({"title": "Gymnopédie No. 1"})).await;
    app.run_processors_until_idle().await;
    assert_eq!(count(app, &user, "?tags=calm,SOLO").await, 1);
    assert_eq!(count(app, &user, "?instrumentation=piano").await, 1);

    patch(app, &user, id, json!({"tags": ["slow"]})).await;
    assert_eq!(count(app, &user, "?tags=calm").await, 0);
    assert_eq!(count(app, &user, "?tags=slow").await, 1);
    assert_eq!(count(app, &user, "?instrumentation=piano").await, 1);

    patch(
        app,
        &user,
        id,
        json!({"instrumentation": ["Harp", "Flute"]}),
    )
    .await;
    assert_eq!(count(app, &user, "?instrumentation=piano").await, 0);
    assert_eq!(count(app, &user, "?instrumentation=harp").await, 1);
    assert_eq!(count(app, &user, "?tags=slow").await, 1);

    let deleted = app
        .send(
            app.request(reqwest::Method::DELETE, &format!("/api/v1/scores/{id}"))
                .bearer_auth(&user.tokens.access),
        )
        .await;
    assert_eq!(deleted.status(), 204);
    let left: Vec<(i64, i64)> = match &app.database.database {
        eventstore::Database::Sqlite(pool) => sqlx::query_as(FILTER_ROWS)
            .bind(id)
            .fetch_all(pool)
            .await
            .unwrap(),
        eventstore::Database::Postgres(pool) => sqlx::query_as(FILTER_ROWS)
            .bind(id)
            .fetch_all(pool)
            .await
            .unwrap(),
    };
    assert_eq!(left, [(0, 0)], "a deleted score leaves no filter rows");
}

const FILTER_ROWS: &str = "SELECT (SELECT count(*) FROM score_tags WHERE score_id = $1), \
     (SELECT count(*) FROM score_instruments WHERE score_id = $1)";

#[tokio::test]
async fn filters_follow_each_change_on_sqlite() {
    let app = spawn_app(TestDatabase::sqlite().await).await;
    filters_follow_each_change(&app).await;
    app.stop().await;
}

#[tokio::test]
async fn filters_follow_each_change_on_postgres() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    let app = spawn_app(database).await;
    filters_follow_each_change(&app).await;
    app.stop().await;
}

//! The server starts on the embedded default and answers its probes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use integration_tests::{TestDatabase, spawn_app};

#[tokio::test]
async fn healthz_and_readyz_answer_ok_on_sqlite() {
    let app = spawn_app(TestDatabase::sqlite().await).await;

    let health = app.get("/healthz").await;
    assert_eq!(health.status(), 200);
    assert_eq!(
        health.json::<serde_json::Value>().await.unwrap()["status"],
        "ok"
    );

    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    let ready = ready.json::<serde_json::Value>().await.unwrap();
    assert_eq!(ready["database"], "ok");
    assert_eq!(ready["object_store"], "ok");
    app.stop().await;
}

#[tokio::test]
async fn readyz_answers_ok_on_postgres() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    let app = spawn_app(database).await;
    assert_eq!(app.get("/readyz").await.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn readyz_answers_503_when_the_database_is_gone() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    let app = spawn_app(database).await;
    assert_eq!(app.get("/readyz").await.status(), 200);

    app.database.sabotage().await;

    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 503);
    assert_eq!(
        ready.json::<serde_json::Value>().await.unwrap()["database"],
        "unreachable"
    );
    assert_eq!(
        app.get("/healthz").await.status(),
        200,
        "alive, just not ready"
    );
    app.stop().await;
}

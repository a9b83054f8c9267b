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

/// `GET /metrics` is Prometheus text with request, command and lag figures.
async fn metrics_report_requests_commands_and_lags(database: TestDatabase) {
    let app = spawn_app(database).await;
    let user = app.signed_in_user().await;
    let unauthorised = app.get("/api/v1/me").await;
    assert_eq!(unauthorised.status(), 401);
    app.get_authed("/api/v1/me", &user.tokens.access).await;

    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    for expected in [
        "scoremate_http_requests_total{method=\"POST\",route=\"/api/v1/auth/register\",status=\"201\"}",
        "scoremate_http_requests_total{method=\"GET\",route=\"/api/v1/me\",status=\"401\"}",
        "scoremate_http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/v1/me\"",
        "scoremate_commands_total{aggregate=\"Account\",outcome=\"ok\"}",
        "scoremate_events_appended_total{aggregate=\"Session\"}",
        "scoremate_projection_lag_events{projection=\"scores\"}",
        "scoremate_processor_lag_events{processor=\"pdf_info\"}",
    ] {
        assert!(text.contains(expected), "{expected} missing from:\n{text}");
    }
    // Never a raw path: ids stay out of the labels.
    assert!(!text.contains(&user.id), "a user id leaked into the labels");
    app.stop().await;
}

#[tokio::test]
async fn metrics_report_requests_commands_and_lags_on_sqlite() {
    metrics_report_requests_commands_and_lags(TestDatabase::sqlite().await).await;
}

#[tokio::test]
async fn metrics_report_requests_commands_and_lags_on_postgres() {
    if let Some(database) = TestDatabase::postgres().await {
        metrics_report_requests_commands_and_lags(database).await;
    }
}

//! The server starts on the embedded default, answers its probes and reports its figures
//! on `/metrics`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use integration_tests::upload_client::{Ticket, UploadClient};
use integration_tests::{PASSWORD, SignedIn, TestApp, spawn_app, spawn_app_with, unique_email};
use serde_json::{Value, json};
use testkit::TestDatabase;

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

/// Stepped by nobody (the test app has no follow loop), the library views stay behind
/// the registration's events: ready while that is recent, 503 once it is older than the
/// threshold, ready again when they catch up.
#[tokio::test]
async fn readyz_answers_503_while_the_read_models_lag_beyond_the_threshold() {
    let app = spawn_app_with(TestDatabase::sqlite().await, &["--ready-max-lag-secs", "1"]).await;
    app.register(&unique_email(), PASSWORD).await;
    let fresh = app.get("/readyz").await;
    assert_eq!(fresh.status(), 200);
    let fresh: Value = fresh.json().await.unwrap();
    assert_eq!(fresh["read_models"], "ok", "{fresh}");
    assert!(
        fresh["read_models_lag_seconds"].as_f64().unwrap() < 1.0,
        "{fresh}"
    );

    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let stale = app.get("/readyz").await;
    assert_eq!(stale.status(), 503);
    let stale: Value = stale.json().await.unwrap();
    assert_eq!(stale["status"], "unavailable", "{stale}");
    assert_eq!(stale["read_models"], "lagging", "{stale}");
    assert_eq!(stale["database"], "ok", "{stale}");
    assert!(
        stale["read_models_lag_seconds"].as_f64().unwrap() >= 1.0,
        "{stale}"
    );

    app.run_processors_until_idle().await;
    let caught_up = app.get("/readyz").await;
    assert_eq!(caught_up.status(), 200);
    let caught_up: Value = caught_up.json().await.unwrap();
    assert_eq!(caught_up["read_models_lag_seconds"], 0.0, "{caught_up}");
    app.stop().await;
}

/// A scanned one-page PDF that the processors turn into facts and a thumbnail, so every
/// object-store operation of an upload's life runs (thumbnail `put` included).
const SCANNED: &[u8] = include_bytes!("../../score-pdf/tests/fixtures/ccitt-g4.pdf");

/// One sample of a scrape: the series' labels and its value.
#[derive(Debug)]
struct Sample {
    labels: BTreeMap<String, String>,
    value: f64,
}

/// The samples of a Prometheus text answer by series name (`_bucket`, `_sum` and `_count`
/// of histograms are series of their own). Label values may hold `{`, `}`, `,` and `=`
/// (route templates do), so they are read quote to quote.
fn parse_exposition(text: &str) -> BTreeMap<String, Vec<Sample>> {
    let mut series: BTreeMap<String, Vec<Sample>> = BTreeMap::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (head, value) = line.rsplit_once(' ').unwrap();
        let value: f64 = value.parse().unwrap();
        let (name, labels) = match head.split_once('{') {
            Some((name, rest)) => (name, parse_labels(rest.strip_suffix('}').unwrap())),
            None => (head, BTreeMap::new()),
        };
        series
            .entry(name.to_owned())
            .or_default()
            .push(Sample { labels, value });
    }
    series
}

/// `a="x",b="y\"z"` → {a: x, b: y"z}.
fn parse_labels(mut rest: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"").unwrap();
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next().unwrap() {
                (_, '\\') => match chars.next().unwrap().1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                (at, '"') => break at,
                (_, other) => value.push(other),
            }
        };
        labels.insert(key.to_owned(), value);
        rest = after[end + 1..].trim_start_matches(',');
    }
    labels
}

/// One scrape of `/metrics`, checked to be Prometheus text.
async fn scrape(app: &TestApp) -> BTreeMap<String, Vec<Sample>> {
    let response = app
        .client
        .get(format!("http://{}/metrics", app.metrics_address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    parse_exposition(&response.text().await.unwrap())
}

/// The sum of `name`'s samples whose labels include every pair of `wanted`.
fn total(scrape: &BTreeMap<String, Vec<Sample>>, name: &str, wanted: &[(&str, &str)]) -> f64 {
    scrape
        .get(name)
        .into_iter()
        .flatten()
        .filter(|sample| {
            wanted
                .iter()
                .all(|(key, value)| sample.labels.get(*key).map(String::as_str) == Some(*value))
        })
        .map(|sample| sample.value)
        .sum()
}

#[track_caller]
fn assert_counted(scrape: &BTreeMap<String, Vec<Sample>>, name: &str, wanted: &[(&str, &str)]) {
    assert!(
        total(scrape, name, wanted) > 0.0,
        "no non-zero sample of {name} with {wanted:?}; the family has: {:#?}",
        scrape.get(name)
    );
}

#[track_caller]
fn assert_present(scrape: &BTreeMap<String, Vec<Sample>>, name: &str, wanted: &[(&str, &str)]) {
    let found = scrape.get(name).into_iter().flatten().any(|sample| {
        wanted
            .iter()
            .all(|(key, value)| sample.labels.get(*key).map(String::as_str) == Some(*value))
    });
    assert!(
        found,
        "no sample of {name} with {wanted:?}; the family has: {:#?}",
        scrape.get(name)
    );
}

async fn authed(
    app: &TestApp,
    user: &SignedIn,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = app.request(method, path).bearer_auth(&user.tokens.access);
    if let Some(body) = body {
        request = request.json(&body);
    }
    app.send(request).await
}

/// Concurrent PATCHes of one score until one of them lost the append race and was decided
/// again: each PATCH loads the score before the others commit, so a round or two always
/// gets there; 20 rounds only bound a broken executor.
async fn provoke_a_conflict_retry(app: &TestApp, user: &SignedIn, score_id: &str) {
    for round in 0..20 {
        let mut patches = tokio::task::JoinSet::new();
        for writer in 0..8 {
            let request = app
                .request(
                    reqwest::Method::PATCH,
                    &format!("/api/v1/scores/{score_id}"),
                )
                .bearer_auth(&user.tokens.access)
                .json(&json!({"notes": format!("round {round}, writer {writer}")}));
            patches.spawn(request.send());
        }
        while let Some(done) = patches.join_next().await {
            let status = done.unwrap().unwrap().status().as_u16();
            // 409 E008 once the bounded retries are used up: still a retried command.
            assert!(status == 200 || status == 409, "PATCH answered {status}");
        }
        let scraped = scrape(app).await;
        if total(
            &scraped,
            "scoremate_command_conflict_retries_total",
            &[("aggregate", "Score")],
        ) > 0.0
        {
            return;
        }
    }
    panic!("20 rounds of 8 concurrent PATCHes and not one conflict retry");
}

/// `GET /metrics` after an upload's whole life (register, login, upload URL, PUT, confirm,
/// list, links, a refused cancel, racing edits, processing, deletion and its cleanup) shows
/// every family with a non-zero sample where traffic makes one, and every follower's lag.
async fn metrics_report_every_family_after_traffic(database: TestDatabase) {
    let app = spawn_app(database).await;
    let user = app.signed_in_user().await;
    assert_eq!(app.get("/api/v1/me").await.status(), 401);
    assert_eq!(
        app.get_authed("/api/v1/me", &user.tokens.access)
            .await
            .status(),
        200
    );
    assert_eq!(app.get("/readyz").await.status(), 200);

    let client = UploadClient {
        app: &app,
        access: &user.tokens.access,
    };
    let answer = client
        .request_upload("scan.pdf", SCANNED.len() as u64)
        .await;
    assert_eq!(answer.status, 201, "{answer:?}");
    let ticket = Ticket::from_answer(&answer);
    assert_eq!(client.put_object(&ticket, SCANNED.to_vec()).await, 200);
    let confirmed = client.confirm(&ticket.upload_id, "Scanned étude").await;
    assert_eq!(confirmed.status, 201, "{confirmed:?}");
    let score_id = ticket.upload_id.clone();
    assert_eq!(
        app.get_authed("/api/v1/scores", &user.tokens.access)
            .await
            .status(),
        200
    );
    // Refused by the Score aggregate: the upload is confirmed.
    let refused = client.cancel(&score_id).await;
    assert_eq!(refused.short(), "409 E008");
    provoke_a_conflict_retry(&app, &user, &score_id).await;

    app.run_processors_until_idle().await;
    for link in ["file", "thumbnail"] {
        let path = format!("/api/v1/scores/{score_id}/{link}?redirect=false");
        let response = authed(&app, &user, reqwest::Method::GET, &path, None).await;
        assert_eq!(response.status(), 200, "{link} link");
    }
    let deleted = client.delete_score(&score_id).await;
    assert_eq!(deleted.status, 204, "{deleted:?}");
    app.run_processors_until_idle().await;

    let scraped = scrape(&app).await;

    // Requests: counts by route template and status, latency by route.
    for (method, route, status) in [
        ("POST", "/api/v1/auth/register", "201"),
        ("POST", "/api/v1/auth/login", "200"),
        ("GET", "/api/v1/me", "401"),
        ("GET", "/api/v1/me", "200"),
        ("POST", "/api/v1/files/upload-url", "201"),
        ("POST", "/api/v1/scores", "201"),
        ("GET", "/api/v1/scores", "200"),
        ("DELETE", "/api/v1/files/uploads/{upload_id}", "409"),
        ("PATCH", "/api/v1/scores/{id}", "200"),
        ("GET", "/api/v1/scores/{id}/thumbnail", "200"),
        ("DELETE", "/api/v1/scores/{id}", "204"),
    ] {
        let labels = [("method", method), ("route", route), ("status", status)];
        assert_counted(&scraped, "scoremate_http_requests_total", &labels);
        let labels = [("method", method), ("route", route)];
        assert_counted(
            &scraped,
            "scoremate_http_request_duration_seconds_count",
            &labels,
        );
        assert_present(
            &scraped,
            "scoremate_http_request_duration_seconds_bucket",
            &labels,
        );
    }

    // Commands by aggregate and outcome, the retries of lost races, events appended.
    for (aggregate, outcome) in [
        ("Account", "ok"),
        ("Session", "ok"),
        ("Quota", "ok"),
        ("Score", "ok"),
        ("Score", "rejected"),
    ] {
        let labels = [("aggregate", aggregate), ("outcome", outcome)];
        assert_counted(&scraped, "scoremate_commands_total", &labels);
    }
    assert_counted(
        &scraped,
        "scoremate_command_conflict_retries_total",
        &[("aggregate", "Score")],
    );
    for aggregate in ["Account", "Session", "Quota", "Score"] {
        assert_counted(
            &scraped,
            "scoremate_events_appended_total",
            &[("aggregate", aggregate)],
        );
    }

    // Lags are measured at the scrape and are 0 once drained: every name must be there.
    for projection in projections::PROJECTION_NAMES {
        let labels = [("projection", projection)];
        assert_present(&scraped, "scoremate_projection_lag_events", &labels);
        assert_present(&scraped, "scoremate_projection_lag_seconds", &labels);
    }
    for processor in scoremate::http::metrics::PROCESSOR_NAMES {
        let labels = [("processor", processor)];
        assert_present(&scraped, "scoremate_processor_lag_events", &labels);
        assert_present(&scraped, "scoremate_processor_lag_seconds", &labels);
    }

    // PDF jobs: outcomes, durations, and the queue (empty by now, but reported).
    for stage in ["pdf_info", "thumbnail"] {
        let labels = [("stage", stage), ("outcome", "ok")];
        assert_counted(&scraped, "scoremate_pdf_jobs_total", &labels);
        let labels = [("stage", stage)];
        assert_counted(
            &scraped,
            "scoremate_pdf_job_duration_seconds_count",
            &labels,
        );
        assert_present(&scraped, "scoremate_pdf_jobs_unfinished", &labels);
    }

    // Object-store calls, each operation of an upload's life, all successful.
    for operation in [
        "ensure_bucket",
        "ping",
        "presign_put",
        "copy",
        "read_hashed",
        "list",
        "get",
        "put",
        "presign_get",
        "delete",
    ] {
        let labels = [("operation", operation), ("outcome", "ok")];
        assert_counted(
            &scraped,
            "scoremate_object_store_duration_seconds_count",
            &labels,
        );
        assert_present(
            &scraped,
            "scoremate_object_store_duration_seconds_bucket",
            &labels,
        );
    }

    // Never a raw path or a key: ids stay out of the labels.
    let text = app.metrics_text().await;
    assert!(!text.contains(&user.id), "a user id leaked into the labels");
    assert!(
        !text.contains(&score_id),
        "a score id leaked into the labels"
    );
    app.stop().await;
}

/// `/metrics` tells about every user's traffic: it is served on its own listener
/// (`SCOREMATE_METRICS_BIND`, loopback by default), and the public API address does not
/// know it.
#[tokio::test]
async fn metrics_are_not_served_on_the_api_address() {
    let app = spawn_app(TestDatabase::sqlite().await).await;
    assert_ne!(app.metrics_address, app.address);
    let on_api = app.get("/metrics").await;
    assert_eq!(on_api.status(), 404);
    assert_eq!(on_api.json::<Value>().await.unwrap()["code"], "E003");
    let scraped = scrape(&app).await;
    assert!(scraped.contains_key("scoremate_http_requests_total"));
    app.stop().await;
}

#[tokio::test]
async fn metrics_report_every_family_after_traffic_on_sqlite() {
    metrics_report_every_family_after_traffic(TestDatabase::sqlite().await).await;
}

#[tokio::test]
async fn metrics_report_every_family_after_traffic_on_postgres() {
    if let Some(database) = TestDatabase::postgres().await {
        metrics_report_every_family_after_traffic(database).await;
    }
}

//! The API's conventions: problem+json errors, request ids, body parsing, unknown routes
//! and methods, throttling.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use integration_tests::{
    PASSWORD, TestApp, expect_json, expect_problem, spawn_app, spawn_app_with, unique_email,
};
use reqwest::Method;
use serde_json::json;
use testkit::TestDatabase;

const REQUEST_ID: &str = "x-request-id";

async fn app() -> TestApp {
    spawn_app(TestDatabase::sqlite().await).await
}

fn names(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|&name| name.to_owned()).collect()
}

fn request_id(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(REQUEST_ID)
        .unwrap_or_else(|| {
            panic!(
                "no X-Request-Id on {} {}",
                response.status(),
                response.url()
            )
        })
        .to_str()
        .unwrap()
        .to_owned()
}

// --- routes and methods ---------------------------------------------------------------

#[tokio::test]
async fn an_unknown_route_is_a_404_problem() {
    let app = app().await;

    let response = app.get("/api/v1/nope").await;

    let problem = expect_problem(response, 404, "E003").await;
    assert!(problem.has_no_fields(), "{}", problem.body);
    app.stop().await;
}

#[tokio::test]
async fn a_wrong_method_is_a_405_problem() {
    let app = app().await;

    let response = app
        .send(app.request(Method::DELETE, "/api/v1/auth/login"))
        .await;

    let problem = expect_problem(response, 405, "E007").await;
    assert!(problem.has_no_fields(), "{}", problem.body);
    app.stop().await;
}

/// `/scores/duplicates` is its own route, not a score id: a method it lacks is a 405,
/// whatever `/scores/{id}` would have made of it.
#[tokio::test]
async fn a_spelled_out_route_is_never_a_parameter_of_another() {
    let app = app().await;
    let user = app.signed_in_user().await;

    let response = app
        .send(
            app.request(Method::PATCH, "/api/v1/scores/duplicates")
                .bearer_auth(&user.tokens.access),
        )
        .await;

    let problem = expect_problem(response, 405, "E007").await;
    assert_eq!(
        problem
            .headers
            .get("allow")
            .and_then(|allow| allow.to_str().ok()),
        Some("GET, HEAD")
    );
    app.stop().await;
}

// --- request bodies -------------------------------------------------------------------

#[tokio::test]
async fn malformed_json_is_a_validation_error_without_fields() {
    let app = app().await;

    let response = app
        .post_raw("/api/v1/auth/register", "application/json", r#"{"email":"#)
        .await;

    let problem = expect_problem(response, 400, "E007").await;
    assert!(problem.has_no_fields(), "{}", problem.body);
    app.stop().await;
}

#[tokio::test]
async fn a_body_that_is_not_declared_as_json_is_refused_with_415() {
    let app = app().await;
    let body = json!({"email": unique_email(), "password": PASSWORD}).to_string();

    let response = app
        .post_raw("/api/v1/auth/register", "text/plain", body)
        .await;

    expect_problem(response, 415, "E007").await;
    app.stop().await;
}

#[tokio::test]
async fn a_body_over_64_kib_is_refused_with_413() {
    let app = app().await;
    let body = json!({
        "email": unique_email(),
        "password": PASSWORD,
        "display_name": "x".repeat(64 * 1024),
    })
    .to_string();

    let response = app
        .post_raw("/api/v1/auth/register", "application/json", body)
        .await;

    expect_problem(response, 413, "E007").await;
    app.stop().await;
}

#[tokio::test]
async fn missing_fields_are_all_named_at_once() {
    let app = app().await;

    let response = app.post_json("/api/v1/auth/register", &json!({})).await;

    let problem = expect_problem(response, 400, "E007").await;
    assert_eq!(problem.field_names(), names(&["email", "password"]));
    app.stop().await;
}

#[tokio::test]
async fn fields_of_the_wrong_json_type_are_all_named_at_once() {
    let app = app().await;

    let response = app
        .post_json(
            "/api/v1/auth/register",
            &json!({"email": 5, "password": true, "display_name": []}),
        )
        .await;

    let problem = expect_problem(response, 400, "E007").await;
    assert_eq!(
        problem.field_names(),
        names(&["email", "password", "display_name"])
    );
    app.stop().await;
}

#[tokio::test]
async fn a_login_without_credentials_names_both_fields() {
    let app = app().await;

    let response = app.post_json("/api/v1/auth/login", &json!({})).await;

    let problem = expect_problem(response, 400, "E007").await;
    assert_eq!(problem.field_names(), names(&["email", "password"]));
    app.stop().await;
}

#[tokio::test]
async fn a_refresh_without_a_token_names_the_field() {
    let app = app().await;

    let response = app.post_json("/api/v1/auth/refresh", &json!({})).await;

    let problem = expect_problem(response, 400, "E007").await;
    assert_eq!(problem.field_names(), names(&["refresh"]));
    app.stop().await;
}

// --- request ids ----------------------------------------------------------------------

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = app().await;

    let health = app.get("/healthz").await;
    let created = app.register_response(&unique_email(), PASSWORD).await;
    let not_found = app.get("/api/v1/nope").await;
    let unauthorized = app.get("/api/v1/me").await;

    for response in [health, created, not_found, unauthorized] {
        assert!(!request_id(&response).is_empty(), "{}", response.url());
    }
    app.stop().await;
}

#[tokio::test]
async fn each_request_gets_its_own_request_id() {
    let app = app().await;

    let first = request_id(&app.get("/healthz").await);
    let second = request_id(&app.get("/healthz").await);

    assert_ne!(first, second);
    app.stop().await;
}

#[tokio::test]
async fn a_client_supplied_request_id_is_echoed_in_the_header_and_the_error_body() {
    let app = app().await;

    let response = app
        .send(
            app.request(Method::GET, "/api/v1/nope")
                .header(REQUEST_ID, "my-id-123"),
        )
        .await;

    assert_eq!(request_id(&response), "my-id-123");
    let problem = expect_problem(response, 404, "E003").await;
    assert_eq!(problem.request_id(), "my-id-123");
    app.stop().await;
}

#[tokio::test]
async fn a_client_supplied_request_id_is_echoed_on_success_too() {
    let app = app().await;

    let response = app
        .send(
            app.request(Method::POST, "/api/v1/auth/register")
                .header(REQUEST_ID, "my-id-456")
                .json(&json!({"email": unique_email(), "password": PASSWORD})),
        )
        .await;

    assert_eq!(request_id(&response), "my-id-456");
    expect_json(response, 201).await;
    app.stop().await;
}

#[tokio::test]
async fn an_error_body_carries_the_request_id_of_its_header() {
    let app = app().await;

    let response = app.get("/api/v1/me").await;

    let header = request_id(&response);
    let problem = expect_problem(response, 401, "E002").await;
    assert_eq!(problem.request_id(), header);
    app.stop().await;
}

// --- throttling -----------------------------------------------------------------------

/// An anonymous `/api/v1` request that is cheap and answers 401 E009 when not throttled.
async fn anonymous_request(app: &TestApp) -> reqwest::Response {
    app.login_response(&unique_email(), PASSWORD).await
}

#[tokio::test]
async fn the_fourth_anonymous_request_in_an_hour_is_throttled() {
    fourth_anonymous_request_is_throttled(TestDatabase::sqlite().await).await;
}

/// The same through the buckets PostgreSQL keeps for every instance.
#[tokio::test]
async fn the_fourth_anonymous_request_in_an_hour_is_throttled_postgres() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    fourth_anonymous_request_is_throttled(database).await;
}

async fn fourth_anonymous_request_is_throttled(database: TestDatabase) {
    let app = spawn_app_with(database, &["--throttle-anon-per-hour", "3"]).await;
    for _ in 0..3 {
        expect_problem(anonymous_request(&app).await, 401, "E009").await;
    }

    let response = anonymous_request(&app).await;

    let problem = expect_problem(response, 429, "E010").await;
    let retry_after = problem
        .header("retry-after")
        .expect("a Retry-After header")
        .parse::<u64>()
        .expect("Retry-After in whole seconds");
    assert!(retry_after >= 1, "Retry-After: {retry_after}");
    assert!(
        problem.header("ratelimit-policy").is_some(),
        "{:?}",
        problem.headers
    );
    assert!(
        problem.header("ratelimit").is_some(),
        "{:?}",
        problem.headers
    );
    app.stop().await;
}

/// An anonymous login, as if forwarded for `client` by the proxy in front.
async fn forwarded_request(app: &TestApp, header: &str, client: &str) -> reqwest::Response {
    app.client
        .post(format!("http://{}/api/v1/auth/login", app.address))
        .header(header, client)
        .json(&serde_json::json!({"email": unique_email(), "password": PASSWORD}))
        .send()
        .await
        .expect("the request is sent")
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget() {
    // The test client connects from 127.0.0.1: here, the trusted proxy.
    let app = spawn_app_with(
        TestDatabase::sqlite().await,
        &[
            "--throttle-anon-per-hour",
            "2",
            "--trusted-proxies",
            "127.0.0.1/32,::1",
        ],
    )
    .await;
    for _ in 0..2 {
        let response = forwarded_request(&app, "x-forwarded-for", "198.51.100.7").await;
        expect_problem(response, 401, "E009").await;
    }
    let third = forwarded_request(&app, "x-forwarded-for", "198.51.100.7").await;
    expect_problem(third, 429, "E010").await;
    // Another client behind the same proxy, in either header, is not held back; a client
    // that writes its own claim to the left is still counted by the address the proxy saw.
    let other = forwarded_request(&app, "forwarded", "for=\"[2001:db8::7]:4711\"").await;
    expect_problem(other, 401, "E009").await;
    let claimed = forwarded_request(&app, "x-forwarded-for", "203.0.113.9, 198.51.100.7").await;
    expect_problem(claimed, 429, "E010").await;
    app.stop().await;
}

#[tokio::test]
async fn without_trusted_proxies_forwarding_headers_change_nothing() {
    let app = spawn_app_with(
        TestDatabase::sqlite().await,
        &["--throttle-anon-per-hour", "2"],
    )
    .await;
    for client in ["198.51.100.1", "198.51.100.2"] {
        let response = forwarded_request(&app, "x-forwarded-for", client).await;
        expect_problem(response, 401, "E009").await;
    }
    // A third "client" is the same TCP peer: throttled.
    let third = forwarded_request(&app, "x-forwarded-for", "198.51.100.3").await;
    expect_problem(third, 429, "E010").await;
    app.stop().await;
}

#[tokio::test]
async fn healthz_is_never_throttled() {
    let app = spawn_app_with(
        TestDatabase::sqlite().await,
        &["--throttle-anon-per-hour", "3"],
    )
    .await;

    for _ in 0..10 {
        assert_eq!(app.get("/healthz").await.status(), 200);
    }

    // Nor did the probes spend the API's budget.
    for _ in 0..3 {
        expect_problem(anonymous_request(&app).await, 401, "E009").await;
    }
    app.stop().await;
}

#[tokio::test]
async fn a_throttled_user_does_not_hold_back_another_user() {
    let app = spawn_app_with(
        TestDatabase::sqlite().await,
        &["--throttle-user-per-hour", "2"],
    )
    .await;
    let greedy = app.signed_in_user().await;
    let patient = app.signed_in_user().await;
    for _ in 0..2 {
        expect_json(app.me(&greedy.tokens.access).await, 200).await;
    }

    let throttled = app.me(&greedy.tokens.access).await;
    let served = app.me(&patient.tokens.access).await;

    expect_problem(throttled, 429, "E010").await;
    expect_json(served, 200).await;
    app.stop().await;
}

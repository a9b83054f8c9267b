//! Uploads straight to the (embedded, SigV4-checking) object store, confirmation, quota.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use integration_tests::app::{SignedIn, expect_json};
use integration_tests::problem::expect_problem;
use integration_tests::upload_client::labelled_pdf;
use integration_tests::{TestApp, spawn_app, spawn_app_with};
use serde_json::{Value, json};
use testkit::TestDatabase;

async fn request_upload(
    app: &TestApp,
    user: &SignedIn,
    filename: &str,
    size: usize,
) -> reqwest::Response {
    let body = json!({"filename": filename, "size": size, "mime_type": "application/pdf"});
    app.send(
        app.request(reqwest::Method::POST, "/api/v1/files/upload-url")
            .bearer_auth(&user.tokens.access)
            .json(&body),
    )
    .await
}

/// PUTs `bytes` exactly as a client would: the URL and the signed headers it was given.
async fn put_object(ticket: &Value, bytes: Vec<u8>) -> reqwest::Response {
    let mut request = reqwest::Client::new().put(ticket["upload_url"].as_str().unwrap());
    for (name, value) in ticket["headers"].as_object().unwrap() {
        request = request.header(name.as_str(), value.as_str().unwrap());
    }
    request.body(bytes).send().await.unwrap()
}

async fn confirm(
    app: &TestApp,
    user: &SignedIn,
    upload_id: &str,
    title: &str,
) -> reqwest::Response {
    app.send(
        app.request(reqwest::Method::POST, "/api/v1/scores")
            .bearer_auth(&user.tokens.access)
            .json(&json!({"upload_id": upload_id, "title": title, "composer": "Bartók", "tags": ["piano"]})),
    )
    .await
}

async fn quota(app: &TestApp, user: &SignedIn) -> Value {
    expect_json(
        app.get_authed("/api/v1/quota", &user.tokens.access).await,
        200,
    )
    .await
}

/// upload-url → PUT → confirm; answers the upload id.
async fn upload_pdf(app: &TestApp, user: &SignedIn, bytes: Vec<u8>) -> String {
    let ticket = expect_json(
        request_upload(app, user, "score.pdf", bytes.len()).await,
        201,
    )
    .await;
    assert_eq!(put_object(&ticket, bytes).await.status(), 200);
    let upload_id = ticket["upload_id"].as_str().unwrap().to_owned();
    expect_json(confirm(app, user, &upload_id, "Mikrokosmos").await, 201).await;
    upload_id
}

async fn upload_confirm_download_round_trip(app: TestApp) {
    let user = app.signed_in_user().await;
    let bytes = labelled_pdf("round trip");

    let ticket = expect_json(
        request_upload(&app, &user, "Sonate für Klavier.pdf", bytes.len()).await,
        201,
    )
    .await;
    assert_eq!(ticket["method"], "PUT");
    assert_eq!(quota(&app, &user).await["reserved_bytes"], bytes.len());
    assert_eq!(put_object(&ticket, bytes.clone()).await.status(), 200);
    let upload_id = ticket["upload_id"].as_str().unwrap();
    let score = expect_json(confirm(&app, &user, upload_id, "Sonate").await, 201).await;
    assert_eq!(score["id"], upload_id);
    assert_eq!(score["title"], "Sonate");
    assert_eq!(score["composer"], "Bartók");
    assert_eq!(score["file"]["size_bytes"], bytes.len());
    assert_eq!(score["file"]["filename"], "Sonate für Klavier.pdf");
    assert_eq!(score["processing"]["status"], "pending");

    // Read-your-writes: the bytes are used as soon as the confirmation answered.
    let after = quota(&app, &user).await;
    assert_eq!(
        (
            after["used_bytes"].as_u64(),
            after["reserved_bytes"].as_u64()
        ),
        (Some(bytes.len() as u64), Some(0))
    );

    let link = expect_json(
        app.get_authed(
            &format!("/api/v1/scores/{upload_id}/file?redirect=false"),
            &user.tokens.access,
        )
        .await,
        200,
    )
    .await;
    let download = reqwest::get(link["url"].as_str().unwrap()).await.unwrap();
    assert_eq!(download.status(), 200);
    let disposition = download.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.contains("filename*=UTF-8''Sonate%20f%C3%BCr%20Klavier.pdf"),
        "{disposition}"
    );
    assert_eq!(download.bytes().await.unwrap().to_vec(), bytes);

    let redirect = app
        .send(
            app.request(
                reqwest::Method::GET,
                &format!("/api/v1/scores/{upload_id}/file"),
            )
            .bearer_auth(&user.tokens.access),
        )
        .await;
    // reqwest follows the 302 to the presigned URL.
    assert_eq!(redirect.bytes().await.unwrap().to_vec(), bytes);
    app.stop().await;
}

#[tokio::test]
async fn an_upload_confirmed_and_downloaded_returns_the_same_bytes_on_sqlite() {
    upload_confirm_download_round_trip(spawn_app(TestDatabase::sqlite().await).await).await;
}

#[tokio::test]
async fn an_upload_confirmed_and_downloaded_returns_the_same_bytes_on_postgres() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    upload_confirm_download_round_trip(spawn_app(database).await).await;
}

#[tokio::test]
async fn confirming_before_the_put_is_e012_and_the_upload_stays_open() {
    let app = spawn_app(TestDatabase::sqlite().await).await;
    let user = app.signed_in_user().await;
    let bytes = labelled_pdf("early");
    let ticket = expect_json(
        request_upload(&app, &user, "early.pdf", bytes.len()).await,
        201,
    )
    .await;
    let upload_id = ticket["upload_id"].as_str().unwrap();

    expect_problem(confirm(&app, &user, upload_id, "Early").await, 409, "E012").await;

    assert_eq!(put_object(&ticket, bytes).await.status(), 200);
    expect_json(confirm(&app, &user, upload_id, "Early").await, 201).await;
    app.stop().await;
}

#[tokio::test]
async fn a_png_declared_as_pdf_is_refused_and_ends_the_upload() {
    let app = spawn_app(TestDatabase::sqlite().await).await;
    let user = app.signed_in_user().await;
    let png = b"\x89PNG\r\n\x1a\n0000000000000000000000000000".to_vec();
    let ticket = expect_json(
        request_upload(&app, &user, "photo.pdf", png.len()).await,
        201,
    )
    .await;
    assert_eq!(put_object(&ticket, png).await.status(), 200);
    let upload_id = ticket["upload_id"].as_str().unwrap();

    expect_problem(confirm(&app, &user, upload_id, "Photo").await, 400, "E004").await;

    let after = quota(&app, &user).await;
    assert_eq!(
        after["reserved_bytes"], 0,
        "reservation released (rejected)"
    );
    // The upload is over: confirming again finds nothing, and the object is gone.
    expect_problem(confirm(&app, &user, upload_id, "Photo").await, 404, "E003").await;
    let object = app
        .data_dir
        .join("objects")
        .join("scoremate")
        .join(user.id.clone());
    let leftovers = walk(&object);
    assert!(
        leftovers.iter().all(|path| !path.ends_with("original.pdf")),
        "{leftovers:?}"
    );
    let staged = walk(
        &app.data_dir
            .join("objects")
            .join("scoremate")
            .join("uploads")
            .join(&user.id),
    );
    assert_eq!(
        staged,
        Vec::<String>::new(),
        "the staged bytes are gone too"
    );
    app.stop().await;
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .flat_map(|entry| {
            let path = entry.path();
            if path.is_dir() {
                walk(&path)
            } else {
                vec![path.display().to_string()]
            }
        })
        .collect()
}

#[tokio::test]
async fn an_upload_past_its_deadline_is_expired_and_its_reservation_freed() {
    let app = spawn_app(TestDatabase::sqlite().await).await;
    let user = app.signed_in_user().await;
    let bytes = labelled_pdf("late");
    let ticket = expect_json(
        request_upload(&app, &user, "late.pdf", bytes.len()).await,
        201,
    )
    .await;
    assert_eq!(put_object(&ticket, bytes).await.status(), 200);
    let upload_id = ticket["upload_id"].as_str().unwrap();

    // The expiry timer runs as of a later instant instead of the test waiting for it.
    app.run_processors_until_idle_at(chrono::Utc::now() + chrono::Duration::minutes(10))
        .await;

    expect_problem(confirm(&app, &user, upload_id, "Late").await, 410, "E013").await;
    assert_eq!(quota(&app, &user).await["reserved_bytes"], 0);
    app.stop().await;
}

#[tokio::test]
async fn another_users_upload_is_not_found() {
    let app = spawn_app(TestDatabase::sqlite().await).await;
    let owner = app.signed_in_user().await;
    let stranger = app.signed_in_user().await;
    let bytes = labelled_pdf("private");
    let ticket = expect_json(
        request_upload(&app, &owner, "private.pdf", bytes.len()).await,
        201,
    )
    .await;
    assert_eq!(put_object(&ticket, bytes).await.status(), 200);
    let upload_id = ticket["upload_id"].as_str().unwrap();

    expect_problem(
        confirm(&app, &stranger, upload_id, "Mine now").await,
        404,
        "E003",
    )
    .await;
    let cancel = app
        .send(
            app.request(
                reqwest::Method::DELETE,
                &format!("/api/v1/files/uploads/{upload_id}"),
            )
            .bearer_auth(&stranger.tokens.access),
        )
        .await;
    expect_problem(cancel, 404, "E003").await;

    expect_json(confirm(&app, &owner, upload_id, "Still mine").await, 201).await;
    let file = app
        .get_authed(
            &format!("/api/v1/scores/{upload_id}/file?redirect=false"),
            &stranger.tokens.access,
        )
        .await;
    expect_problem(file, 404, "E003").await;
    app.stop().await;
}

#[tokio::test]
async fn reaching_the_quota_exactly_is_allowed_and_one_byte_more_is_refused() {
    let app = spawn_app_with(
        TestDatabase::sqlite().await,
        &["--default-quota-bytes", "1000"],
    )
    .await;
    let user = app.signed_in_user().await;
    expect_json(request_upload(&app, &user, "a.pdf", 600).await, 201).await;
    expect_problem(request_upload(&app, &user, "b.pdf", 401).await, 413, "E001").await;
    expect_json(request_upload(&app, &user, "c.pdf", 400).await, 201).await;
    assert_eq!(quota(&app, &user).await["available_bytes"], 0);
    app.stop().await;
}

#[tokio::test]
async fn twenty_concurrent_upload_requests_of_a_tenth_of_the_quota_admit_exactly_ten() {
    let app = Arc::new(
        spawn_app_with(
            TestDatabase::sqlite().await,
            &["--default-quota-bytes", "10000"],
        )
        .await,
    );
    let user = Arc::new(app.signed_in_user().await);
    let requests: Vec<_> = (0..20)
        .map(|index| {
            let (app, user) = (Arc::clone(&app), Arc::clone(&user));
            tokio::spawn(async move {
                request_upload(&app, &user, &format!("{index}.pdf"), 1000)
                    .await
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for request in requests {
        statuses.push(request.await.unwrap());
    }
    statuses.sort_unstable();
    assert_eq!(
        statuses.iter().filter(|status| **status == 201).count(),
        10,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|status| **status == 413).count(),
        10,
        "{statuses:?}"
    );
    assert_eq!(quota(&app, &user).await["reserved_bytes"], 10000);
    drop(user);
    if let Ok(app) = Arc::try_unwrap(app) {
        app.stop().await;
    }
}

#[tokio::test]
async fn invalid_upload_requests_name_every_bad_field() {
    let app = spawn_app_with(
        TestDatabase::sqlite().await,
        &["--max-upload-bytes", "5000"],
    )
    .await;
    let user = app.signed_in_user().await;
    let bad = json!({"filename": "../x\u{0007}", "size": 0, "sha256": "ABC"});
    let response = app
        .send(
            app.request(reqwest::Method::POST, "/api/v1/files/upload-url")
                .bearer_auth(&user.tokens.access)
                .json(&bad),
        )
        .await;
    let problem = expect_problem(response, 400, "E007").await;
    let fields: Vec<_> = problem.field_names().into_iter().collect();
    assert_eq!(fields, ["filename", "mime_type", "sha256", "size"]);

    expect_problem(
        request_upload(&app, &user, "big.pdf", 5001).await,
        413,
        "E014",
    )
    .await;
    let png = json!({"filename": "x.png", "size": 10, "mime_type": "image/png"});
    let response = app
        .send(
            app.request(reqwest::Method::POST, "/api/v1/files/upload-url")
                .bearer_auth(&user.tokens.access)
                .json(&png),
        )
        .await;
    expect_problem(response, 400, "E004").await;
    app.stop().await;
}

#[tokio::test]
async fn cancelling_frees_the_reservation_and_a_confirmed_upload_cannot_be_cancelled() {
    let app = spawn_app(TestDatabase::sqlite().await).await;
    let user = app.signed_in_user().await;
    let ticket = expect_json(request_upload(&app, &user, "gone.pdf", 100).await, 201).await;
    let cancel = |id: String| {
        app.request(
            reqwest::Method::DELETE,
            &format!("/api/v1/files/uploads/{id}"),
        )
        .bearer_auth(&user.tokens.access)
    };
    let response = app
        .send(cancel(ticket["upload_id"].as_str().unwrap().to_owned()))
        .await;
    assert_eq!(response.status(), 204);
    assert_eq!(quota(&app, &user).await["reserved_bytes"], 0);

    let confirmed = upload_pdf(&app, &user, labelled_pdf("kept")).await;
    expect_problem(app.send(cancel(confirmed)).await, 409, "E008").await;
    app.stop().await;
}

#[tokio::test]
async fn deleting_a_score_frees_its_bytes_at_once_and_its_file_shortly_after() {
    let app = spawn_app(TestDatabase::sqlite().await).await;
    let user = app.signed_in_user().await;
    let score_id = upload_pdf(&app, &user, labelled_pdf("delete me")).await;
    let used = quota(&app, &user).await["used_bytes"].as_u64().unwrap();
    assert!(used > 0);

    let delete = app
        .send(
            app.request(
                reqwest::Method::DELETE,
                &format!("/api/v1/scores/{score_id}"),
            )
            .bearer_auth(&user.tokens.access),
        )
        .await;
    assert_eq!(delete.status(), 204);
    assert_eq!(quota(&app, &user).await["used_bytes"], 0);
    let file = app
        .get_authed(
            &format!("/api/v1/scores/{score_id}/file"),
            &user.tokens.access,
        )
        .await;
    expect_problem(file, 404, "E003").await;

    app.run_processors_until_idle().await;
    let left = walk(&app.data_dir.join("objects"));
    assert!(
        left.iter()
            .all(|path| !path.contains(&score_id) || path.contains(".s3s")),
        "{left:?}"
    );
    // Deleting twice: the score is gone.
    let again = app
        .send(
            app.request(
                reqwest::Method::DELETE,
                &format!("/api/v1/scores/{score_id}"),
            )
            .bearer_auth(&user.tokens.access),
        )
        .await;
    expect_problem(again, 404, "E003").await;
    app.stop().await;
}

#[tokio::test]
async fn the_quota_history_lists_every_change_with_running_balances() {
    let app = spawn_app_with(
        TestDatabase::sqlite().await,
        &["--default-quota-bytes", "100000"],
    )
    .await;
    let user = app.signed_in_user().await;
    let bytes = labelled_pdf("history");
    let score_id = upload_pdf(&app, &user, bytes.clone()).await;
    let cancelled = expect_json(request_upload(&app, &user, "gone.pdf", 50).await, 201).await;
    let cancel = app
        .request(
            reqwest::Method::DELETE,
            &format!(
                "/api/v1/files/uploads/{}",
                cancelled["upload_id"].as_str().unwrap()
            ),
        )
        .bearer_auth(&user.tokens.access);
    assert_eq!(app.send(cancel).await.status(), 204);

    let history = expect_json(
        app.get_authed("/api/v1/quota/history", &user.tokens.access)
            .await,
        200,
    )
    .await;
    let events: Vec<&str> = history["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        [
            "QuotaLimitSet",
            "QuotaReserved",
            "QuotaConfirmed",
            "QuotaReserved",
            "ReservationReleased"
        ]
    );
    assert_eq!(history["count"], 5);
    let confirmed = &history["results"][2];
    assert_eq!(confirmed["score_id"], score_id);
    assert_eq!(confirmed["delta_used_bytes"], bytes.len());
    assert_eq!(confirmed["delta_reserved_bytes"], -(bytes.len() as i64));
    let last = history["results"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    let quota = quota(&app, &user).await;
    assert_eq!(last["used_bytes_after"], quota["used_bytes"]);
    assert_eq!(last["reserved_bytes_after"], quota["reserved_bytes"]);
    assert_eq!(last["limit_bytes_after"], quota["limit_bytes"]);

    let page = expect_json(
        app.get_authed(
            "/api/v1/quota/history?page=2&page_size=2",
            &user.tokens.access,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(page["results"].as_array().unwrap().len(), 2);
    assert!(
        page["next"]
            .as_str()
            .unwrap()
            .ends_with("/api/v1/quota/history?page=3&page_size=2")
    );
    assert!(page["previous"].as_str().unwrap().starts_with("http://"));
    expect_problem(
        app.get_authed("/api/v1/quota/history?page=9", &user.tokens.access)
            .await,
        404,
        "E003",
    )
    .await;
    expect_problem(
        app.get_authed("/api/v1/quota/history?page_size=0", &user.tokens.access)
            .await,
        400,
        "E007",
    )
    .await;
    let capped = expect_json(
        app.get_authed("/api/v1/quota/history?page_size=500", &user.tokens.access)
            .await,
        200,
    )
    .await;
    assert!(capped["next"].is_null());
    app.stop().await;
}

#[tokio::test]
async fn patching_a_score_honours_if_match() {
    let app = spawn_app(TestDatabase::sqlite().await).await;
    let user = app.signed_in_user().await;
    let score_id = upload_pdf(&app, &user, labelled_pdf("patch")).await;
    let patch = |body: Value, if_match: Option<&str>, token: &str| {
        let mut request = app
            .request(
                reqwest::Method::PATCH,
                &format!("/api/v1/scores/{score_id}"),
            )
            .bearer_auth(token)
            .json(&body);
        if let Some(version) = if_match {
            request = request.header("if-match", version);
        }
        app.send(request)
    };

    let response = patch(
        json!({"title": "Neuer Titel", "composer": null}),
        Some("\"2\""),
        &user.tokens.access,
    )
    .await;
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let changed = expect_json(response, 200).await;
    assert_eq!(changed["title"], "Neuer Titel");
    assert!(changed["composer"].is_null(), "null clears");
    assert_eq!(changed["tags"], json!(["piano"]), "absent fields stay");
    assert_eq!(etag, format!("\"{}\"", changed["version"]));

    expect_problem(
        patch(
            json!({"title": "Stale"}),
            Some("\"2\""),
            &user.tokens.access,
        )
        .await,
        412,
        "E011",
    )
    .await;
    let stranger = app.signed_in_user().await;
    expect_problem(
        patch(json!({"title": "Mine"}), None, &stranger.tokens.access).await,
        404,
        "E003",
    )
    .await;
    expect_problem(
        patch(json!({"rating": 9}), None, &user.tokens.access).await,
        400,
        "E007",
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn a_retry_with_the_same_idempotency_key_gets_the_first_answer() {
    let app = spawn_app(TestDatabase::sqlite().await).await;
    let user = app.signed_in_user().await;
    let body = json!({"filename": "once.pdf", "size": 100, "mime_type": "application/pdf"});
    let post = |body: Value| {
        app.send(
            app.request(reqwest::Method::POST, "/api/v1/files/upload-url")
                .bearer_auth(&user.tokens.access)
                .header("idempotency-key", "retry-1")
                .json(&body),
        )
    };
    let first = expect_json(post(body.clone()).await, 201).await;
    let second = expect_json(post(body.clone()).await, 201).await;
    assert_eq!(first, second, "the first answer, replayed");
    assert_eq!(
        quota(&app, &user).await["reserved_bytes"],
        100,
        "reserved once"
    );

    let other = json!({"filename": "other.pdf", "size": 100, "mime_type": "application/pdf"});
    expect_problem(post(other).await, 422, "E007").await;
    app.stop().await;
}

//! SHA-256 verified and used (issue #21): a confirmation hashes the stored bytes (and
//! refuses bytes other than the declared ones), the score view shows the hash, an upload
//! of a file the caller already has is refused with 409 E015 naming the score (nothing
//! reserved) unless `on_duplicate=allow`, and the library finds copies by hash. On the
//! embedded store (SQLite and PostgreSQL) and on a second S3 implementation (moto).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aggregates::{Bytes, Score, ScoreCommand, ScoreMetadata, UploadId, UserId};
use eventstore::{Actor, AggregateStore, EventMetadata, RetryPolicy, Storage};
use integration_tests::app::{SignedIn, expect_json};
use integration_tests::problem::expect_problem;
use integration_tests::upload_client::{Ticket, UploadClient, labelled_pdf};
use integration_tests::{MotoServer, TestApp, spawn_app};
use serde_json::{Value, json};
use sha2::Digest;
use testkit::TestDatabase;

fn sha256(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// `POST /files/upload-url` for `bytes` with extra fields (`sha256`, `on_duplicate`).
async fn upload_url(
    app: &TestApp,
    user: &SignedIn,
    bytes: &[u8],
    extra: Value,
) -> reqwest::Response {
    let mut body =
        json!({"filename": "score.pdf", "size": bytes.len(), "mime_type": "application/pdf"});
    for (name, value) in extra.as_object().unwrap() {
        body[name] = value.clone();
    }
    app.send(
        app.request(reqwest::Method::POST, "/api/v1/files/upload-url")
            .bearer_auth(&user.tokens.access)
            .json(&body),
    )
    .await
}

/// upload-url (with `extra`) → PUT of `put` → confirmation: the confirmation's answer.
async fn upload(
    app: &TestApp,
    user: &SignedIn,
    declared: &[u8],
    put: &[u8],
    extra: Value,
) -> (Ticket, reqwest::Response) {
    let client = UploadClient {
        app,
        access: &user.tokens.access,
    };
    let answer = expect_json(upload_url(app, user, declared, extra).await, 201).await;
    let ticket = Ticket::from_answer(&integration_tests::upload_client::Answer {
        status: 201,
        code: None,
        body: answer,
    });
    assert_eq!(client.put_object(&ticket, put.to_vec()).await, 200);
    let confirmed = app
        .send(
            app.request(reqwest::Method::POST, "/api/v1/scores")
                .bearer_auth(&user.tokens.access)
                .json(&json!({"upload_id": ticket.upload_id, "title": "A score"})),
        )
        .await;
    (ticket, confirmed)
}

async fn quota(app: &TestApp, user: &SignedIn) -> integration_tests::upload_client::QuotaBalance {
    UploadClient {
        app,
        access: &user.tokens.access,
    }
    .quota()
    .await
}

async fn get(app: &TestApp, user: &SignedIn, path: &str) -> Value {
    expect_json(app.get_authed(path, &user.tokens.access).await, 200).await
}

fn ids(scores: &Value) -> Vec<&str> {
    scores
        .as_array()
        .unwrap()
        .iter()
        .map(|score| score["id"].as_str().unwrap())
        .collect()
}

async fn duplicates_are_refused_named_and_listed(app: TestApp) {
    let user = app.signed_in_user().await;
    let first_bytes = labelled_pdf("first");
    let first_hash = sha256(&first_bytes);

    // Declared and verified: the view shows the hash.
    let (_, first) = upload(
        &app,
        &user,
        &first_bytes,
        &first_bytes,
        json!({"sha256": first_hash}),
    )
    .await;
    let first = expect_json(first, 201).await;
    assert_eq!(first["file"]["sha256"], first_hash, "{first}");
    let first_id = first["id"].as_str().unwrap().to_owned();

    // The same bytes again: refused, naming the score, nothing reserved.
    let before = quota(&app, &user).await;
    let refused = upload_url(&app, &user, &first_bytes, json!({"sha256": first_hash})).await;
    let problem = expect_problem(refused, 409, "E015").await;
    assert_eq!(
        problem.body["existing_score_id"], first_id,
        "{:?}",
        problem.body
    );
    assert!(
        problem.body["message"]
            .as_str()
            .unwrap()
            .contains(&first_id)
    );
    assert_eq!(
        quota(&app, &user).await,
        before,
        "a refused duplicate reserves nothing"
    );

    // Unless asked to keep both.
    let (_, second) = upload(
        &app,
        &user,
        &first_bytes,
        &first_bytes,
        json!({"sha256": first_hash, "on_duplicate": "allow"}),
    )
    .await;
    let second = expect_json(second, 201).await;
    let second_id = second["id"].as_str().unwrap().to_owned();

    // Not declared: hashed at confirmation all the same.
    let other_bytes = labelled_pdf("other");
    let (_, other) = upload(&app, &user, &other_bytes, &other_bytes, json!({})).await;
    let other = expect_json(other, 201).await;
    assert_eq!(other["file"]["sha256"], sha256(&other_bytes), "{other}");
    let listed = get(
        &app,
        &user,
        &format!("/api/v1/scores/{}", other["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(listed["file"]["sha256"], sha256(&other_bytes));

    // The library finds copies by hash, and lists the groups.
    let copies = get(&app, &user, &format!("/api/v1/scores?sha256={first_hash}")).await;
    assert_eq!(copies["count"], 2, "{copies}");
    let mut found = ids(&copies["results"]);
    found.sort_unstable();
    let mut expected = vec![first_id.as_str(), second_id.as_str()];
    expected.sort_unstable();
    assert_eq!(found, expected);
    let groups = get(&app, &user, "/api/v1/scores/duplicates").await;
    assert_eq!(groups["groups"].as_array().unwrap().len(), 1, "{groups}");
    assert_eq!(groups["groups"][0]["sha256"], first_hash);
    assert_eq!(
        ids(&groups["groups"][0]["scores"]),
        vec![first_id.as_str(), second_id.as_str()],
        "oldest first"
    );

    // Bytes other than the declared ones: refused with the reason, nothing charged, and
    // the upload stays open for the right bytes.
    let declared = labelled_pdf("declared");
    let wrong = labelled_pdf("delcared"); // same length, other bytes
    assert_eq!(declared.len(), wrong.len());
    let before = quota(&app, &user).await;
    let (ticket, mismatch) = upload(
        &app,
        &user,
        &declared,
        &wrong,
        json!({"sha256": sha256(&declared)}),
    )
    .await;
    let problem = expect_problem(mismatch, 409, "E012").await;
    let message = problem.body["message"].as_str().unwrap();
    assert!(
        message.contains("SHA-256") && message.contains(&sha256(&wrong)),
        "{message}"
    );
    assert_eq!(
        quota(&app, &user).await.used,
        before.used,
        "nothing charged"
    );
    let client = UploadClient {
        app: &app,
        access: &user.tokens.access,
    };
    assert_eq!(client.put_object(&ticket, declared.clone()).await, 200);
    let retried = client.confirm(&ticket.upload_id, "Declared").await;
    assert_eq!(retried.status, 201, "{retried:?}");
    assert_eq!(retried.body["file"]["sha256"], sha256(&declared));

    // Another user's library is another matter.
    let stranger = app.signed_in_user().await;
    let theirs = upload_url(&app, &stranger, &first_bytes, json!({"sha256": first_hash})).await;
    assert_eq!(theirs.status(), 201);
    let none = get(&app, &stranger, "/api/v1/scores/duplicates").await;
    assert_eq!(none["groups"], json!([]));
    let none = get(
        &app,
        &stranger,
        &format!("/api/v1/scores?sha256={first_hash}"),
    )
    .await;
    assert_eq!(none["count"], 0);

    // Once one copy is deleted there are no duplicates, and the other is the one named.
    let deleted = client.delete_score(&first_id).await;
    assert_eq!(deleted.status, 204, "{deleted:?}");
    let groups = get(&app, &user, "/api/v1/scores/duplicates").await;
    assert_eq!(groups["groups"], json!([]));
    let refused = upload_url(&app, &user, &first_bytes, json!({"sha256": first_hash})).await;
    let problem = expect_problem(refused, 409, "E015").await;
    assert_eq!(problem.body["existing_score_id"], second_id);

    // Malformed: E007 naming the field.
    let bad = upload_url(&app, &user, &first_bytes, json!({"on_duplicate": "maybe"})).await;
    let problem = expect_problem(bad, 400, "E007").await;
    assert!(
        problem.body["fields"]["on_duplicate"].is_array(),
        "{:?}",
        problem.body
    );
    let bad = app
        .get_authed("/api/v1/scores?sha256=ABC", &user.tokens.access)
        .await;
    let problem = expect_problem(bad, 400, "E007").await;
    assert!(
        problem.body["fields"]["sha256"].is_array(),
        "{:?}",
        problem.body
    );
    app.stop().await;
}

#[tokio::test]
async fn duplicates_on_the_embedded_store_sqlite() {
    duplicates_are_refused_named_and_listed(spawn_app(TestDatabase::sqlite().await).await).await;
}

#[tokio::test]
async fn duplicates_on_the_embedded_store_postgres() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    duplicates_are_refused_named_and_listed(spawn_app(database).await).await;
}

#[tokio::test]
async fn duplicates_on_an_external_store() {
    let Some(moto) = MotoServer::start().await else {
        return;
    };
    let app = moto.spawn_app("scoremate-duplicates").await;
    duplicates_are_refused_named_and_listed(app).await;
}

/// A score confirmed before confirmations hashed (its `UploadConfirmed` has no `sha256`)
/// gets its hash from the `file_hash` processor, which reads the stored bytes.
#[tokio::test]
async fn scores_confirmed_without_a_hash_get_one_from_the_processor() {
    let app = spawn_app(TestDatabase::sqlite().await).await;
    let user = app.signed_in_user().await;
    let bytes = labelled_pdf("from before");
    // Real bytes in the store, under an upload's staging key…
    let answer = expect_json(upload_url(&app, &user, &bytes, json!({})).await, 201).await;
    let ticket = Ticket::from_answer(&integration_tests::upload_client::Answer {
        status: 201,
        code: None,
        body: answer,
    });
    let client = UploadClient {
        app: &app,
        access: &user.tokens.access,
    };
    assert_eq!(client.put_object(&ticket, bytes.clone()).await, 200);
    // …and a score whose history is an older server's: requested with that key as its
    // object, confirmed without a hash.
    let owner: UserId = user.id.parse().unwrap();
    let staged = objectstore::upload_staging_key(
        owner.into_uuid(),
        ticket.upload_id.parse::<uuid::Uuid>().unwrap(),
    );
    let scores = AggregateStore::<Score>::new(
        &app.database.database,
        Storage::Events,
        RetryPolicy::default(),
    );
    let old = UploadId::from_uuid(uuid::Uuid::now_v7());
    let metadata = EventMetadata::new(Actor::System, chrono::Utc::now());
    let now = chrono::Utc::now();
    scores
        .execute_new(
            &old.to_string(),
            ScoreCommand::RequestUpload {
                upload_id: old,
                owner,
                filename: "old.pdf".to_owned(),
                size_bytes: Bytes(bytes.len() as u64),
                mime_type: "application/pdf".to_owned(),
                sha256: None,
                object_key: staged,
                expires_at: now + chrono::Duration::minutes(5),
            },
            &metadata,
        )
        .await
        .unwrap();
    scores
        .execute(
            &old.to_string(),
            ScoreCommand::ConfirmUpload {
                user_id: owner,
                now,
                size_bytes: Bytes(bytes.len() as u64),
                etag: "old".to_owned(),
                sha256: None,
                metadata: ScoreMetadata {
                    title: "From before".to_owned(),
                    ..ScoreMetadata::default()
                },
            },
            &metadata,
        )
        .await
        .unwrap();
    app.run_processors_until_idle().await;
    let view = get(&app, &user, &format!("/api/v1/scores/{old}")).await;
    assert_eq!(view["file"]["sha256"], sha256(&bytes), "{view}");
    let found = get(
        &app,
        &user,
        &format!("/api/v1/scores?sha256={}", sha256(&bytes)),
    )
    .await;
    assert_eq!(ids(&found["results"]), vec![old.to_string().as_str()]);
    app.stop().await;
}

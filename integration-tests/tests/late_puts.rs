//! A presigned upload URL stays valid for its whole TTL, whatever happens to the upload
//! meanwhile (issue 15, items 1 and 2). Bytes PUT through it after the upload ended must not
//! stay in the store without a reservation or a score accounting for them, and bytes PUT
//! after the confirmation must never replace what was verified. Against the embedded
//! (SigV4-checking) store, on both backends; `external_s3.rs` does the same on moto.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use integration_tests::upload_client::{Ticket, UploadClient, pdf_bytes_of_size};
use integration_tests::{TestApp, spawn_app, spawn_app_with};
use testkit::TestDatabase;

const SIZE: usize = 90_000;

/// `size` bytes of HTML: what an attacker would like served as `application/pdf`.
fn html_bytes_of_size(size: usize) -> Vec<u8> {
    let mut bytes = b"<html><script>alert(document.cookie)</script>".to_vec();
    bytes.resize(size, b' ');
    bytes
}

/// Every key in the app's (embedded) bucket that mentions `id`: read from the store's
/// folder, so whatever key the server chose is found.
fn keys_holding(app: &TestApp, id: &str) -> Vec<String> {
    let bucket = app.data_dir.join("objects").join("scoremate");
    let mut keys: Vec<String> = walk(&bucket)
        .into_iter()
        .filter_map(|path| {
            path.strip_prefix(&bucket)
                .ok()
                .map(|key| key.display().to_string())
        })
        .filter(|key| key.contains(id))
        .collect();
    keys.sort();
    keys
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
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
                vec![path]
            }
        })
        .collect()
}

async fn ticket(client: &UploadClient<'_>) -> Ticket {
    let answer = client.request_upload("late.pdf", SIZE as u64).await;
    assert_eq!(answer.status, 201, "{answer:?}");
    Ticket::from_answer(&answer)
}

async fn download(app: &TestApp, access: &str, score_id: &str) -> Vec<u8> {
    let link = app
        .get_authed(
            &format!("/api/v1/scores/{score_id}/file?redirect=false"),
            access,
        )
        .await;
    assert_eq!(link.status(), 200);
    let link: serde_json::Value = link.json().await.unwrap();
    let download = reqwest::get(link["url"].as_str().unwrap()).await.unwrap();
    assert_eq!(download.status(), 200);
    download.bytes().await.unwrap().to_vec()
}

/// upload-url → cancel → cleanup → PUT through the old URL → sweep: nothing is left.
async fn bytes_put_after_a_cancel_are_swept(database: TestDatabase) {
    let app = spawn_app(database).await;
    let user = app.signed_in_user().await;
    let client = UploadClient {
        app: &app,
        access: &user.tokens.access,
    };
    let ticket = ticket(&client).await;
    assert_eq!(client.cancel(&ticket.upload_id).await.status, 204);
    app.run_processors_until_idle().await;

    a_late_put_is_swept(&app, &client, &ticket).await;
    app.stop().await;
}

/// After cleanup ran: a PUT through the old URL lands (the URL is valid until its TTL),
/// the next sweep removes it, and the quota accounts for nothing.
async fn a_late_put_is_swept(app: &TestApp, client: &UploadClient<'_>, ticket: &Ticket) {
    let late = client.put_object(ticket, pdf_bytes_of_size(SIZE)).await;
    assert_eq!(
        late, 200,
        "the store takes the PUT: the URL is valid until its TTL"
    );
    assert!(
        !keys_holding(app, &ticket.upload_id).is_empty(),
        "the late bytes landed somewhere"
    );
    app.run_processors_until_idle().await;

    assert_eq!(
        keys_holding(app, &ticket.upload_id),
        Vec::<String>::new(),
        "no byte of the ended upload may stay"
    );
    let quota = client.quota().await;
    assert_eq!((quota.used, quota.reserved), (0, 0));
}

#[tokio::test]
async fn bytes_put_through_the_url_of_a_cancelled_upload_are_swept_on_sqlite() {
    bytes_put_after_a_cancel_are_swept(TestDatabase::sqlite().await).await;
}

#[tokio::test]
async fn bytes_put_through_the_url_of_a_cancelled_upload_are_swept_on_postgres() {
    if let Some(database) = TestDatabase::postgres().await {
        bytes_put_after_a_cancel_are_swept(database).await;
    }
}

/// upload → confirm → delete the score → cleanup → PUT through the old URL → sweep.
async fn bytes_put_after_a_delete_are_swept(database: TestDatabase) {
    let app = spawn_app(database).await;
    let user = app.signed_in_user().await;
    let client = UploadClient {
        app: &app,
        access: &user.tokens.access,
    };
    let ticket = ticket(&client).await;
    assert_eq!(
        client.put_object(&ticket, pdf_bytes_of_size(SIZE)).await,
        200
    );
    let confirmed = client.confirm(&ticket.upload_id, "Gone soon").await;
    assert_eq!(confirmed.status, 201, "{confirmed:?}");
    assert_eq!(client.delete_score(&ticket.upload_id).await.status, 204);
    app.run_processors_until_idle().await;

    a_late_put_is_swept(&app, &client, &ticket).await;
    app.stop().await;
}

#[tokio::test]
async fn bytes_put_through_the_url_of_a_deleted_score_are_swept_on_sqlite() {
    bytes_put_after_a_delete_are_swept(TestDatabase::sqlite().await).await;
}

#[tokio::test]
async fn bytes_put_through_the_url_of_a_deleted_score_are_swept_on_postgres() {
    if let Some(database) = TestDatabase::postgres().await {
        bytes_put_after_a_delete_are_swept(database).await;
    }
}

/// upload → confirm → PUT other bytes of the same size through the same URL: the score
/// still serves what was verified, and the sweep removes the late bytes.
async fn confirmed_bytes_cannot_be_replaced(database: TestDatabase) {
    let app = spawn_app(database).await;
    let user = app.signed_in_user().await;
    let client = UploadClient {
        app: &app,
        access: &user.tokens.access,
    };
    let original = pdf_bytes_of_size(SIZE);
    let ticket = ticket(&client).await;
    assert_eq!(client.put_object(&ticket, original.clone()).await, 200);
    let confirmed = client.confirm(&ticket.upload_id, "Verified").await;
    assert_eq!(confirmed.status, 201, "{confirmed:?}");

    let replacement = client.put_object(&ticket, html_bytes_of_size(SIZE)).await;
    assert_eq!(
        replacement, 200,
        "the store takes the PUT: the URL is valid until its TTL"
    );
    let served = download(&app, &user.tokens.access, &ticket.upload_id).await;
    assert!(
        served == original,
        "the download serves other bytes than those verified: {:?}…",
        String::from_utf8_lossy(&served[..served.len().min(48)])
    );

    app.run_processors_until_idle().await;
    let keys = keys_holding(&app, &ticket.upload_id);
    assert!(
        keys.iter().all(|key| !key.starts_with("uploads/")),
        "the late bytes should be swept: {keys:?}"
    );
    assert_eq!(
        download(&app, &user.tokens.access, &ticket.upload_id).await,
        original
    );
    let quota = client.quota().await;
    assert_eq!((quota.used, quota.reserved), (SIZE as u64, 0));
    app.stop().await;
}

#[tokio::test]
async fn confirmed_bytes_cannot_be_replaced_through_the_upload_url_on_sqlite() {
    confirmed_bytes_cannot_be_replaced(TestDatabase::sqlite().await).await;
}

#[tokio::test]
async fn confirmed_bytes_cannot_be_replaced_through_the_upload_url_on_postgres() {
    if let Some(database) = TestDatabase::postgres().await {
        confirmed_bytes_cannot_be_replaced(database).await;
    }
}

/// The sweep keeps what an open upload accounts for: bytes PUT, then a sweep, then the
/// confirmation still finds them.
async fn the_sweep_keeps_the_bytes_of_an_open_upload(database: TestDatabase) {
    let app = spawn_app(database).await;
    let user = app.signed_in_user().await;
    let client = UploadClient {
        app: &app,
        access: &user.tokens.access,
    };
    let bytes = pdf_bytes_of_size(SIZE);
    let ticket = ticket(&client).await;
    assert_eq!(client.put_object(&ticket, bytes.clone()).await, 200);
    app.run_processors_until_idle().await;

    let confirmed = client.confirm(&ticket.upload_id, "Kept").await;
    assert_eq!(confirmed.status, 201, "{confirmed:?}");
    assert_eq!(
        download(&app, &user.tokens.access, &ticket.upload_id).await,
        bytes
    );
    app.stop().await;
}

#[tokio::test]
async fn the_sweep_keeps_the_bytes_of_an_open_upload_on_sqlite() {
    the_sweep_keeps_the_bytes_of_an_open_upload(TestDatabase::sqlite().await).await;
}

#[tokio::test]
async fn the_sweep_keeps_the_bytes_of_an_open_upload_on_postgres() {
    if let Some(database) = TestDatabase::postgres().await {
        the_sweep_keeps_the_bytes_of_an_open_upload(database).await;
    }
}

/// Objects in the uploads area that no upload accounts for (an id never requested, a key
/// the server never signs) are swept as well.
#[tokio::test]
async fn staged_objects_without_an_upload_are_swept() {
    let app = spawn_app(TestDatabase::sqlite().await).await;
    let user = app.signed_in_user().await;
    let never_requested = uuid::Uuid::now_v7().to_string();
    let uploads = app
        .data_dir
        .join("objects")
        .join("scoremate")
        .join("uploads");
    let stray = [
        uploads.join(&user.id).join(&never_requested),
        uploads
            .join(&user.id)
            .join(format!("{never_requested}.pdf")),
        uploads.join(format!("not-a-user-{never_requested}")),
    ];
    for path in &stray {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"%PDF-1.4\n%stray\n").unwrap();
    }
    assert_eq!(keys_holding(&app, &never_requested).len(), 3);

    app.run_processors_until_idle().await;

    assert_eq!(keys_holding(&app, &never_requested), Vec::<String>::new());
    app.stop().await;
}

/// Two confirmations of one upload at once: they take turns, so exactly one confirms and
/// the other is told it is confirmed already; and many confirmations of different uploads
/// at once (more than the database pool holds) all get through.
async fn confirmations_take_turns_per_upload(database: TestDatabase) {
    let app = Arc::new(spawn_app_with(database, &["--database-max-connections", "4"]).await);
    let user = app.signed_in_user().await;
    let client = UploadClient {
        app: &app,
        access: &user.tokens.access,
    };
    let bytes = pdf_bytes_of_size(SIZE);
    let once = ticket(&client).await;
    assert_eq!(client.put_object(&once, bytes.clone()).await, 200);

    let (first, second) = tokio::join!(
        client.confirm(&once.upload_id, "Once"),
        client.confirm(&once.upload_id, "Once")
    );
    let mut answers = [first.short(), second.short()];
    answers.sort();
    assert_eq!(answers, ["201", "409 E008"]);
    assert_eq!(
        download(&app, &user.tokens.access, &once.upload_id).await,
        bytes
    );

    let mut confirmations = Vec::new();
    for _ in 0..12 {
        let ticket = ticket(&client).await;
        assert_eq!(client.put_object(&ticket, bytes.clone()).await, 200);
        let (app, access) = (Arc::clone(&app), user.tokens.access.clone());
        confirmations.push(async move {
            let client = UploadClient {
                app: &app,
                access: &access,
            };
            client.confirm(&ticket.upload_id, "Many").await.short()
        });
    }
    let tasks: Vec<_> = confirmations.into_iter().map(tokio::spawn).collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    assert!(answers.iter().all(|answer| answer == "201"), "{answers:?}");
    if let Ok(app) = Arc::try_unwrap(app) {
        app.stop().await;
    }
}

#[tokio::test]
async fn confirmations_take_turns_per_upload_on_sqlite() {
    confirmations_take_turns_per_upload(TestDatabase::sqlite().await).await;
}

#[tokio::test]
async fn confirmations_take_turns_per_upload_on_postgres() {
    if let Some(database) = TestDatabase::postgres().await {
        confirmations_take_turns_per_upload(database).await;
    }
}

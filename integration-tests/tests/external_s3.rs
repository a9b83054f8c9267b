//! Uploads end to end against a second, independent S3 implementation (`moto_server`),
//! so compatibility is not only with our own embedded endpoint: presigned PUT (to the
//! staging key) with the signed headers, confirmation (CopyObject + HEAD + ranged GET),
//! presigned GET, deletion by the cleanup processor, the upload sweep (ListObjectsV2).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use integration_tests::app::{SignedIn, expect_json};
use integration_tests::problem::expect_problem;
use integration_tests::upload_client::labelled_pdf;
use integration_tests::{MotoServer, TestApp};
use serde_json::{Value, json};

const BUCKET: &str = "scoremate-e2e";

async fn request_upload(app: &TestApp, user: &SignedIn, filename: &str, size: usize) -> Value {
    let body = json!({"filename": filename, "size": size, "mime_type": "application/pdf"});
    let response = app
        .send(
            app.request(reqwest::Method::POST, "/api/v1/files/upload-url")
                .bearer_auth(&user.tokens.access)
                .json(&body),
        )
        .await;
    expect_json(response, 201).await
}

/// PUTs `bytes` exactly as a client would: the URL and the signed headers it was given.
async fn put_object(moto: &MotoServer, ticket: &Value, bytes: Vec<u8>) {
    assert_eq!(ticket["method"], "PUT", "{ticket}");
    let url = ticket["upload_url"].as_str().unwrap();
    assert!(
        url.starts_with(&moto.endpoint()),
        "the upload URL should point at moto ({}): {url}",
        moto.endpoint()
    );
    let mut request = reqwest::Client::new().put(url);
    for (name, value) in ticket["headers"].as_object().unwrap() {
        request = request.header(name.as_str(), value.as_str().unwrap());
    }
    let response = request.body(bytes).send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    assert_eq!(
        status,
        200,
        "moto refused the presigned PUT ({ticket}): {text}\n{}",
        moto.log()
    );
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
            .json(&json!({"upload_id": upload_id, "title": title})),
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

#[tokio::test]
async fn an_upload_to_moto_round_trips_and_its_object_is_deleted_with_the_score() {
    let Some(moto) = MotoServer::start().await else {
        return;
    };
    let app = moto.spawn_app(BUCKET).await;
    let user = app.signed_in_user().await;
    let bytes = labelled_pdf("moto round trip");

    let ticket = request_upload(&app, &user, "Sonate für Klavier.pdf", bytes.len()).await;
    let upload_id = ticket["upload_id"].as_str().unwrap().to_owned();
    // Nothing staged yet: moto's CopyObject answers NoSuchKey, the API E012.
    expect_problem(confirm(&app, &user, &upload_id, "Early").await, 409, "E012").await;
    put_object(&moto, &ticket, bytes.clone()).await;
    let staged = format!("uploads/{}/{upload_id}", user.id);
    let key = format!("{}/scores/{upload_id}/original.pdf", user.id);
    assert_eq!(
        keys_holding(&moto, &upload_id).await,
        std::slice::from_ref(&staged),
        "the client's bytes should be staged in moto's bucket"
    );

    let score = expect_json(confirm(&app, &user, &upload_id, "Sonate").await, 201).await;
    assert_eq!(
        keys_holding(&moto, &upload_id).await,
        std::slice::from_ref(&key),
        "the confirmation copies the staged bytes to the score's key (CopyObject on moto)"
    );
    assert_eq!(score["id"], upload_id.as_str());
    assert_eq!(score["file"]["size_bytes"], bytes.len());
    let after = quota(&app, &user).await;
    assert_eq!(
        (
            after["used_bytes"].as_u64(),
            after["reserved_bytes"].as_u64()
        ),
        (Some(bytes.len() as u64), Some(0)),
        "{after}"
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
    let download_url = link["url"].as_str().unwrap().to_owned();
    assert!(download_url.starts_with(&moto.endpoint()), "{download_url}");
    let download = reqwest::get(&download_url).await.unwrap();
    assert_eq!(download.status(), 200, "{}", moto.log());
    let disposition = download
        .headers()
        .get("content-disposition")
        .map(|value| value.to_str().unwrap().to_owned());
    // moto (5.2.1) ignores GetObject's `response-content-disposition` override, which AWS,
    // MinIO and the embedded endpoint honour (checked in `uploads.rs`); where it is sent,
    // it must be ours.
    assert!(
        disposition
            .as_deref()
            .is_none_or(|value| value.contains("filename*=UTF-8''Sonate%20f%C3%BCr%20Klavier.pdf")),
        "{disposition:?}"
    );
    assert_eq!(download.bytes().await.unwrap().to_vec(), bytes);

    let delete = app
        .send(
            app.request(
                reqwest::Method::DELETE,
                &format!("/api/v1/scores/{upload_id}"),
            )
            .bearer_auth(&user.tokens.access),
        )
        .await;
    assert_eq!(delete.status(), 204);
    assert_eq!(quota(&app, &user).await["used_bytes"], 0);

    app.run_processors_until_idle().await;
    let (status, text) = moto.get_object(BUCKET, &key).await;
    assert_eq!(
        status, 404,
        "the deleted score's object should be gone from moto: {text}"
    );
    // Not 404: for a missing key moto compares the presigned URL's
    // `response-content-disposition` with a `Content-Disposition` request header and
    // answers 403 SignatureDoesNotMatch (AWS answers 404, or 403 without s3:ListBucket).
    assert_ne!(
        reqwest::get(&download_url).await.unwrap().status(),
        200,
        "the old download URL should no longer serve the file"
    );
    assert!(
        keys_holding(&moto, &user.id).await.is_empty(),
        "nothing of this user should be left in moto's bucket"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_png_declared_as_pdf_on_moto_is_refused_and_its_object_removed() {
    let Some(moto) = MotoServer::start().await else {
        return;
    };
    let app = moto.spawn_app(BUCKET).await;
    let user = app.signed_in_user().await;
    let png = b"\x89PNG\r\n\x1a\n0000000000000000000000000000".to_vec();

    let ticket = request_upload(&app, &user, "photo.pdf", png.len()).await;
    put_object(&moto, &ticket, png).await;
    let upload_id = ticket["upload_id"].as_str().unwrap();

    expect_problem(confirm(&app, &user, upload_id, "Photo").await, 400, "E004").await;

    assert_eq!(quota(&app, &user).await["reserved_bytes"], 0);
    app.run_processors_until_idle().await;
    assert!(
        keys_holding(&moto, &user.id).await.is_empty(),
        "the refused upload's objects (staged and copied) should be gone from moto"
    );
    app.stop().await;
}

/// Every key in moto's bucket that mentions `id`, wherever the server put it.
async fn keys_holding(moto: &MotoServer, id: &str) -> Vec<String> {
    moto.list_keys(BUCKET, "")
        .await
        .into_iter()
        .filter(|key| key.contains(id))
        .collect()
}

#[tokio::test]
async fn bytes_put_on_moto_through_the_url_of_a_cancelled_upload_are_swept() {
    let Some(moto) = MotoServer::start().await else {
        return;
    };
    let app = moto.spawn_app(BUCKET).await;
    let user = app.signed_in_user().await;
    let bytes = labelled_pdf("cancelled, then PUT anyway");
    let ticket = request_upload(&app, &user, "late.pdf", bytes.len()).await;
    let upload_id = ticket["upload_id"].as_str().unwrap().to_owned();
    let cancel = app
        .request(
            reqwest::Method::DELETE,
            &format!("/api/v1/files/uploads/{upload_id}"),
        )
        .bearer_auth(&user.tokens.access);
    assert_eq!(app.send(cancel).await.status(), 204);
    app.run_processors_until_idle().await;

    put_object(&moto, &ticket, bytes).await;
    assert!(
        !keys_holding(&moto, &upload_id).await.is_empty(),
        "the late bytes landed in moto"
    );
    app.run_processors_until_idle().await;

    assert_eq!(
        keys_holding(&moto, &upload_id).await,
        Vec::<String>::new(),
        "no byte of the cancelled upload may stay in moto"
    );
    let after = quota(&app, &user).await;
    assert_eq!(
        (
            after["used_bytes"].as_u64(),
            after["reserved_bytes"].as_u64()
        ),
        (Some(0), Some(0)),
        "{after}"
    );
    app.stop().await;
}

#[tokio::test]
async fn confirmed_bytes_on_moto_cannot_be_replaced_through_the_upload_url() {
    let Some(moto) = MotoServer::start().await else {
        return;
    };
    let app = moto.spawn_app(BUCKET).await;
    let user = app.signed_in_user().await;
    let original = labelled_pdf("verified");
    let mut html = b"<html><script>alert(document.cookie)</script>".to_vec();
    html.resize(original.len(), b' ');
    let ticket = request_upload(&app, &user, "score.pdf", original.len()).await;
    let upload_id = ticket["upload_id"].as_str().unwrap().to_owned();
    put_object(&moto, &ticket, original.clone()).await;
    expect_json(confirm(&app, &user, &upload_id, "Verified").await, 201).await;

    put_object(&moto, &ticket, html).await;
    let link = expect_json(
        app.get_authed(
            &format!("/api/v1/scores/{upload_id}/file?redirect=false"),
            &user.tokens.access,
        )
        .await,
        200,
    )
    .await;
    let served = reqwest::get(link["url"].as_str().unwrap())
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec();
    assert!(
        served == original,
        "moto serves other bytes than those verified: {:?}…",
        String::from_utf8_lossy(&served[..served.len().min(48)])
    );

    app.run_processors_until_idle().await;
    let keys = keys_holding(&moto, &upload_id).await;
    assert!(
        keys.contains(&format!("{}/scores/{upload_id}/original.pdf", user.id))
            && keys.iter().all(|key| !key.starts_with("uploads/")),
        "the confirmed object stays, the late bytes go: {keys:?}"
    );
    app.stop().await;
}

//! The web page's files over HTTP (the page itself runs in a browser in
//! `scoremate/tests/web_page.rs`): served at `/` and `/app/{file}` with their types, a
//! strict Content-Security-Policy naming the object store, revalidation by `ETag`, and
//! nothing outside the page's folder.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use integration_tests::spawn_app;
use testkit::TestDatabase;

#[tokio::test]
async fn the_page_and_its_files_are_served_under_a_strict_policy() {
    let app = spawn_app(TestDatabase::sqlite().await).await;

    let page = app.get("/").await;
    assert_eq!(page.status(), 200);
    let headers = page.headers().clone();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    let policy = headers["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("script-src 'self';"), "{policy}");
    assert!(!policy.contains("unsafe"), "{policy}");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    // Uploads go straight to the store, so the page may reach it and nothing else.
    let user = app.signed_in_user().await;
    let ticket: serde_json::Value = app
        .client
        .post(app.url("/api/v1/files/upload-url"))
        .bearer_auth(&user.tokens.access)
        .json(&serde_json::json!({"filename": "a.pdf", "size": 10, "mime_type": "application/pdf"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let store_origin = scoremate::web::origin_of(ticket["upload_url"].as_str().unwrap());
    assert!(
        policy.contains(&format!("connect-src 'self' {store_origin};")),
        "{policy}"
    );
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<script type="module" src="/app/main.js"></script>"#));
    assert!(!html.contains("<script>"), "no inline script");

    let script = app.get("/app/main.js").await;
    assert_eq!(script.status(), 200);
    assert_eq!(
        script.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    let etag = script.headers()["etag"].clone();
    let revalidated = app
        .client
        .get(format!("http://{}/app/main.js", app.address))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), 304);
    assert!(revalidated.bytes().await.unwrap().is_empty());
    assert_eq!(
        app.get("/app/app.css").await.headers()["content-type"],
        "text/css; charset=utf-8"
    );

    // Gzipped for clients that take it: a representation (and a tag) of its own.
    let plain = app.get("/app/setlists.js").await;
    let plain_tag = plain.headers()["etag"].clone();
    assert_eq!(plain.headers()["vary"], "Accept-Encoding");
    let plain = plain.bytes().await.unwrap();
    let zipped = app
        .client
        .get(app.url("/app/setlists.js"))
        .header("accept-encoding", "gzip, br")
        .send()
        .await
        .unwrap();
    assert_eq!(zipped.headers()["content-encoding"], "gzip");
    assert_ne!(zipped.headers()["etag"], plain_tag);
    let zipped = zipped.bytes().await.unwrap();
    assert!(
        zipped.len() * 2 < plain.len(),
        "{} of {}",
        zipped.len(),
        plain.len()
    );
    let mut unzipped = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(&zipped[..]),
        &mut unzipped,
    )
    .unwrap();
    assert_eq!(unzipped, plain);

    for outside in [
        "/app/../Cargo.toml",
        "/app/%2e%2e/Cargo.toml",
        "/app/.hidden",
        "/app/missing.js",
        "/index.html",
        "/app/",
    ] {
        let answer = app.get(outside).await;
        assert_eq!(answer.status(), 404, "{outside}");
        assert_eq!(
            answer.headers()["content-type"],
            "application/problem+json",
            "{outside}"
        );
    }
    let posted = app
        .client
        .post(format!("http://{}/", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 404);
    app.stop().await;
}

//! Page previews (issue #20, item 4): `GET /scores/{id}/pages/{n}/thumbnail` renders page
//! N in the PDF sandbox the first time, keeps it, and redirects to it like the first-page
//! thumbnail; the picture is what `pdftoppm -f N -l N -scale-to W` draws; a burst of
//! requests renders at most the documented number at once and refuses the rest with 429
//! and `Retry-After`, doing no work for them; deleting the score deletes its previews.
//! Through the binary with real PDFs, on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use integration_tests::problem::expect_problem;
use integration_tests::{SignedIn, TestApp, expect_json, spawn_app};
use serde_json::{Value, json};
use testkit::TestDatabase;
use testkit::pdf::{
    A4, LETTER, PageSpec, assert_page_looks_like_poppler, decode_png, pages, poppler, save,
};

/// Mean grey difference tolerated against pdftoppm, as for the first-page thumbnails.
const TOLERANCE: f64 = 0.06;

/// `count` pages, each different: the marker page, the marker turned, a black box on US
/// Letter, over and over.
fn varied_pages(count: usize) -> Vec<u8> {
    let specs: Vec<PageSpec> = (0..count)
        .map(|n| match n % 3 {
            0 => PageSpec::sized(A4),
            1 => PageSpec {
                rotate: Some(90),
                ..PageSpec::sized(A4)
            },
            _ => PageSpec {
                content: Some("0 0 0 rg 50 50 400 600 re f\n".to_owned()),
                ..PageSpec::sized(LETTER)
            },
        })
        .collect();
    save(&mut pages(&specs))
}

async fn metric(app: &TestApp, name: &str) -> f64 {
    let text = app.metrics_text().await;
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .map_or(0.0, |value| value.parse().unwrap())
}

/// The preview's PNG, fetched through the presigned link.
async fn preview(app: &TestApp, user: &SignedIn, path: &str) -> Vec<u8> {
    let link = expect_json(
        app.get_authed(&format!("{path}&redirect=false"), &user.tokens.access)
            .await,
        200,
    )
    .await;
    let png = app
        .client
        .get(link["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(png.status(), 200);
    png.bytes().await.unwrap().to_vec()
}

/// Files under the embedded store's directory whose path holds `part`.
fn stored_paths(dir: &Path, part: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.to_string_lossy().contains(part) {
                found.push(path.to_string_lossy().into_owned());
            }
        }
    }
    found
}

async fn previews_render_any_page_within_bounds(app: TestApp) {
    let user = app.signed_in_user().await;
    let stranger = app.signed_in_user().await;
    let bytes = varied_pages(3);
    let score = app
        .upload_pdf(&user, bytes.clone(), json!({"title": "Three pages"}))
        .await;
    let id = score["id"].as_str().unwrap().to_owned();
    let page_path =
        |page: u32, width: u32| format!("/api/v1/scores/{id}/pages/{page}/thumbnail?width={width}");

    // Before processing the page count is unknown: nothing to preview yet.
    expect_problem(
        app.get_authed(&page_path(1, 300), &user.tokens.access)
            .await,
        404,
        "E003",
    )
    .await;
    app.run_processors_until_idle().await;

    // Each page as poppler draws that page, at the width asked for; then from the cache.
    let rendered = metric(&app, "scoremate_page_previews_rendered_total").await;
    for (page, width, height) in [(1, 300, 424), (2, 300, 212), (3, 600, 776)] {
        let png = preview(&app, &user, &page_path(page, width)).await;
        let image = decode_png(&png);
        assert_eq!(
            (image.width(), image.height()),
            (width, height),
            "page {page}"
        );
        if poppler() {
            assert_page_looks_like_poppler(&bytes, page, &png, TOLERANCE);
        }
    }
    let not_following = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let redirected = not_following
        .get(app.url(&page_path(3, 600)))
        .bearer_auth(&user.tokens.access)
        .send()
        .await
        .unwrap();
    assert_eq!(redirected.status(), 302);
    assert!(
        redirected.headers()["location"]
            .to_str()
            .unwrap()
            .contains("X-Amz-Signature")
    );
    assert_eq!(
        metric(&app, "scoremate_page_previews_rendered_total").await - rendered,
        3.0,
        "three renders, the repeat came from the store"
    );

    // Bad pages and widths; other users' scores do not exist.
    for (path, status, code) in [
        (page_path(4, 300), 404, "E003"),
        (page_path(0, 300), 404, "E003"),
        (
            format!("/api/v1/scores/{id}/pages/x/thumbnail"),
            404,
            "E003",
        ),
        (page_path(1, 333), 400, "E007"),
    ] {
        expect_problem(
            app.get_authed(&path, &user.tokens.access).await,
            status,
            code,
        )
        .await;
    }
    expect_problem(
        app.get_authed(&page_path(1, 300), &stranger.tokens.access)
            .await,
        404,
        "E003",
    )
    .await;

    // A burst of 24 different previews at once: at most 2 render for this user, the
    // rest are refused at once and cost nothing.
    let big = app
        .upload_pdf(&user, varied_pages(12), json!({"title": "Twelve pages"}))
        .await;
    let big_id = big["id"].as_str().unwrap().to_owned();
    app.run_processors_until_idle().await;
    let rendered = metric(&app, "scoremate_page_previews_rendered_total").await;
    let refused = metric(&app, "scoremate_page_preview_refusals_total").await;
    let paths: Vec<String> = (1..=12)
        .flat_map(|page| {
            [150, 300].map(|width| {
                format!("/api/v1/scores/{big_id}/pages/{page}/thumbnail?width={width}")
            })
        })
        .collect();
    let burst: Vec<_> = paths
        .iter()
        .map(|path| {
            let request = not_following
                .get(app.url(path))
                .bearer_auth(&user.tokens.access);
            tokio::spawn(request.send())
        })
        .collect();
    let mut refused_paths = Vec::new();
    for (path, answer) in paths.iter().zip(burst) {
        let answer = answer.await.unwrap().unwrap();
        match answer.status().as_u16() {
            302 => {}
            429 => {
                assert_eq!(answer.headers()["retry-after"], "1");
                let body: Value = answer.json().await.unwrap();
                assert_eq!(body["code"], "E010", "{body}");
                refused_paths.push(path.clone());
            }
            other => panic!("{path}: {other}"),
        }
    }
    let served = paths.len() - refused_paths.len();
    assert!(
        !refused_paths.is_empty(),
        "24 renders at once were not bounded"
    );
    assert_eq!(
        metric(&app, "scoremate_page_previews_rendered_total").await - rendered,
        served as f64,
        "a render for every preview served, none for the refused"
    );
    assert_eq!(
        metric(&app, "scoremate_page_preview_refusals_total").await - refused,
        refused_paths.len() as f64
    );
    // Refused means "later", not "never".
    for path in &refused_paths {
        let answer = not_following
            .get(app.url(path))
            .bearer_auth(&user.tokens.access)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 302, "{path}");
    }

    // Deleting the score deletes its previews.
    assert!(!stored_paths(&app.data_dir, &format!("{id}/pages/")).is_empty());
    let deleted = app
        .send_as(
            &user,
            reqwest::Method::DELETE,
            &format!("/api/v1/scores/{id}"),
            None,
            None,
        )
        .await;
    assert_eq!(deleted.status(), 204);
    app.run_processors_until_idle().await;
    assert_eq!(
        stored_paths(&app.data_dir, &format!("{id}/pages/")),
        Vec::<String>::new()
    );
    app.stop().await;
}

/// Both backends in one test, one after the other: the render counters are the
/// process's, and a test running beside this one would move them.
#[tokio::test]
async fn page_previews_on_sqlite_then_postgres() {
    Box::pin(previews_render_any_page_within_bounds(
        spawn_app(TestDatabase::sqlite().await).await,
    ))
    .await;
    if let Some(database) = TestDatabase::postgres().await {
        Box::pin(previews_render_any_page_within_bounds(
            spawn_app(database).await,
        ))
        .await;
    }
}

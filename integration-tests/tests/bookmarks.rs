//! Bookmarks (issue #20, item 1): pieces inside a score as page ranges. Added before the
//! page count is known (any plausible page, `fits` null), checked against it once
//! processing has counted the pages (a bookmark beyond them stays, reported with `fits:
//! false`); edited with `If-Match` on the score's version, removed; another user sees
//! none of it; the change feed carries them with the score. On SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use integration_tests::problem::expect_problem;
use integration_tests::{SignedIn, TestApp, expect_json, spawn_app};
use reqwest::Method;
use serde_json::{Value, json};
use testkit::TestDatabase;

/// A PDF of `pages` empty A4 pages.
fn pdf_of_pages(pages: usize) -> Vec<u8> {
    let kids: Vec<String> = (0..pages).map(|page| format!("{} 0 R", page + 3)).collect();
    let mut pdf = format!(
        "%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n\
         2 0 obj << /Type /Pages /Kids [{}] /Count {pages} >> endobj\n",
        kids.join(" ")
    );
    for page in 0..pages {
        pdf.push_str(&format!(
            "{} 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >> endobj\n",
            page + 3
        ));
    }
    pdf.push_str("trailer << /Root 1 0 R >>\n%%EOF\n");
    pdf.into_bytes()
}

/// A confirmed score of `bytes`: its id.
async fn upload(app: &TestApp, user: &SignedIn, bytes: Vec<u8>) -> String {
    let score = app
        .upload_pdf(user, bytes, json!({"title": "The Real Book"}))
        .await;
    score["id"].as_str().unwrap().to_owned()
}

fn etag(response: &reqwest::Response) -> String {
    response.headers()["etag"].to_str().unwrap().to_owned()
}

fn titles_and_fits(list: &Value) -> Vec<(String, Value)> {
    list["bookmarks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|bookmark| {
            (
                bookmark["title"].as_str().unwrap().to_owned(),
                bookmark["fits"].clone(),
            )
        })
        .collect()
}

async fn bookmarks_follow_the_rules(app: TestApp) {
    let user = app.signed_in_user().await;
    let stranger = app.signed_in_user().await;
    let score = upload(&app, &user, pdf_of_pages(3)).await;
    let path = format!("/api/v1/scores/{score}/bookmarks");

    // Before processing: any plausible page; `fits` unknown.
    let far = app
        .send_as(
            &user,
            Method::POST,
            &path,
            Some(json!({"title": "Page forty", "start_page": 40, "end_page": 41})),
            None,
        )
        .await;
    let far = expect_json(far, 201).await;
    assert_eq!(far["fits"], Value::Null, "{far}");
    let autumn = app.send_as(&user, Method::POST, &path, Some(json!({"title": " Autumn Leaves ", "composer": "Kosma", "start_page": 1, "end_page": 2, "tags": ["ballad"]})), None).await;
    assert_eq!(autumn.status(), 201);
    let location = autumn.headers()["location"].to_str().unwrap().to_owned();
    let autumn: Value = autumn.json().await.unwrap();
    assert_eq!(autumn["title"], "Autumn Leaves", "trimmed: {autumn}");
    assert_eq!(
        location,
        format!("{path}/{}", autumn["id"].as_str().unwrap())
    );
    let read_back = app.send_as(&user, Method::GET, &location, None, None).await;
    assert_eq!(expect_json(read_back, 200).await, autumn);
    let bossa = app
        .send_as(
            &user,
            Method::POST,
            &path,
            Some(json!({"title": "Blue Bossa", "start_page": 3})),
            None,
        )
        .await;
    let bossa = expect_json(bossa, 201).await;
    assert_eq!(
        (bossa["start_page"].as_u64(), bossa["end_page"].as_u64()),
        (Some(3), Some(3))
    );

    // Processing counts three pages: the far bookmark is kept and reported.
    app.run_processors_until_idle().await;
    let list = app.send_as(&user, Method::GET, &path, None, None).await;
    let version = etag(&list);
    let list = expect_json(list, 200).await;
    assert_eq!(list["page_count"], 3, "{list}");
    assert_eq!(
        titles_and_fits(&list),
        [
            ("Autumn Leaves".to_owned(), json!(true)),
            ("Blue Bossa".to_owned(), json!(true)),
            ("Page forty".to_owned(), json!(false)),
        ]
    );

    // Now pages beyond the file are refused, every bad field named.
    let refused = app
        .send_as(
            &user,
            Method::POST,
            &path,
            Some(json!({"title": "", "start_page": 2, "end_page": 4})),
            None,
        )
        .await;
    let problem = expect_problem(refused, 400, "E007").await;
    assert!(
        problem.body["fields"]["end_page"].is_array(),
        "{:?}",
        problem.body
    );
    assert!(
        problem.body["fields"]["title"].is_array(),
        "{:?}",
        problem.body
    );
    let refused = app
        .send_as(
            &user,
            Method::POST,
            &path,
            Some(json!({"title": 5, "start_page": "x"})),
            None,
        )
        .await;
    let problem = expect_problem(refused, 400, "E007").await;
    assert!(
        problem.body["fields"]["start_page"].is_array(),
        "{:?}",
        problem.body
    );

    // Fixing the far one with the version seen; a stale version is refused.
    let far_path = format!("{path}/{}", far["id"].as_str().unwrap());
    let fixed = app
        .send_as(
            &user,
            Method::PATCH,
            &far_path,
            Some(json!({"start_page": 2, "end_page": 3, "notes": "segue"})),
            Some(&version),
        )
        .await;
    let fixed = expect_json(fixed, 200).await;
    assert_eq!(
        (fixed["fits"].clone(), fixed["notes"].clone()),
        (json!(true), json!("segue"))
    );
    let stale = app
        .send_as(
            &user,
            Method::PATCH,
            &far_path,
            Some(json!({"title": "Late"})),
            Some(&version),
        )
        .await;
    expect_problem(stale, 412, "E011").await;
    let cleared = app
        .send_as(
            &user,
            Method::PATCH,
            &far_path,
            Some(json!({"notes": null})),
            None,
        )
        .await;
    assert_eq!(expect_json(cleared, 200).await["notes"], Value::Null);
    let wrong = app
        .send_as(
            &user,
            Method::PATCH,
            &far_path,
            Some(json!({"end_page": 9})),
            None,
        )
        .await;
    expect_problem(wrong, 400, "E007").await;

    // Removed once.
    let bossa_path = format!("{path}/{}", bossa["id"].as_str().unwrap());
    assert_eq!(
        app.send_as(&user, Method::DELETE, &bossa_path, None, None)
            .await
            .status(),
        204
    );
    expect_problem(
        app.send_as(&user, Method::GET, &bossa_path, None, None)
            .await,
        404,
        "E003",
    )
    .await;
    expect_problem(
        app.send_as(&user, Method::DELETE, &bossa_path, None, None)
            .await,
        404,
        "E003",
    )
    .await;

    // Nobody else sees or touches them.
    for (method, target, body) in [
        (Method::GET, path.clone(), None),
        (
            Method::POST,
            path.clone(),
            Some(json!({"title": "Mine", "start_page": 1})),
        ),
        (Method::GET, far_path.clone(), None),
        (
            Method::PATCH,
            far_path.clone(),
            Some(json!({"title": "Mine"})),
        ),
        (Method::DELETE, far_path.clone(), None),
    ] {
        let refused = app.send_as(&stranger, method, &target, body, None).await;
        expect_problem(refused, 404, "E003").await;
    }

    // The score counts them; the change feed carries them with the score.
    let view = expect_json(
        app.get_authed(&format!("/api/v1/scores/{score}"), &user.tokens.access)
            .await,
        200,
    )
    .await;
    assert_eq!(view["bookmark_count"], 2, "{view}");
    let list = expect_json(
        app.send_as(&user, Method::GET, &path, None, None).await,
        200,
    )
    .await;
    let feed = expect_json(
        app.get_authed("/api/v1/sync?limit=1000", &user.tokens.access)
            .await,
        200,
    )
    .await;
    let carried = feed["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|change| change["id"] == score.as_str())
        .unwrap();
    assert_eq!(carried["bookmarks"], list["bookmarks"]);
    assert_eq!(carried["score"], view);
    app.stop().await;
}

#[tokio::test]
async fn bookmarks_on_sqlite() {
    bookmarks_follow_the_rules(spawn_app(TestDatabase::sqlite().await).await).await;
}

#[tokio::test]
async fn bookmarks_on_postgres() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    bookmarks_follow_the_rules(spawn_app(database).await).await;
}

//! Songbooks (issue #20, items 1–2): a fake book is one PDF holding several pieces. Its
//! bookmarks are found by the library search (which says which hits are bookmarks); a
//! setlist plays a whole score, one bookmark, or a page sequence with repeats, showing
//! titles, pages and thumbnails; bad items are refused naming the field; removing a
//! bookmark takes its items out of every setlist, recorded in the setlist's history.
//! Through the binary, with a real PDF made by lopdf and processed by the real pipeline,
//! on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use eventstore::EventLog;
use integration_tests::problem::expect_problem;
use integration_tests::{SignedIn, TestApp, expect_json, spawn_app};
use reqwest::Method;
use serde_json::{Value, json};
use testkit::pdf::{A4, PageSpec, marker_content, pages, save};
use testkit::{TestDatabase, read_whole_log};

/// A six-page songbook: three pieces of two pages each, every page drawn.
fn songbook() -> Vec<u8> {
    let page = PageSpec {
        media_box: Some(A4),
        content: Some(marker_content(A4)),
        ..PageSpec::default()
    };
    save(&mut pages(&vec![page; 6]))
}

async fn bookmark(app: &TestApp, user: &SignedIn, score: &str, body: Value) -> Value {
    let path = format!("/api/v1/scores/{score}/bookmarks");
    expect_json(
        app.send_as(user, Method::POST, &path, Some(body), None)
            .await,
        201,
    )
    .await
}

async fn get(app: &TestApp, user: &SignedIn, path: &str) -> (Value, String) {
    let response = app.send_as(user, Method::GET, path, None, None).await;
    // Lists have no ETag.
    let etag = response
        .headers()
        .get("etag")
        .map(|etag| etag.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (expect_json(response, 200).await, etag)
}

fn hits(list: &Value) -> Vec<(String, Vec<String>)> {
    list["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|score| {
            let bookmarks = score["bookmark_hits"]
                .as_array()
                .unwrap()
                .iter()
                .map(|hit| hit["title"].as_str().unwrap().to_owned())
                .collect();
            (score["title"].as_str().unwrap().to_owned(), bookmarks)
        })
        .collect()
}

async fn songbooks_play_in_setlists(app: TestApp) {
    let user = app.signed_in_user().await;
    let stranger = app.signed_in_user().await;
    let book = app
        .upload_pdf(&user, songbook(), json!({"title": "Real Book"}))
        .await;
    let book = book["id"].as_str().unwrap().to_owned();
    let other = app.add_score(&user, json!({"title": "Solo étude"})).await;
    let other = other["id"].as_str().unwrap().to_owned();
    app.run_processors_until_idle().await;
    // Each step boxed: one future holding them all overflows a debug build's stack.
    let autumn_id = Box::pin(import_index(&app, &user, &stranger, &book)).await;
    Box::pin(search_finds_pieces(&app, &user, &stranger)).await;
    let setlist = Box::pin(setlists_play_parts(
        &app, &user, &stranger, &book, &other, &autumn_id,
    ))
    .await;
    Box::pin(removing_a_bookmark_updates_setlists(
        &app, &user, &book, &autumn_id, &setlist,
    ))
    .await;
    app.stop().await;
}

/// A bad index changes nothing; a good one is imported whole, once: the id of its first
/// piece, "Autumn Leaves" (pages 1–2 of the six).
async fn import_index(app: &TestApp, user: &SignedIn, stranger: &SignedIn, book: &str) -> String {
    let import_path = format!("/api/v1/scores/{book}/bookmarks:import");
    let import = |csv: &'static str, key: Option<&'static str>| {
        let mut request = app
            .request(Method::POST, &import_path)
            .bearer_auth(&user.tokens.access)
            .header("content-type", "text/csv; charset=utf-8")
            .body(csv);
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        app.send(request)
    };
    let bookmarks_path = format!("/api/v1/scores/{book}/bookmarks");
    let (empty, version_before) = get(app, user, &bookmarks_path).await;
    assert_eq!(empty["bookmarks"], json!([]));

    // A bad index changes nothing and names each bad line.
    let bad = import(
        "Title,Start,End,Composer\nAutumn Leaves,1,2,Joseph Kosma\nBlue Bossa,three,4,\n,5,6,\nSolar,5,9,\n",
        None,
    )
    .await;
    let problem = expect_problem(bad, 400, "E007").await;
    let fields: Vec<&String> = problem.body["fields"].as_object().unwrap().keys().collect();
    assert_eq!(fields, ["line 3", "line 4", "line 5"], "{:?}", problem.body);
    assert!(
        problem.body["fields"]["line 5"][0]
            .as_str()
            .unwrap()
            .contains("1 to 6"),
        "{:?}",
        problem.body
    );
    let (unchanged, version) = get(app, user, &bookmarks_path).await;
    assert_eq!(
        (unchanged["bookmarks"].clone(), version),
        (json!([]), version_before)
    );
    let wrong_type = app
        .send(
            app.request(Method::POST, &import_path)
                .bearer_auth(&user.tokens.access)
                .header("content-type", "application/json")
                .body("{}"),
        )
        .await;
    expect_problem(wrong_type, 415, "E007").await;
    let bad_offset = app
        .send(
            app.request(Method::POST, &format!("{import_path}?offset=x"))
                .bearer_auth(&user.tokens.access)
                .header("content-type", "text/csv")
                .body("Title,Start\nA,1\n"),
        )
        .await;
    let problem = expect_problem(bad_offset, 400, "E007").await;
    assert!(
        problem.body["fields"]["offset"].is_array(),
        "{:?}",
        problem.body
    );
    let theirs = app
        .send(
            app.request(Method::POST, &import_path)
                .bearer_auth(&stranger.tokens.access)
                .header("content-type", "text/csv")
                .body("Title,Start\nMine,1\n"),
        )
        .await;
    expect_problem(theirs, 404, "E003").await;

    // The forScore-style index, with a BOM and semicolons, in one go; sent again with
    // its key, the same answer and nothing more.
    const INDEX: &str = "\u{feff}Title;Start Page;End Page;Composer;Tags;Rating\n\
                         Autumn Leaves;1;2;Joseph Kosma;ballad;5\n\
                         Blue Bossa;3;4;Kenny Dorham;latin;\n\
                         Solar;5;6;;;\n";
    let imported = import(INDEX, Some("songbook-index-1")).await;
    assert_eq!(imported.status(), 201);
    let imported: Value = imported.json().await.unwrap();
    let titles: Vec<&str> = imported["bookmarks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|bookmark| bookmark["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Autumn Leaves", "Blue Bossa", "Solar"]);
    assert_eq!(imported["bookmarks"][0]["tags"], json!(["ballad"]));
    assert_eq!(imported["bookmarks"][2]["end_page"], 6);
    let again = import(INDEX, Some("songbook-index-1")).await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.json::<Value>().await.unwrap(), imported);
    let (all, _) = get(app, user, &bookmarks_path).await;
    assert_eq!(all["bookmarks"].as_array().unwrap().len(), 3);
    let autumn = all["bookmarks"][0].clone();
    autumn["id"].as_str().unwrap().to_owned()
}

async fn search_finds_pieces(app: &TestApp, user: &SignedIn, stranger: &SignedIn) {
    // The search finds pieces inside the book and says which; the score's own title too.
    let (found, _) = get(app, user, "/api/v1/scores?search=AUTUMN").await;
    assert_eq!(
        hits(&found),
        [("Real Book".to_owned(), vec!["Autumn Leaves".to_owned()])]
    );
    let (found, _) = get(app, user, "/api/v1/scores?search=kosma").await;
    assert_eq!(
        hits(&found),
        [("Real Book".to_owned(), vec!["Autumn Leaves".to_owned()])]
    );
    let (found, _) = get(app, user, "/api/v1/scores?search=real").await;
    assert_eq!(hits(&found), [("Real Book".to_owned(), vec![])]);
    let (found, _) = get(app, user, "/api/v1/scores?search=so").await;
    assert_eq!(
        hits(&found),
        [
            ("Solo étude".to_owned(), vec![]),
            ("Real Book".to_owned(), vec!["Solar".to_owned()]),
        ],
        "short searches too, newest first"
    );
    let (plain, _) = get(app, user, "/api/v1/scores").await;
    assert!(
        plain["results"][0].get("bookmark_hits").is_none(),
        "{plain}"
    );
    let (theirs, _) = get(app, stranger, "/api/v1/scores?search=autumn").await;
    assert_eq!(theirs["results"], json!([]));
}

/// The setlist's path.
async fn setlists_play_parts(
    app: &TestApp,
    user: &SignedIn,
    stranger: &SignedIn,
    book: &str,
    other: &str,
    autumn_id: &str,
) -> String {
    // A setlist with notes, playing a bookmark, a page sequence with repeats and a score.
    let created = app
        .send_as(
            user,
            Method::POST,
            "/api/v1/setlists",
            Some(json!({"name": "Jam session", "notes": "  Count in slowly.  "})),
            None,
        )
        .await;
    let created = expect_json(created, 201).await;
    assert_eq!(created["notes"], "Count in slowly.");
    let setlist = format!("/api/v1/setlists/{}", created["id"].as_str().unwrap());
    let items = format!("{setlist}/items");
    let add = |body: Value| app.send_as(user, Method::POST, &items, Some(body), None);
    let first = expect_json(
        add(json!({"score_id": book, "bookmark_id": autumn_id, "note": "intro twice"})).await,
        201,
    )
    .await;
    assert_eq!(
        (
            first["title"].clone(),
            first["bookmark"]["start_page"].clone(),
            first["first_page"].clone(),
            first["fits"].clone()
        ),
        (json!("Autumn Leaves"), json!(1), json!(1), json!(true)),
        "{first}"
    );
    expect_json(
        add(json!({"score_id": book, "pages": [5, 6, 5, 6]})).await,
        201,
    )
    .await;
    expect_json(add(json!({"score_id": book})).await, 201).await;
    let (view, _) = get(app, user, &setlist).await;
    let shown: Vec<(Value, Value, Value, Value)> = view["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            (
                item["title"].clone(),
                item["pages"].clone(),
                item["first_page"].clone(),
                item["bookmark_id"].clone(),
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            (
                json!("Autumn Leaves"),
                Value::Null,
                json!(1),
                json!(autumn_id)
            ),
            (
                json!("Real Book"),
                json!([5, 6, 5, 6]),
                json!(5),
                Value::Null
            ),
            (json!("Real Book"), Value::Null, json!(1), Value::Null),
        ]
    );
    for item in view["items"].as_array().unwrap() {
        assert_eq!(item["score"]["page_count"], 6, "{item}");
        assert!(item["score"]["thumbnail"]["width"].is_u64(), "{item}");
        assert_eq!(item["fits"], true, "{item}");
        // Each item's own first page has its thumbnail too (a page preview).
        let preview = format!(
            "/api/v1/scores/{book}/pages/{}/thumbnail?width=150&redirect=false",
            item["first_page"]
        );
        let link = expect_json(app.get_authed(&preview, &user.tokens.access).await, 200).await;
        assert!(link["url"].is_string(), "{link}");
    }
    assert_eq!(view["notes"], "Count in slowly.");

    // Bad items are refused, naming the field; nothing is added.
    for (body, field) in [
        (json!({"score_id": book, "pages": [2, 7]}), "pages"),
        (json!({"score_id": book, "pages": [0]}), "pages"),
        (json!({"score_id": book, "pages": []}), "pages"),
        (json!({"score_id": book, "pages": vec![1; 501]}), "pages"),
        (json!({"score_id": book, "pages": [1, "2"]}), "pages"),
        (
            json!({"score_id": book, "pages": [1, 9], "bookmark_id": autumn_id}),
            "pages",
        ),
        (json!({"score_id": book, "bookmark_id": 7}), "bookmark_id"),
    ] {
        let problem = expect_problem(add(body.clone()).await, 400, "E007").await;
        assert!(
            problem.body["fields"][field].is_array(),
            "{body}: {:?}",
            problem.body
        );
    }
    // A bookmark with its repeats written out: the piece's title, the sequence's pages.
    let repeated = expect_json(
        add(json!({"score_id": book, "bookmark_id": autumn_id, "pages": [1, 2, 1, 2]})).await,
        201,
    )
    .await;
    assert_eq!(
        (
            repeated["title"].clone(),
            repeated["pages"].clone(),
            repeated["first_page"].clone()
        ),
        (json!("Autumn Leaves"), json!([1, 2, 1, 2]), json!(1)),
        "{repeated}"
    );
    let remove = format!("{items}/{}", repeated["id"].as_str().unwrap());
    let removed = app.send_as(user, Method::DELETE, &remove, None, None).await;
    assert_eq!(removed.status(), 204);
    // A bookmark of another score, or another user's, does not exist for the caller.
    expect_problem(
        add(json!({"score_id": other, "bookmark_id": autumn_id})).await,
        404,
        "E003",
    )
    .await;
    let foreign = app.add_score(stranger, json!({"title": "Theirs"})).await;
    let foreign_mark = bookmark(
        app,
        stranger,
        foreign["id"].as_str().unwrap(),
        json!({"title": "Theirs", "start_page": 1}),
    )
    .await;
    expect_problem(
        add(json!({"score_id": foreign["id"], "bookmark_id": foreign_mark["id"]})).await,
        404,
        "E003",
    )
    .await;
    let (unchanged, version) = get(app, user, &setlist).await;
    assert_eq!(unchanged["item_count"], 3);

    // Notes change with If-Match and clear with null.
    let patched = app
        .send_as(
            user,
            Method::PATCH,
            &setlist,
            Some(json!({"notes": "Tune down"})),
            Some(&version),
        )
        .await;
    assert_eq!(expect_json(patched, 200).await["notes"], "Tune down");
    let cleared = app
        .send_as(
            user,
            Method::PATCH,
            &setlist,
            Some(json!({"notes": null})),
            None,
        )
        .await;
    assert_eq!(expect_json(cleared, 200).await["notes"], Value::Null);
    let too_long = app
        .send_as(
            user,
            Method::PATCH,
            &setlist,
            Some(json!({"notes": "n".repeat(10_001)})),
            None,
        )
        .await;
    expect_problem(too_long, 400, "E007").await;

    setlist
}

async fn removing_a_bookmark_updates_setlists(
    app: &TestApp,
    user: &SignedIn,
    book: &str,
    autumn_id: &str,
    setlist: &str,
) {
    // Removing the bookmark takes its item out at once, then in the setlist's history.
    let (before, version_before) = get(app, user, setlist).await;
    let removed = app
        .send_as(
            user,
            Method::DELETE,
            &format!("/api/v1/scores/{book}/bookmarks/{autumn_id}"),
            None,
            None,
        )
        .await;
    assert_eq!(removed.status(), 204);
    let (hidden, _) = get(app, user, setlist).await;
    assert_eq!(hidden["item_count"], 2, "{hidden}");
    assert_eq!(hidden["items"][0]["pages"], json!([5, 6, 5, 6]));
    app.run_processors_until_idle().await;
    let (after, version_after) = get(app, user, setlist).await;
    assert_eq!(after["items"], hidden["items"]);
    let number = |etag: &str| etag.trim_matches('"').parse::<u64>().unwrap();
    assert_eq!(
        number(&version_after),
        number(&version_before) + 1,
        "one SetlistItemRemoved recorded: {before} → {after}"
    );
    // The setlist's history says why the item left.
    let setlist_id = setlist.rsplit('/').next().unwrap();
    let log = EventLog::new(app.database.database.clone());
    let reasons: Vec<Value> = read_whole_log(&log, 1_000)
        .await
        .into_iter()
        .filter(|event| {
            event.aggregate_id == setlist_id && event.event_type == "SetlistItemRemoved"
        })
        .map(|event| {
            let payload: Value = serde_json::from_str(event.payload.get()).unwrap();
            payload["SetlistItemRemoved"]["reason"].clone()
        })
        .collect();
    assert_eq!(reasons, [json!("user_removed"), json!("bookmark_removed")]);
    let feed = expect_json(
        app.get_authed("/api/v1/sync?limit=1000", &user.tokens.access)
            .await,
        200,
    )
    .await;
    let synced = feed["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|change| change["kind"] == "setlist")
        .unwrap();
    assert_eq!(synced["setlist"]["items"][0]["pages"], json!([5, 6, 5, 6]));
    assert_eq!(synced["setlist"]["items"].as_array().unwrap().len(), 2);
    let (found, _) = get(app, user, "/api/v1/scores?search=autumn").await;
    assert_eq!(found["results"], json!([]), "the search forgets it too");
}

#[tokio::test]
async fn songbooks_on_sqlite() {
    Box::pin(songbooks_play_in_setlists(
        spawn_app(TestDatabase::sqlite().await).await,
    ))
    .await;
}

#[tokio::test]
async fn songbooks_on_postgres() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    Box::pin(songbooks_play_in_setlists(spawn_app(database).await)).await;
}

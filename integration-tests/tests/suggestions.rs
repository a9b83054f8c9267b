//! Metadata from the PDF (issue #20, item 5): the PDF info processor reads the Info
//! dictionary and the XMP packet; the score view offers `suggestions`, and the composer
//! and tags the user left empty at confirmation are filled from them — recorded as an
//! event naming where each value came from — while what the user typed is never
//! overwritten. Real PDFs made with lopdf, processed by the real pipeline, through the
//! binary, on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use eventstore::EventLog;
use integration_tests::{SignedIn, TestApp, expect_json, spawn_app};
use serde_json::{Value, json};
use testkit::pdf::{A4, PageSpec, dublin_core_packet, literal, pages, save, set_info, set_xmp};
use testkit::{TestDatabase, read_whole_log};

/// A one-page PDF with these Info entries and, when given, this XMP packet.
fn pdf(info: &[(&str, &str)], xmp: Option<&str>) -> Vec<u8> {
    let mut doc = pages(&[PageSpec::sized(A4)]);
    let entries: Vec<_> = info
        .iter()
        .map(|(key, value)| (*key, literal(value.as_bytes())))
        .collect();
    set_info(&mut doc, &entries);
    if let Some(packet) = xmp {
        set_xmp(&mut doc, packet);
    }
    save(&mut doc)
}

async fn processed(app: &TestApp, user: &SignedIn, bytes: Vec<u8>, metadata: Value) -> Value {
    let score = app.upload_pdf(user, bytes, metadata).await;
    app.run_processors_until_idle().await;
    let path = format!("/api/v1/scores/{}", score["id"].as_str().unwrap());
    expect_json(app.get_authed(&path, &user.tokens.access).await, 200).await
}

/// The `filled_from` of the score's metadata updates, as the event log holds them.
async fn fills(app: &TestApp, score: &Value) -> Vec<Value> {
    let log = EventLog::new(app.database.database.clone());
    read_whole_log(&log, 1_000)
        .await
        .into_iter()
        .filter(|event| {
            event.aggregate_id == score["id"].as_str().unwrap()
                && event.event_type == "ScoreMetadataUpdated"
        })
        .map(|event| {
            let payload: Value = serde_json::from_str(event.payload.get()).unwrap();
            payload["ScoreMetadataUpdated"]["filled_from"].clone()
        })
        .collect()
}

async fn the_pdf_fills_what_the_user_left_empty(app: TestApp) {
    let user = app.signed_in_user().await;
    let xmp = dublin_core_packet("Autumn Leaves", &["Joseph Kosma"], &["jazz", "ballad"]);

    // XMP wins over Info; the title stays the user's; composer and tags are filled.
    let score = processed(
        &app,
        &user,
        pdf(
            &[("Title", "scan0001"), ("Author", "Scanner 3000")],
            Some(&xmp),
        ),
        json!({"title": "Les feuilles mortes"}),
    )
    .await;
    assert_eq!(
        score["suggestions"],
        json!({"title": "Autumn Leaves", "composer": "Joseph Kosma", "tags": ["jazz", "ballad"]}),
        "{score}"
    );
    assert_eq!(score["title"], "Les feuilles mortes");
    assert_eq!(score["composer"], "Joseph Kosma");
    assert_eq!(score["tags"], json!(["jazz", "ballad"]));
    assert_eq!(
        fills(&app, &score).await,
        [json!({"composer": "XMP dc:creator", "tags": "XMP dc:subject"})],
        "the audit trail says where the values came from"
    );
    let found = expect_json(
        app.get_authed(
            "/api/v1/scores?composer=joseph%20kosma",
            &user.tokens.access,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        found["count"], 1,
        "the library filters by the filled composer"
    );

    // The Info dictionary alone; the composer the user typed is kept.
    let score = processed(
        &app,
        &user,
        pdf(
            &[("Author", "Kosma"), ("Keywords", "standard; ballad")],
            None,
        ),
        json!({"title": "Mine", "composer": "Typed by me"}),
    )
    .await;
    assert_eq!(score["composer"], "Typed by me");
    assert_eq!(score["tags"], json!(["standard", "ballad"]));
    assert_eq!(score["suggestions"]["composer"], "Kosma");
    assert_eq!(
        fills(&app, &score).await,
        [json!({"tags": "Info Keywords"})]
    );

    // Nothing to suggest: nothing filled, suggestions empty.
    let score = processed(&app, &user, pdf(&[], None), json!({"title": "Plain"})).await;
    assert_eq!(
        score["suggestions"],
        json!({"title": null, "composer": null, "tags": null})
    );
    assert_eq!(score["composer"], Value::Null);
    assert!(fills(&app, &score).await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn suggestions_on_sqlite() {
    Box::pin(the_pdf_fills_what_the_user_left_empty(
        spawn_app(TestDatabase::sqlite().await).await,
    ))
    .await;
}

#[tokio::test]
async fn suggestions_on_postgres() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    Box::pin(the_pdf_fills_what_the_user_left_empty(
        spawn_app(database).await,
    ))
    .await;
}

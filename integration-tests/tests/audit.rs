//! Auditing quota history: the replay from the event store, `as_of`, verification against
//! the read models (and naming where they were tampered with), access, and events stored
//! by an older version.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aggregates::UserId;
use audit::{Patience, audit_each, audit_quota, audited_users};
use chrono::{DateTime, Duration, Utc};
use eventstore::{Actor, Database, EventMetadata};
use integration_tests::app::{SignedIn, expect_json};
use integration_tests::problem::expect_problem;
use integration_tests::{TestApp, spawn_app};
use scoremate::cli::args::AdminCommand;
use scoremate::http::pagination::cursor_after;
use serde_json::{Value, json};
use testkit::TestDatabase;
use testkit::history::{append_quota_histories, append_quota_history};

/// A signed-in auditor (the role granted the way operators do it).
async fn auditor(app: &TestApp) -> SignedIn {
    let auditor = app.signed_in_user().await;
    scoremate::cli::admin::run(
        &app.database.database,
        &AdminCommand::GrantRole {
            user: auditor.email.clone(),
            role: "auditor".to_owned(),
        },
    )
    .await
    .unwrap();
    auditor
}

async fn audit(app: &TestApp, auditor: &SignedIn, user_id: &str, query: &str) -> Value {
    let path = format!("/api/v1/audit/users/{user_id}/quota-history{query}");
    expect_json(app.get_authed(&path, &auditor.tokens.access).await, 200).await
}

async fn sql(database: &Database, statement: &str) {
    match database {
        Database::Sqlite(pool) => {
            sqlx::query(statement).execute(pool).await.unwrap();
        }
        Database::Postgres(pool) => {
            sqlx::query(statement).execute(pool).await.unwrap();
        }
    }
}

fn at(entry: &Value) -> DateTime<Utc> {
    entry["occurred_at"].as_str().unwrap().parse().unwrap()
}

/// RFC 3339 with `Z`, safe in a query string as it is.
fn instant(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

fn at_of(answer: &Value) -> DateTime<Utc> {
    answer["as_of"].as_str().unwrap().parse().unwrap()
}

fn state(used: u64, reserved: u64, limit: u64) -> Value {
    json!({
        "limit_bytes": limit,
        "used_bytes": used,
        "reserved_bytes": reserved,
        "available_bytes": limit - used - reserved,
    })
}

async fn history_with_states_between_changes(database: TestDatabase) {
    let app = spawn_app(database).await;
    let auditor = auditor(&app).await;
    let user = app.signed_in_user().await;
    let first = app.add_score(&user, json!({"title": "Prélude"})).await;
    let second = app.add_score(&user, json!({"title": "Fugue"})).await;
    let response = app
        .send(
            app.request(
                reqwest::Method::DELETE,
                &format!("/api/v1/scores/{}", first["id"].as_str().unwrap()),
            )
            .bearer_auth(&user.tokens.access),
        )
        .await;
    assert_eq!(response.status(), 204);
    app.run_processors_until_idle().await;
    let first_size = first["file"]["size_bytes"].as_u64().unwrap();
    let second_size = second["file"]["size_bytes"].as_u64().unwrap();
    let limit = 1_073_741_824;

    let full = audit(&app, &auditor, &user.id, "?page_size=100").await;
    let events: Vec<&str> = full["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        [
            "QuotaLimitSet",
            "QuotaReserved",
            "QuotaConfirmed",
            "QuotaReserved",
            "QuotaConfirmed",
            "QuotaReleased"
        ]
    );
    assert_eq!(full["verified"], true, "{full}");
    assert_eq!(full["divergence"], Value::Null);
    assert_eq!(
        full["checked"],
        json!(["quota_ledger", "quota", "open_reservations", "scores"])
    );
    assert_eq!(full["as_of"], Value::Null);
    assert_eq!(full["state"], state(second_size, 0, limit));
    let results = full["results"].as_array().unwrap();
    // Who caused what: the user's requests, the deletion's release by the quota saga.
    assert_eq!(results[1]["actor"], json!(user.id));
    assert!(results[1]["request_id"].is_string());
    assert_eq!(results[1]["upload_id"], first["id"]);
    assert_eq!(results[2]["score_id"], first["id"]);
    assert_eq!(results[5]["actor"], json!(user.id));
    assert_eq!(results[0]["event_version"], "2.0");
    assert_eq!(results[1]["available_bytes_after"], limit - first_size);

    // Before the first event: nothing.
    let before = at(&results[0]) - Duration::seconds(1);
    let answer = audit(
        &app,
        &auditor,
        &user.id,
        &format!("?as_of={}", instant(before)),
    )
    .await;
    assert_eq!(answer["count"], 0);
    assert_eq!(answer["results"], json!([]));
    assert_eq!(answer["state"], state(0, 0, 0));
    assert_eq!(at_of(&answer), before);

    // Exactly at an event (inclusive) and between it and the next: the state after it.
    let confirmed_first = at(&results[2]);
    for as_of in [
        confirmed_first,
        confirmed_first + (at(&results[3]) - confirmed_first) / 2,
    ] {
        let query = format!("?as_of={}", instant(as_of));
        let answer = audit(&app, &auditor, &user.id, &query).await;
        assert_eq!(answer["count"], 3, "{as_of}: {answer}");
        assert_eq!(answer["state"], state(first_size, 0, limit));
        assert_eq!(answer["results"][2], results[2]);
        // The verification is of the whole stream, whatever the instant.
        assert_eq!(answer["verified"], true);
    }

    // After the last change: the final state.
    let after = at(&results[5]) + Duration::days(1);
    let answer = audit(
        &app,
        &auditor,
        &user.id,
        &format!("?as_of={}", instant(after)),
    )
    .await;
    assert_eq!(answer["count"], 6);
    assert_eq!(answer["state"], full["state"]);

    // The same question gives the same answer.
    assert_eq!(
        audit(&app, &auditor, &user.id, "?page_size=100").await,
        full
    );

    // Long histories come in pages, the links keeping `as_of`.
    let after_param = after.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let page = audit(
        &app,
        &auditor,
        &user.id,
        &format!("?page_size=4&as_of={after_param}"),
    )
    .await;
    assert_eq!(page["count"], 6);
    assert_eq!(page["results"].as_array().unwrap().len(), 4);
    let next = page["next"].as_str().unwrap();
    assert!(next.contains("page=2") && next.contains("as_of="), "{next}");
    let second_page: Value = expect_json(
        app.send(app.client.get(next).bearer_auth(&auditor.tokens.access))
            .await,
        200,
    )
    .await;
    assert_eq!(second_page["results"][1], results[5]);
    assert_eq!(second_page["next"], Value::Null);
    app.stop().await;
}

#[tokio::test]
async fn as_of_before_between_and_after_changes_gives_the_states_of_those_instants_sqlite() {
    history_with_states_between_changes(TestDatabase::sqlite().await).await;
}

#[tokio::test]
async fn as_of_before_between_and_after_changes_gives_the_states_of_those_instants_postgres() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    history_with_states_between_changes(database).await;
}

async fn tampering_is_named(database: TestDatabase) {
    let app = spawn_app(database).await;
    let auditor = auditor(&app).await;
    let user = app.signed_in_user().await;
    let score = app.add_score(&user, json!({"title": "Étude"})).await;
    app.run_processors_until_idle().await;
    let clean = audit(&app, &auditor, &user.id, "").await;
    assert_eq!(clean["verified"], true, "{clean}");
    let size = score["file"]["size_bytes"].as_i64().unwrap();
    let last_position = clean["results"][2]["position"].clone();
    let db = &app.database.database;

    // The balance row, one byte off.
    sql(
        db,
        &format!(
            "UPDATE quota_balances SET used_bytes = used_bytes + 1 WHERE user_id = '{}'",
            user.id
        ),
    )
    .await;
    let answer = audit(&app, &auditor, &user.id, "").await;
    assert_eq!(answer["verified"], false);
    assert_eq!(
        answer["divergence"],
        json!({
            "read_model": "quota",
            "position": last_position,
            "expected": {"used_bytes": size},
            "found": {"used_bytes": size + 1},
        })
    );
    // The answer itself still comes from the events.
    assert_eq!(answer["state"]["used_bytes"], size);
    sql(
        db,
        &format!(
            "UPDATE quota_balances SET used_bytes = used_bytes - 1 WHERE user_id = '{}'",
            user.id
        ),
    )
    .await;

    // A ledger line rewritten: the first divergent position is that line's.
    sql(
        db,
        &format!(
            "UPDATE quota_ledger SET delta_reserved_bytes = 7 WHERE user_id = '{}' AND version = 2",
            user.id
        ),
    )
    .await;
    let answer = audit(&app, &auditor, &user.id, "").await;
    assert_eq!(answer["verified"], false);
    assert_eq!(answer["divergence"]["read_model"], "quota_ledger");
    assert_eq!(
        answer["divergence"]["position"],
        clean["results"][1]["position"]
    );
    assert_eq!(
        answer["divergence"]["expected"],
        json!({"delta_reserved_bytes": size})
    );
    assert_eq!(
        answer["divergence"]["found"],
        json!({"delta_reserved_bytes": 7})
    );
    sql(
        db,
        &format!(
            "UPDATE quota_ledger SET delta_reserved_bytes = {size} WHERE user_id = '{}' AND version = 2",
            user.id
        ),
    )
    .await;

    // A line for a version the stream does not have: named at its own position.
    sql(
        db,
        &format!(
            "INSERT INTO quota_ledger (position, user_id, version, occurred_at, event, \
             delta_used_bytes, delta_reserved_bytes, used_bytes_after, reserved_bytes_after, \
             limit_bytes_after) VALUES (999999, '{}', 99, '2026-11-26T12:00:00Z', \
             'QuotaReserved', 0, 1, 0, 1, 1)",
            user.id
        ),
    )
    .await;
    let answer = audit(&app, &auditor, &user.id, "").await;
    assert_eq!(
        answer["divergence"],
        json!({
            "read_model": "quota_ledger",
            "position": 999_999,
            "expected": null,
            "found": {"version": 99, "event": "QuotaReserved"},
        })
    );
    sql(
        db,
        &format!(
            "DELETE FROM quota_ledger WHERE user_id = '{}' AND version = 99",
            user.id
        ),
    )
    .await;

    // A ledger line gone.
    sql(
        db,
        &format!(
            "DELETE FROM quota_ledger WHERE user_id = '{}' AND version = 3",
            user.id
        ),
    )
    .await;
    let answer = audit(&app, &auditor, &user.id, "").await;
    assert_eq!(answer["divergence"]["read_model"], "quota_ledger");
    assert_eq!(answer["divergence"]["position"], last_position);
    assert_eq!(answer["divergence"]["found"], Value::Null);
    app.run_processors_until_idle().await;

    // A live score dropped from the score read model.
    sql(
        db,
        &format!(
            "DELETE FROM scores WHERE id = '{}'",
            score["id"].as_str().unwrap()
        ),
    )
    .await;
    let answer = audit(&app, &auditor, &user.id, "").await;
    let divergence = &answer["divergence"];
    // The ledger gap comes first (by position) when both are wrong: fill it by rebuilding.
    assert_eq!(divergence["read_model"], "quota_ledger", "{answer}");
    projections::rebuild_named("quota_ledger", db, |_| {})
        .await
        .unwrap();
    let answer = audit(&app, &auditor, &user.id, "").await;
    assert_eq!(
        answer["divergence"],
        json!({
            "read_model": "scores",
            "position": last_position,
            "expected": {"used_bytes": size},
            "found": {"used_bytes": 0},
        })
    );
    projections::rebuild_named("scores", db, |_| {})
        .await
        .unwrap();
    let answer = audit(&app, &auditor, &user.id, "").await;
    assert_eq!(answer["verified"], true, "{answer}");
    app.stop().await;
}

#[tokio::test]
async fn tampering_with_the_read_models_is_found_and_named_sqlite() {
    tampering_is_named(TestDatabase::sqlite().await).await;
}

#[tokio::test]
async fn tampering_with_the_read_models_is_found_and_named_postgres() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    tampering_is_named(database).await;
}

#[tokio::test]
async fn only_auditors_audit_and_only_known_users_are_audited() {
    let app = spawn_app(TestDatabase::sqlite().await).await;
    let user = app.signed_in_user().await;
    let path = format!("/api/v1/audit/users/{}/quota-history", user.id);

    let anonymous = app.get(&path).await;
    assert_eq!(expect_json(anonymous, 401).await["code"], "E002");
    let own = app.get_authed(&path, &user.tokens.access).await;
    assert_eq!(expect_json(own, 403).await["code"], "E006");

    let auditor = auditor(&app).await;
    for unknown in [uuid::Uuid::now_v7().to_string(), "not-a-user".to_owned()] {
        let answer = app
            .get_authed(
                &format!("/api/v1/audit/users/{unknown}/quota-history"),
                &auditor.tokens.access,
            )
            .await;
        assert_eq!(expect_json(answer, 404).await["code"], "E003");
    }
    let bad = app
        .get_authed(&format!("{path}?as_of=yesterday"), &auditor.tokens.access)
        .await;
    let bad = expect_json(bad, 400).await;
    assert_eq!(bad["code"], "E007");
    assert!(bad["fields"]["as_of"].is_array(), "{bad}");
    let past_the_end = app
        .get_authed(&format!("{path}?page=2"), &auditor.tokens.access)
        .await;
    assert_eq!(expect_json(past_the_end, 404).await["code"], "E003");

    // A revoked auditor's token stops working for audits at once.
    scoremate::cli::admin::run(
        &app.database.database,
        &AdminCommand::RevokeRole {
            user: auditor.email.clone(),
            role: "auditor".to_owned(),
        },
    )
    .await
    .unwrap();
    let revoked = app.get_authed(&path, &auditor.tokens.access).await;
    assert_eq!(expect_json(revoked, 403).await["code"], "E006");
    app.stop().await;
}

fn metadata() -> EventMetadata {
    EventMetadata::new(Actor::System, Utc::now()).with_request_id("audit-test")
}

#[tokio::test]
async fn a_stream_with_an_event_stored_by_an_older_version_replays() {
    let app = spawn_app(TestDatabase::sqlite().await).await;
    let auditor = auditor(&app).await;
    let user = app.signed_in_user().await;
    // Version 1.0 of QuotaLimitSet said `limit`; 2.0 says `limit_bytes`.
    let legacy_metadata = serde_json::to_string(&metadata()).unwrap();
    sql(
        &app.database.database,
        &format!(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
             VALUES ('Quota', '{}', 2, 'QuotaLimitSet', '1.0', '{{\"QuotaLimitSet\": {{\"limit\": 5000}}}}', '{legacy_metadata}')",
            user.id
        ),
    )
    .await;
    app.run_processors_until_idle().await;

    let answer = audit(&app, &auditor, &user.id, "").await;
    assert_eq!(answer["results"][1]["event_version"], "1.0");
    assert_eq!(answer["results"][1]["limit_bytes_after"], 5000);
    assert_eq!(answer["state"], state(0, 0, 5000));
    assert_eq!(answer["verified"], true, "{answer}");
    // The aggregate reads it too: the limit holds for new uploads.
    let quota = expect_json(
        app.get_authed("/api/v1/quota", &user.tokens.access).await,
        200,
    )
    .await;
    assert_eq!(quota["limit_bytes"], 5000);
    let too_big = app
        .send(
            app.request(reqwest::Method::POST, "/api/v1/files/upload-url")
                .bearer_auth(&user.tokens.access)
                .json(&json!({"filename": "a.pdf", "size": 5001, "mime_type": "application/pdf"})),
        )
        .await;
    assert_eq!(expect_json(too_big, 413).await["code"], "E001");
    app.stop().await;
}

#[tokio::test]
async fn ten_thousand_ledger_events_replay_to_the_balance_they_add_up_to() {
    let app = spawn_app(TestDatabase::sqlite().await).await;
    let auditor = auditor(&app).await;
    let user = app.signed_in_user().await;
    // The registration's QuotaLimitSet + 9,999 more.
    let outcome = append_quota_history(&app.database.database, user.id.parse().unwrap(), 9_999)
        .await
        .unwrap();
    assert_eq!(outcome.version, 10_000);
    app.run_processors_until_idle().await;

    let first = audit(&app, &auditor, &user.id, "?page_size=100").await;
    assert_eq!(first["count"], 10_000);
    assert_eq!(first["verified"], true, "{}", first["divergence"]);
    assert_eq!(first["state"], state(0, outcome.reserved, outcome.limit));
    let last = audit(&app, &auditor, &user.id, "?page_size=100&page=100").await;
    let last_entry = &last["results"][99];
    assert_eq!(last_entry["version"], 10_000);
    assert_eq!(last_entry["reserved_bytes_after"], outcome.reserved);
    // `verified` compared all 10,000 lines with the quota_ledger rows the projection
    // built one event at a time; here, the first page's running balance by hand.
    let mut reserved = 0_i64;
    for entry in first["results"].as_array().unwrap() {
        reserved += entry["delta_reserved_bytes"].as_i64().unwrap();
        assert_eq!(entry["reserved_bytes_after"].as_i64().unwrap(), reserved);
    }
    let quota = expect_json(
        app.get_authed("/api/v1/quota", &user.tokens.access).await,
        200,
    )
    .await;
    assert_eq!(quota["reserved_bytes"], outcome.reserved);

    // Page numbers reach the first 10,000 entries; cursors go anywhere, both ways.
    let beyond = format!(
        "/api/v1/audit/users/{}/quota-history?page=101&page_size=100",
        user.id
    );
    expect_problem(
        app.get_authed(&beyond, &auditor.tokens.access).await,
        400,
        "E007",
    )
    .await;
    let cursor = cursor_after("version", vec![json!(9_850)]);
    for (path, token) in [
        (
            format!("/api/v1/audit/users/{}/quota-history", user.id),
            &auditor.tokens.access,
        ),
        ("/api/v1/quota/history".to_owned(), &user.tokens.access),
    ] {
        let versions = |page: &Value| -> Vec<i64> {
            page["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|entry| entry["version"].as_i64().unwrap())
                .collect()
        };
        let after = format!("{path}?page_size=100&cursor={cursor}");
        let page = expect_json(app.get_authed(&after, token).await, 200).await;
        assert_eq!(
            versions(&page),
            (9_851..=9_950).collect::<Vec<_>>(),
            "{path}"
        );
        let follow = async |link: &Value| {
            let url = link.as_str().unwrap();
            expect_json(app.send(app.client.get(url).bearer_auth(token)).await, 200).await
        };
        let last = follow(&page["next"]).await;
        assert_eq!(
            versions(&last),
            (9_951..=10_000).collect::<Vec<_>>(),
            "{path}"
        );
        assert!(last["next"].is_null(), "{path}");
        let before = follow(&page["previous"]).await;
        assert_eq!(
            versions(&before),
            (9_751..=9_850).collect::<Vec<_>>(),
            "{path}"
        );
    }
    app.stop().await;
}

async fn every_user_verified_at_once_answers_as_one_audit_does(database: TestDatabase) {
    let app = spawn_app(database).await;
    let db = &app.database.database;
    let registered = app.signed_in_user().await;
    let users: Vec<UserId> = (0..6).map(|_| UserId(uuid::Uuid::now_v7())).collect();
    append_quota_histories(db, &users, 7).await.unwrap();
    // An event whose metadata does not read: it happened when it was stored.
    sql(
        db,
        &format!(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
             VALUES ('Quota', '{}', 8, 'QuotaLimitSet', '2.0', '{{\"QuotaLimitSet\": {{\"limit_bytes\": 5}}}}', '{{}}')",
            users[1]
        ),
    )
    .await;
    app.run_processors_until_idle().await;
    sql(
        db,
        &format!(
            "UPDATE quota_ledger SET used_bytes_after = 1 WHERE user_id = '{}' AND version = 3",
            users[4]
        ),
    )
    .await;

    let listed = audited_users(db).await.unwrap();
    assert_eq!(listed.len(), users.len() + 1, "{listed:?}");
    assert!(listed.contains(&registered.id.parse().unwrap()));
    let mut answers = Vec::new();
    audit_each(db, &listed, 3, |user_id, audit| {
        answers.push((user_id, audit))
    })
    .await
    .unwrap();
    // Every user once, in the order given, each answer the one-user audit's.
    assert_eq!(
        answers.iter().map(|(user, _)| *user).collect::<Vec<_>>(),
        listed
    );
    for (user_id, audit) in &answers {
        let alone = audit_quota(db, *user_id, None, Patience::NONE)
            .await
            .unwrap();
        assert_eq!(audit, &alone);
        assert_eq!(audit.verified, *user_id != users[4], "{user_id}: {audit:?}");
    }
    let (_, tampered) = answers.iter().find(|(user, _)| *user == users[4]).unwrap();
    let divergence = tampered.divergence.as_ref().unwrap();
    assert_eq!(divergence.read_model, "quota_ledger");
    assert_eq!(divergence.found, json!({"used_bytes_after": 1}));

    let (_, undated) = answers.iter().find(|(user, _)| *user == users[1]).unwrap();
    let last = undated.results.last().unwrap();
    assert_eq!((last.version, last.limit_bytes_after), (8, 5));
    assert_eq!(last.actor, None);
    let stored: DateTime<Utc> = match db {
        Database::Sqlite(pool) => sqlx::query_scalar(
            "SELECT recorded_at FROM events WHERE aggregate_id = $1 AND sequence = 8",
        )
        .bind(users[1].to_string())
        .fetch_one(pool)
        .await
        .unwrap(),
        Database::Postgres(pool) => sqlx::query_scalar(
            "SELECT recorded_at FROM events WHERE aggregate_id = $1 AND sequence = 8",
        )
        .bind(users[1].to_string())
        .fetch_one(pool)
        .await
        .unwrap(),
    };
    assert_eq!(last.occurred_at, stored);
    app.stop().await;
}

#[tokio::test]
async fn verifying_every_user_at_once_answers_as_auditing_each_does_sqlite() {
    every_user_verified_at_once_answers_as_one_audit_does(TestDatabase::sqlite().await).await;
}

#[tokio::test]
async fn verifying_every_user_at_once_answers_as_auditing_each_does_postgres() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    every_user_verified_at_once_answers_as_one_audit_does(database).await;
}

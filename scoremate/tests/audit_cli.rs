//! `scoremate audit quota` and `scoremate audit verify-all` as an auditor runs them, beside
//! the API answering the same question.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Output;

use serde_json::{Value, json};

mod support;

use support::{KillOnDrop, login, register, scoremate, start, temp_dir};

fn run(dir: &std::path::Path, args: &[&str]) -> Output {
    scoremate()
        .args(args)
        .env("SCOREMATE_DATA_DIR", dir)
        .output()
        .unwrap()
}

fn succeeded(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[tokio::test]
async fn the_cli_answers_what_the_api_answers_and_verify_all_finds_tampering() {
    let dir = temp_dir("cli-audit");
    // The log lines must be read while the server runs (a full pipe would stall it).
    let support::Server {
        child,
        base,
        lines: _lines,
        ..
    } = start(&dir, &[]);
    let _server = KillOnDrop(Some(child));
    let client = reqwest::Client::new();
    let user_id = register(&client, &base, "musician@example.com").await;
    let access = login(&client, &base, "musician@example.com").await;
    register(&client, &base, "auditor@example.com").await;
    let auditor = login(&client, &base, "auditor@example.com").await;
    succeeded(&run(
        &dir,
        &["admin", "grant-role", "auditor@example.com", "auditor"],
    ));
    succeeded(&run(
        &dir,
        &["admin", "set-quota", "musician@example.com", "5000000"],
    ));
    let ticket: Value = client
        .post(format!("{base}/files/upload-url"))
        .bearer_auth(&access)
        .json(&json!({"filename": "a.pdf", "size": 1234, "mime_type": "application/pdf"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let cancelled = client
        .delete(format!(
            "{base}/files/uploads/{}",
            ticket["upload_id"].as_str().unwrap()
        ))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(cancelled.status(), 204);

    let api = |query: &'static str| {
        let request = client
            .get(format!("{base}/audit/users/{user_id}/quota-history{query}"))
            .bearer_auth(&auditor);
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    // The server's followers catch up within the API's own wait; ask until they have.
    let mut from_api = api("?page_size=100").await;
    for _ in 0..100 {
        if from_api["checked"]
            .as_array()
            .is_some_and(|checked| checked.len() == 4)
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        from_api = api("?page_size=100").await;
    }
    assert_eq!(from_api["count"], 4, "{from_api}");
    assert_eq!(from_api["verified"], true, "{from_api}");

    // By email and by id, the same JSON as the API's.
    for user in ["musician@example.com", user_id.as_str()] {
        let printed = succeeded(&run(&dir, &["audit", "quota", user, "--format", "json"]));
        let from_cli: Value = serde_json::from_str(&printed).unwrap();
        assert_eq!(from_cli, from_api, "{user}");
    }
    let first_at = from_api["results"][1]["occurred_at"].as_str().unwrap();
    let as_of = succeeded(&run(
        &dir,
        &[
            "audit", "quota", &user_id, "--as-of", first_at, "--format", "json",
        ],
    ));
    let as_of: Value = serde_json::from_str(&as_of).unwrap();
    assert_eq!(as_of["count"], 2);
    assert_eq!(as_of["state"]["limit_bytes"], 5_000_000);
    let table = succeeded(&run(&dir, &["audit", "quota", "musician@example.com"]));
    assert!(table.contains("ReservationReleased"), "{table}");
    assert!(table.contains("verified: read models agree"), "{table}");

    let unknown = run(&dir, &["audit", "quota", "nobody@example.com"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no account"));
    let bad_instant = run(&dir, &["audit", "quota", &user_id, "--as-of", "yesterday"]);
    assert!(!bad_instant.status.success());

    let verified = succeeded(&run(&dir, &["audit", "verify-all"]));
    assert!(verified.contains("2 users verified"), "{verified}");

    // Tamper with the balance in SQL: verify-all fails and names user and read model.
    let database =
        sqlx::SqlitePool::connect(&format!("sqlite://{}", dir.join("scoremate.db").display()))
            .await
            .unwrap();
    sqlx::query("UPDATE quota_balances SET reserved_bytes = 99 WHERE user_id = $1")
        .bind(&user_id)
        .execute(&database)
        .await
        .unwrap();
    database.close().await;
    let failed = run(&dir, &["audit", "verify-all"]);
    assert!(!failed.status.success());
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&failed.stdout),
        String::from_utf8_lossy(&failed.stderr)
    );
    assert!(
        report.contains(&format!("user {user_id}: quota diverges")),
        "{report}"
    );
    assert!(report.contains("1 of 2 users diverge"), "{report}");
    let diverged = api("").await;
    assert_eq!(diverged["verified"], false);
    assert_eq!(
        diverged["divergence"]["found"],
        json!({"reserved_bytes": 99})
    );
}

//! A server killed (`kill -9`) between the upload's confirmation and the quota's heals on
//! restart: the quota saga confirms the bytes, exactly once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod support;

use support::{
    FreshPostgres, KillOnDrop, kill_9, login, register, start, store, temp_dir, wait_for,
};

async fn sign_in(client: &reqwest::Client, base: &str, first_time: bool) -> String {
    if first_time {
        register(client, base, "crash@example.com").await;
    }
    login(client, base, "crash@example.com").await
}

#[tokio::test]
async fn a_kill_between_upload_and_quota_confirmation_heals_on_restart_exactly_once() {
    let data_dir = temp_dir("crash");
    let client = reqwest::Client::new();
    let pdf = b"%PDF-1.4\n% crash test\n%%EOF\n".to_vec();

    let first = start(
        &data_dir,
        &[("SCOREMATE_FAILPOINT", "after-upload-confirmed")],
    );
    let mut first_guard = KillOnDrop(Some(first.child));
    let access = sign_in(&client, &first.base, true).await;
    let upload_id = store(&client, &first.base, &access, &pdf).await;
    let confirm = client
        .post(format!("{}/scores", first.base))
        .bearer_auth(&access)
        .json(&json!({"upload_id": upload_id, "title": "Crash"}))
        .send();
    let confirming = tokio::spawn(confirm);
    // The confirmation is committed; the quota confirmation is not. The failpoint aborts
    // the process right there (as kill -9 would, before the woken quota saga can act).
    let paused = tokio::task::spawn_blocking({
        let lines = first.lines;
        move || {
            wait_for(&lines, "failpoint after-upload-confirmed reached");
            lines
        }
    });
    let _lines = paused.await.unwrap();
    kill_9(first_guard.0.take().unwrap());
    assert!(
        confirming.await.unwrap().is_err(),
        "the client saw the connection die"
    );

    // The crash left exactly the window under test: the upload confirmed, the quota not.
    let database = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        data_dir.join("scoremate.db").display()
    ))
    .await
    .unwrap();
    let count = |event_type: &'static str| {
        let database = database.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM events WHERE event_type = $1")
                .bind(event_type)
                .fetch_one(&database)
                .await
                .unwrap()
        }
    };
    assert_eq!(
        (
            count("UploadConfirmed").await,
            count("QuotaConfirmed").await
        ),
        (1, 0)
    );
    database.close().await;

    let second = start(&data_dir, &[]);
    let _second_guard = KillOnDrop(Some(second.child));
    let access = sign_in(&client, &second.base, false).await;
    // The restarted server's quota saga picks the confirmation up from the log; it runs
    // in the background, so wait for it (bounded).
    let deadline = Instant::now() + Duration::from_secs(30);
    let quota = loop {
        let quota: Value = client
            .get(format!("{}/quota", second.base))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if quota["used_bytes"] == pdf.len() || Instant::now() > deadline {
            break quota;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(quota["used_bytes"], pdf.len());
    assert_eq!(quota["reserved_bytes"], 0);

    // Give the background loop more rounds: nothing is confirmed twice.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let history: Value = client
        .get(format!("{}/quota/history", second.base))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let confirmations = history["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| row["event"] == "QuotaConfirmed")
        .count();
    assert_eq!(confirmations, 1);
    let quota: Value = client
        .get(format!("{}/quota", second.base))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(quota["used_bytes"], pdf.len());
    drop(_second_guard);
    let _ = std::fs::remove_dir_all(data_dir);
}

/// Where the burst test keeps its data: the embedded SQLite default, or a fresh
/// PostgreSQL database.
enum Store {
    Sqlite,
    Postgres(FreshPostgres),
}

impl Store {
    fn url(&self, data_dir: &std::path::Path) -> String {
        match self {
            Self::Sqlite => format!("sqlite://{}", data_dir.join("scoremate.db").display()),
            Self::Postgres(database) => database.url(),
        }
    }

    async fn drop_database(self) {
        if let Self::Postgres(database) = self {
            database.drop_database().await;
        }
    }
}

/// What the clients of the burst were told: setlists created, and the description each
/// was last acknowledged to have.
#[derive(Default)]
struct Acknowledged {
    created: Vec<(String, String)>,
    described: Vec<(String, String)>,
}

async fn burst(client: reqwest::Client, base: String, access: String, lane: usize) -> Acknowledged {
    let mut acknowledged = Acknowledged::default();
    for n in 0.. {
        let name = format!("burst {lane}-{n}");
        let Ok(response) = client
            .post(format!("{base}/setlists"))
            .bearer_auth(&access)
            .json(&json!({"name": name}))
            .send()
            .await
        else {
            break;
        };
        if response.status() != 201 {
            break;
        }
        let Ok(body) = response.json::<Value>().await else {
            break;
        };
        let id = body["id"].as_str().unwrap().to_owned();
        acknowledged.created.push((id.clone(), name));
        let description = format!("described {lane}-{n}");
        let Ok(response) = client
            .patch(format!("{base}/setlists/{id}"))
            .bearer_auth(&access)
            .json(&json!({"description": description}))
            .send()
            .await
        else {
            break;
        };
        if response.status() != 200 {
            break;
        }
        acknowledged.described.push((id, description));
    }
    acknowledged
}

async fn a_kill_during_a_burst_loses_nothing_acknowledged(store: Store) {
    let data_dir = temp_dir("crash-burst");
    let url = store.url(&data_dir);
    let settings = [("SCOREMATE_DATABASE_URL", url.as_str())];
    let client = reqwest::Client::new();

    let first = start(&data_dir, &settings);
    let mut first_guard = KillOnDrop(Some(first.child));
    let access = sign_in(&client, &first.base, true).await;
    let lanes: Vec<_> = (0..4)
        .map(|lane| {
            tokio::spawn(burst(
                client.clone(),
                first.base.clone(),
                access.clone(),
                lane,
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    kill_9(first_guard.0.take().unwrap());
    let mut acknowledged = Acknowledged::default();
    for lane in lanes {
        let lane = lane.await.unwrap();
        acknowledged.created.extend(lane.created);
        acknowledged.described.extend(lane.described);
    }
    assert!(
        acknowledged.created.len() >= 4,
        "the burst got going before the kill"
    );

    // After the restart every acknowledged command is there.
    let second = start(&data_dir, &settings);
    let mut second_guard = KillOnDrop(Some(second.child));
    let access = sign_in(&client, &second.base, false).await;
    let mut listed = std::collections::HashMap::new();
    let mut next = Some(format!("{}/setlists?page_size=100", second.base));
    while let Some(url) = next {
        let page: Value = client
            .get(&url)
            .bearer_auth(&access)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for setlist in page["results"].as_array().unwrap() {
            listed.insert(
                setlist["id"].as_str().unwrap().to_owned(),
                (setlist["name"].clone(), setlist["description"].clone()),
            );
        }
        next = page["next"].as_str().map(str::to_owned);
    }
    for (id, name) in &acknowledged.created {
        assert_eq!(
            listed.get(id).map(|(name, _)| name),
            Some(&json!(name)),
            "{id}"
        );
    }
    for (id, description) in &acknowledged.described {
        assert_eq!(listed[id].1, json!(description), "{id}");
    }

    // Once the restarted server has caught up, its read models equal a rebuild from
    // scratch, row for row.
    let database = eventstore::Database::connect(&url, &eventstore::DatabaseOptions::default())
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while projections::status(&database)
        .await
        .unwrap()
        .iter()
        .any(|status| status.lag > 0)
    {
        assert!(
            Instant::now() < deadline,
            "the projections did not catch up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut second_child = second_guard.0.take().unwrap();
    let _ = second_child.kill();
    let _ = second_child.wait();
    let live = projections::dump_read_models(&database).await.unwrap();
    let rebuilt = support::scoremate()
        .env("SCOREMATE_DATA_DIR", &data_dir)
        .env("SCOREMATE_DATABASE_URL", &url)
        .args(["projections", "rebuild", "all"])
        .output()
        .unwrap();
    assert!(
        rebuilt.status.success(),
        "{}",
        String::from_utf8_lossy(&rebuilt.stderr)
    );
    let fresh = projections::dump_read_models(&database).await.unwrap();
    for (table, rows) in &live {
        assert_eq!(rows, &fresh[table], "{table} differs from its rebuild");
    }
    database.close().await;
    store.drop_database().await;
    let _ = std::fs::remove_dir_all(data_dir);
}

#[tokio::test]
async fn a_kill_during_a_burst_loses_nothing_acknowledged_on_sqlite() {
    a_kill_during_a_burst_loses_nothing_acknowledged(Store::Sqlite).await;
}

#[tokio::test]
async fn a_kill_during_a_burst_loses_nothing_acknowledged_on_postgres() {
    if let Some(database) = FreshPostgres::create("crash").await {
        let store = Store::Postgres(database);
        a_kill_during_a_burst_loses_nothing_acknowledged(store).await;
    }
}

//! PDF processing end to end: a confirmed upload is read by the `pdf_info` and `thumbnail`
//! processors in their sandbox, the score turns `ready` with its PDF facts and a 300 px PNG
//! served through `GET /scores/{id}/thumbnail`; a file that cannot be processed turns
//! `failed` with a readable reason, and the server carries on. The stages run as jobs of the
//! job table: a job whose process died is taken over once its lease has run out.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use eventstore::Database;
use integration_tests::app::{SignedIn, expect_json};
use integration_tests::problem::expect_problem;
use integration_tests::{TestApp, spawn_app};
use serde_json::{Value, json};
use testkit::TestDatabase;

/// A real scanned page (bilevel CCITT G4), made by tiff2pdf; see score-pdf/tests/fixtures.
const SCANNED: &[u8] = include_bytes!("../../score-pdf/tests/fixtures/ccitt-g4.pdf");
/// Locked by a user password (qpdf).
const LOCKED: &[u8] = include_bytes!("../../score-pdf/tests/fixtures/user-password-aes256.pdf");

async fn upload(app: &TestApp, user: &SignedIn, bytes: &[u8], title: &str) -> String {
    let ticket = expect_json(
        app.send(
            app.request(reqwest::Method::POST, "/api/v1/files/upload-url")
                .bearer_auth(&user.tokens.access)
                .json(&json!({"filename": "score.pdf", "size": bytes.len(), "mime_type": "application/pdf"})),
        )
        .await,
        201,
    )
    .await;
    let mut put = app.client.put(ticket["upload_url"].as_str().unwrap());
    for (name, value) in ticket["headers"].as_object().unwrap() {
        put = put.header(name.as_str(), value.as_str().unwrap());
    }
    assert_eq!(put.body(bytes.to_vec()).send().await.unwrap().status(), 200);
    let score = expect_json(
        app.send(
            app.request(reqwest::Method::POST, "/api/v1/scores")
                .bearer_auth(&user.tokens.access)
                .json(&json!({"upload_id": ticket["upload_id"], "title": title})),
        )
        .await,
        201,
    )
    .await;
    score["id"].as_str().unwrap().to_owned()
}

async fn score(app: &TestApp, user: &SignedIn, id: &str) -> Value {
    expect_json(
        app.get_authed(&format!("/api/v1/scores/{id}"), &user.tokens.access)
            .await,
        200,
    )
    .await
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let field = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    (field(16), field(20))
}

async fn a_real_pdf_becomes_ready_with_its_facts_and_thumbnail(database: TestDatabase) {
    let app = spawn_app(database).await;
    let user = app.signed_in_user().await;
    let id = upload(&app, &user, SCANNED, "Scanned étude").await;

    let pending = score(&app, &user, &id).await;
    assert_eq!(pending["processing"]["status"], "pending");
    assert_eq!(pending["pdf"], Value::Null);
    let not_yet = app
        .get_authed(
            &format!("/api/v1/scores/{id}/thumbnail"),
            &user.tokens.access,
        )
        .await;
    expect_problem(not_yet, 404, "E003").await;

    app.run_processors_until_idle().await;
    let ready = score(&app, &user, &id).await;
    assert_eq!(ready["processing"]["status"], "ready", "{ready}");
    assert_eq!(ready["processing"]["error"], Value::Null);
    assert_eq!(ready["pdf"]["page_count"], 1, "{ready}");
    assert!(ready["pdf"]["page_width_pt"].as_f64().unwrap() > 0.0);
    assert_eq!(ready["pdf"]["encrypted"], false);
    assert_eq!(ready["thumbnail"]["width"], 300);

    let link = expect_json(
        app.get_authed(
            &format!("/api/v1/scores/{id}/thumbnail?redirect=false"),
            &user.tokens.access,
        )
        .await,
        200,
    )
    .await;
    let png = app
        .client
        .get(link["url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let (width, height) = png_size(&png);
    assert_eq!(width, 300);
    assert_eq!(json!(height), ready["thumbnail"]["height"]);
    let redirect = app
        .send(
            app.request(
                reqwest::Method::GET,
                &format!("/api/v1/scores/{id}/thumbnail"),
            )
            .bearer_auth(&user.tokens.access),
        )
        .await;
    assert_eq!(
        redirect.status(),
        200,
        "the client follows the 302 to the PNG"
    );

    // The list hands out the link too, the same URL twice in a row (a browser caches the
    // image under it), and a page of the API's origin may read it across origins.
    let listed = |query: &'static str| {
        let (app, access) = (&app, &user.tokens.access);
        async move {
            expect_json(
                app.get_authed(&format!("/api/v1/scores?{query}"), access)
                    .await,
                200,
            )
            .await
        }
    };
    let first = listed("thumbnail_urls=true").await["results"][0]["thumbnail"].clone();
    let again = listed("thumbnail_urls=true").await["results"][0]["thumbnail"].clone();
    assert_eq!(first["width"], 300);
    assert_eq!(first["url"], again["url"]);
    assert!(
        listed("thumbnail_urls=false").await["results"][0]["thumbnail"]
            .get("url")
            .is_none()
    );
    let page_origin = format!("http://{}", app.address);
    let cross_origin = app
        .client
        .get(first["url"].as_str().unwrap())
        .header("origin", &page_origin)
        .send()
        .await
        .unwrap();
    assert_eq!(cross_origin.status(), 200);
    assert_eq!(
        cross_origin.headers()["access-control-allow-origin"],
        page_origin.as_str()
    );
    let (width, _) = png_size(&cross_origin.bytes().await.unwrap());
    assert_eq!(width, 300);
    let foreign = app
        .client
        .get(first["url"].as_str().unwrap())
        .header("origin", "http://elsewhere.example")
        .send()
        .await
        .unwrap();
    assert!(
        !foreign
            .headers()
            .contains_key("access-control-allow-origin")
    );
    expect_problem(
        app.get_authed("/api/v1/scores?thumbnail_urls=yes", &user.tokens.access)
            .await,
        400,
        "E007",
    )
    .await;

    // Another user sees no thumbnail of it.
    let stranger = app.signed_in_user().await;
    let hidden = app
        .get_authed(
            &format!("/api/v1/scores/{id}/thumbnail"),
            &stranger.tokens.access,
        )
        .await;
    expect_problem(hidden, 404, "E003").await;

    // Processing again changes nothing: one event per step.
    app.run_processors_until_idle().await;
    assert_eq!(score(&app, &user, &id).await["version"], ready["version"]);
    app.stop().await;
}

async fn unprocessable_files_fail_with_a_reason_and_the_next_one_still_works(
    database: TestDatabase,
) {
    let app = spawn_app(database).await;
    let user = app.signed_in_user().await;
    let locked = upload(&app, &user, LOCKED, "Locked").await;
    let noise = upload(
        &app,
        &user,
        b"%PDF-1.7\n\x00\xff random bytes, no objects",
        "Noise",
    )
    .await;
    let fine = upload(&app, &user, SCANNED, "Fine").await;
    app.run_processors_until_idle().await;

    for id in [&locked, &noise] {
        let failed = score(&app, &user, id).await;
        assert_eq!(failed["processing"]["status"], "failed", "{failed}");
        let reason = failed["processing"]["error"].as_str().unwrap();
        assert!(!reason.is_empty());
        let thumbnail = app
            .get_authed(
                &format!("/api/v1/scores/{id}/thumbnail"),
                &user.tokens.access,
            )
            .await;
        expect_problem(thumbnail, 404, "E003").await;
    }
    let reason = score(&app, &user, &locked).await["processing"]["error"].clone();
    assert!(
        reason.as_str().unwrap().contains("password"),
        "a readable reason: {reason}"
    );
    assert_eq!(
        score(&app, &user, &fine).await["processing"]["status"],
        "ready"
    );
    let failed_list = expect_json(
        app.get_authed("/api/v1/scores?status=failed", &user.tokens.access)
            .await,
        200,
    )
    .await;
    assert_eq!(failed_list["count"], 2);
    app.stop().await;
}

#[tokio::test]
async fn a_real_pdf_becomes_ready_with_its_facts_and_thumbnail_on_sqlite() {
    a_real_pdf_becomes_ready_with_its_facts_and_thumbnail(TestDatabase::sqlite().await).await;
}

#[tokio::test]
async fn a_real_pdf_becomes_ready_with_its_facts_and_thumbnail_on_postgres() {
    if let Some(database) = TestDatabase::postgres().await {
        a_real_pdf_becomes_ready_with_its_facts_and_thumbnail(database).await;
    }
}

#[tokio::test]
async fn unprocessable_files_fail_with_a_reason_and_the_next_one_still_works_on_sqlite() {
    unprocessable_files_fail_with_a_reason_and_the_next_one_still_works(
        TestDatabase::sqlite().await,
    )
    .await;
}

#[tokio::test]
async fn unprocessable_files_fail_with_a_reason_and_the_next_one_still_works_on_postgres() {
    if let Some(database) = TestDatabase::postgres().await {
        unprocessable_files_fail_with_a_reason_and_the_next_one_still_works(database).await;
    }
}

/// A step that failed for a cause since removed runs again with `processors retry`.
async fn a_failed_step_succeeds_when_retried_after_its_cause_is_fixed(database: TestDatabase) {
    let app = spawn_app(database).await;
    let user = app.signed_in_user().await;
    let id = upload(&app, &user, SCANNED, "Misplaced").await;
    // The file vanishes from the (embedded) store before processing: a permanent failure.
    let user_id = &user.id;
    let stored = app.data_dir.join(format!(
        "objects/scoremate/{user_id}/scores/{id}/original.pdf"
    ));
    let bytes = std::fs::read(&stored).unwrap();
    std::fs::remove_file(&stored).unwrap();
    app.run_processors_until_idle().await;
    let failed = score(&app, &user, &id).await;
    assert_eq!(failed["processing"]["status"], "failed", "{failed}");
    assert_eq!(
        failed["processing"]["error"],
        "the uploaded file is missing"
    );

    std::fs::write(&stored, bytes).unwrap();
    let data_dir = app.data_dir.display().to_string();
    let pdf_child = integration_tests::app::pdf_child().display().to_string();
    let cli = <scoremate::cli::args::Cli as clap::Parser>::try_parse_from([
        "scoremate",
        "--data-dir",
        &data_dir,
        "--database-url",
        &app.database.url,
        "--pdf-child",
        &pdf_child,
        "processors",
        "retry",
        &id,
    ])
    .unwrap();
    let Some(scoremate::cli::args::Command::Processors(command)) = &cli.command else {
        panic!("parsed {:?}", cli.command);
    };
    scoremate::cli::processors::run(cli.settings.clone(), command)
        .await
        .unwrap();
    app.run_processors_until_idle().await;
    let ready = score(&app, &user, &id).await;
    assert_eq!(ready["processing"]["status"], "ready", "{ready}");
    assert_eq!(ready["processing"]["error"], Value::Null);
    assert_eq!(ready["pdf"]["page_count"], 1);
    // The retry ran each job again as a second claim.
    let jobs: Vec<_> = jobs_of(&app, &id)
        .await
        .into_iter()
        .map(|(stage, state, attempts, _, outcome)| (stage, state, attempts, outcome))
        .collect();
    let done = |stage: &str| {
        (
            stage.to_owned(),
            "done".to_owned(),
            2,
            Some("succeeded".to_owned()),
        )
    };
    assert_eq!(jobs, [done("pdf_info"), done("thumbnail")]);
    app.stop().await;
}

#[tokio::test]
async fn a_failed_step_succeeds_when_retried_after_its_cause_is_fixed_on_sqlite() {
    a_failed_step_succeeds_when_retried_after_its_cause_is_fixed(TestDatabase::sqlite().await)
        .await;
}

#[tokio::test]
async fn a_failed_step_succeeds_when_retried_after_its_cause_is_fixed_on_postgres() {
    if let Some(database) = TestDatabase::postgres().await {
        a_failed_step_succeeds_when_retried_after_its_cause_is_fixed(database).await;
    }
}

/// A PDF job left `running` by a process, as the job table holds it: claimed once, its
/// lease ending `lease_secs` from now (negative: already over).
async fn insert_running_job(
    app: &TestApp,
    score_id: &str,
    stage: &str,
    owner: &str,
    lease_secs: i64,
) {
    match &app.database.database {
        Database::Postgres(pool) => {
            sqlx::query(
                "INSERT INTO processing_jobs \
                     (score_id, stage, state, attempts, lease_owner, claimed_by, lease_until) \
                 VALUES ($1, $2, 'running', 1, $3, $3, now() + make_interval(secs => $4))",
            )
            .bind(score_id)
            .bind(stage)
            .bind(owner)
            .bind(lease_secs as f64)
            .execute(pool)
            .await
            .unwrap();
        }
        Database::Sqlite(pool) => {
            sqlx::query(
                "INSERT INTO processing_jobs \
                     (score_id, stage, state, attempts, lease_owner, claimed_by, lease_until) \
                 VALUES ($1, $2, 'running', 1, $3, $3, \
                         strftime('%Y-%m-%dT%H:%M:%fZ', 'now', $4))",
            )
            .bind(score_id)
            .bind(stage)
            .bind(owner)
            .bind(format!("{lease_secs:+} seconds"))
            .execute(pool)
            .await
            .unwrap();
        }
    }
}

/// A score's jobs: `(stage, state, attempts, claimed_by, outcome)`, by stage.
async fn jobs_of(
    app: &TestApp,
    score_id: &str,
) -> Vec<(String, String, i64, Option<String>, Option<String>)> {
    const JOBS: &str = "SELECT stage, state, attempts, claimed_by, outcome FROM processing_jobs \
                        WHERE score_id = $1 ORDER BY stage";
    match &app.database.database {
        Database::Postgres(pool) => sqlx::query_as(JOBS).bind(score_id).fetch_all(pool).await,
        Database::Sqlite(pool) => sqlx::query_as(JOBS).bind(score_id).fetch_all(pool).await,
    }
    .unwrap()
}

async fn events_of(app: &TestApp, score_id: &str, event_type: &str) -> i64 {
    const COUNT: &str = "SELECT count(*) FROM events WHERE aggregate_id = $1 AND event_type = $2";
    match &app.database.database {
        Database::Postgres(pool) => {
            sqlx::query_scalar(COUNT)
                .bind(score_id)
                .bind(event_type)
                .fetch_one(pool)
                .await
        }
        Database::Sqlite(pool) => {
            sqlx::query_scalar(COUNT)
                .bind(score_id)
                .bind(event_type)
                .fetch_one(pool)
                .await
        }
    }
    .unwrap()
}

/// A job whose process died mid-way (its lease ran out) is claimed again and done once; a
/// job under a live lease is left to its owner.
async fn a_job_whose_lease_ran_out_is_taken_over_and_a_live_lease_is_respected(
    database: TestDatabase,
) {
    let app = spawn_app(database).await;
    let user = app.signed_in_user().await;
    let orphaned = upload(&app, &user, SCANNED, "Orphaned").await;
    let held = upload(&app, &user, SCANNED, "Held").await;
    // Claimed before the feeders ran, as if by other processes: one that died a minute
    // after its lease ran out, one still at work for an hour.
    insert_running_job(&app, &orphaned, "pdf_info", "dead-worker", -60).await;
    insert_running_job(&app, &held, "pdf_info", "busy-worker", 3600).await;

    app.run_processors_until_idle().await;

    let taken_over = score(&app, &user, &orphaned).await;
    assert_eq!(taken_over["processing"]["status"], "ready", "{taken_over}");
    assert_eq!(taken_over["pdf"]["page_count"], 1);
    assert_eq!(events_of(&app, &orphaned, "PdfInfoExtracted").await, 1);
    let jobs = jobs_of(&app, &orphaned).await;
    assert_eq!(jobs.len(), 2, "{jobs:?}");
    let (stage, state, attempts, claimed_by, outcome) = &jobs[0];
    assert_eq!(
        (
            stage.as_str(),
            state.as_str(),
            *attempts,
            outcome.as_deref()
        ),
        ("pdf_info", "done", 2, Some("succeeded")),
        "{jobs:?}"
    );
    assert!(
        claimed_by
            .as_deref()
            .is_some_and(|owner| owner != "dead-worker"),
        "{jobs:?}"
    );
    let (stage, state, attempts, _, outcome) = &jobs[1];
    assert_eq!(
        (
            stage.as_str(),
            state.as_str(),
            *attempts,
            outcome.as_deref()
        ),
        ("thumbnail", "done", 1, Some("succeeded")),
        "{jobs:?}"
    );

    let waiting = score(&app, &user, &held).await;
    assert_eq!(waiting["processing"]["status"], "pending", "{waiting}");
    assert_eq!(waiting["pdf"], Value::Null);
    assert_eq!(waiting["thumbnail"]["width"], 300, "the other stage ran");
    let jobs = jobs_of(&app, &held).await;
    assert_eq!(
        (jobs[0].1.as_str(), jobs[0].2, jobs[0].3.as_deref()),
        ("running", 1, Some("busy-worker")),
        "{jobs:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_job_whose_lease_ran_out_is_taken_over_and_a_live_lease_is_respected_on_sqlite() {
    a_job_whose_lease_ran_out_is_taken_over_and_a_live_lease_is_respected(
        TestDatabase::sqlite().await,
    )
    .await;
}

#[tokio::test]
async fn a_job_whose_lease_ran_out_is_taken_over_and_a_live_lease_is_respected_on_postgres() {
    if let Some(database) = TestDatabase::postgres().await {
        a_job_whose_lease_ran_out_is_taken_over_and_a_live_lease_is_respected(database).await;
    }
}

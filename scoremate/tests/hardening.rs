//! Hostile input against the real binary (issue 15's weaker spots): NUL characters,
//! oversized bodies on every JSON route, look-alike email addresses, a forged `Host`,
//! `/metrics` on the public address, disguised file names and wrongly typed fields. Each
//! answer is the documented problem shape, never a 500, and nothing is stored.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};

mod support;

use support::{FreshPostgres, KillOnDrop, PASSWORD, Server, login, register, start, temp_dir};

const PDF: &[u8] = b"%PDF-1.4\n% hardening\n%%EOF\n";

struct Running {
    server: KillOnDrop,
    /// Kept open: the server's log goes to this pipe, and a closed pipe would fail it.
    _log: std::sync::mpsc::Receiver<String>,
    base: String,
    metrics_addr: String,
    client: reqwest::Client,
    postgres: Option<FreshPostgres>,
}

impl Running {
    async fn stop(mut self) {
        drop(self.server.0.take().map(|mut child| {
            let _ = child.kill();
            child.wait()
        }));
        if let Some(postgres) = self.postgres.take() {
            postgres.drop_database().await;
        }
    }
}

fn running(server: Server, postgres: Option<FreshPostgres>) -> Running {
    let Server {
        child,
        base,
        serving,
        lines,
    } = server;
    Running {
        server: KillOnDrop(Some(child)),
        _log: lines,
        base,
        metrics_addr: serving["metrics_addr"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        client: reqwest::Client::new(),
        postgres,
    }
}

fn on_sqlite(settings: &[(&str, &str)]) -> Running {
    running(start(&temp_dir("hardening"), settings), None)
}

async fn on_postgres(settings: &[(&str, &str)]) -> Option<Running> {
    let postgres = FreshPostgres::create("hardening").await?;
    let url = postgres.url();
    let mut all = vec![("SCOREMATE_DATABASE_URL", url.as_str())];
    all.extend_from_slice(settings);
    Some(running(start(&temp_dir("hardening"), &all), Some(postgres)))
}

async fn signed_in(app: &Running, email: &str) -> String {
    register(&app.client, &app.base, email).await;
    login(&app.client, &app.base, email).await
}

async fn problem(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    response.json().await.unwrap()
}

fn assert_fields(body: &Value, code: &str, fields: &[&str]) {
    assert_eq!(body["code"], code, "{body}");
    for field in fields {
        assert!(
            body["fields"][field]
                .as_array()
                .is_some_and(|m| !m.is_empty()),
            "no message for {field} in {body}"
        );
    }
}

async fn get_json(app: &Running, access: &str, path: &str) -> Value {
    app.client
        .get(format!("{}{path}", app.base))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn send_json(
    app: &Running,
    access: &str,
    method: reqwest::Method,
    path: &str,
    body: &Value,
) -> reqwest::Response {
    let mut request = app.client.request(method, format!("{}{path}", app.base));
    if !access.is_empty() {
        request = request.bearer_auth(access);
    }
    request.json(body).send().await.unwrap()
}

/// A new setlist of the signed-in user; its id.
async fn setlist_of(app: &Running, access: &str, name: &str) -> String {
    let body = json!({"name": name});
    let created = send_json(app, access, reqwest::Method::POST, "/setlists", &body).await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    created["id"].as_str().unwrap().to_owned()
}

/// A live score of the signed-in user, through upload-url, PUT and confirm.
async fn score_of(app: &Running, access: &str) -> String {
    support::upload(&app.client, &app.base, access, "Etude", PDF).await
}

// --- 4. NUL in text fields and filters -----------------------------------------------

async fn nul_is_refused_everywhere_and_nothing_is_stored(app: Running) {
    use reqwest::Method;
    let registered = send_json(
        &app,
        "",
        Method::POST,
        "/auth/register",
        &json!({"email": "nul@example.com", "password": PASSWORD, "display_name": "Cl\u{0}ara"}),
    )
    .await;
    assert_fields(&problem(registered, 400).await, "E007", &["display_name"]);

    let access = signed_in(&app, "nul@example.com").await;
    let score = score_of(&app, &access).await;
    let setlist = setlist_of(&app, &access, "Gala").await;

    for (method, path, body, fields) in [
        (
            Method::PATCH,
            format!("/scores/{score}"),
            json!({"title": "Noc\u{0}turne", "tags": ["ok", "b\u{0}ad"]}),
            &["title", "tags"][..],
        ),
        (
            Method::POST,
            "/setlists".to_owned(),
            json!({"name": "Gala\u{0}"}),
            &["name"][..],
        ),
        (
            Method::POST,
            format!("/setlists/{setlist}/items"),
            json!({"score_id": score, "note": "attacca\u{0}"}),
            &["note"][..],
        ),
    ] {
        let refused = send_json(&app, &access, method, &path, &body).await;
        assert_fields(&problem(refused, 400).await, "E007", fields);
    }

    for (path, parameter) in [
        ("/scores?search=noc%00turne", "search"),
        ("/scores?composer=%00", "composer"),
        ("/scores?tags=a,%00", "tags"),
        ("/scores?instrumentation=pi%00ano", "instrumentation"),
        ("/setlists?search=%00", "search"),
    ] {
        let listed = app
            .client
            .get(format!("{}{path}", app.base))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap();
        assert_fields(&problem(listed, 400).await, "E007", &[parameter]);
    }

    // A field no route reads is ignored, NUL or not.
    let path = format!("/scores/{score}");
    let body = json!({"title": "Etude", "extra\u{0}": "x\u{0}"});
    let ignored = send_json(&app, &access, Method::PATCH, &path, &body).await;
    assert_eq!(ignored.status(), 200);

    // Nothing of the refused requests was stored.
    let score_now = get_json(&app, &access, &format!("/scores/{score}")).await;
    assert_eq!(score_now["title"], "Etude");
    assert_eq!(score_now["tags"], json!([]));
    let setlists = get_json(&app, &access, "/setlists").await;
    assert_eq!(setlists["count"], 1);
    let items = get_json(&app, &access, &format!("/setlists/{setlist}")).await;
    assert_eq!(items["items"], json!([]));
    app.stop().await;
}

#[tokio::test]
async fn nul_characters_are_refused_with_fields_on_sqlite() {
    nul_is_refused_everywhere_and_nothing_is_stored(on_sqlite(&[])).await;
}

#[tokio::test]
async fn nul_characters_are_refused_with_fields_on_postgres() {
    if let Some(app) = on_postgres(&[]).await {
        nul_is_refused_everywhere_and_nothing_is_stored(app).await;
    }
}

// --- 5. Oversized JSON bodies ----------------------------------------------------------

#[tokio::test]
async fn an_oversized_body_is_413_on_every_json_route() {
    let app = on_sqlite(&[]);
    let access = signed_in(&app, "big@example.com").await;
    let score = score_of(&app, &access).await;
    let setlist = setlist_of(&app, &access, "Gala").await;
    let huge = json!({"title": "x".repeat(64 * 1024)});
    for (method, path) in [
        (reqwest::Method::PATCH, format!("/scores/{score}")),
        (reqwest::Method::POST, "/scores".to_owned()),
        (reqwest::Method::POST, "/setlists".to_owned()),
        (reqwest::Method::PATCH, format!("/setlists/{setlist}")),
        (reqwest::Method::POST, format!("/setlists/{setlist}/items")),
        (
            reqwest::Method::PUT,
            format!("/setlists/{setlist}/items/order"),
        ),
        (reqwest::Method::POST, "/files/upload-url".to_owned()),
        (reqwest::Method::POST, "/auth/login".to_owned()),
    ] {
        let answer = send_json(&app, &access, method.clone(), &path, &huge).await;
        let body = problem(answer, 413).await;
        assert_eq!(body["code"], "E007", "{method} {path}: {body}");
    }
    app.stop().await;
}

// --- 6. Look-alike email addresses -----------------------------------------------------

#[tokio::test]
async fn composed_decomposed_and_fullwidth_emails_are_one_account() {
    let app = on_sqlite(&[]);
    register(&app.client, &app.base, "caf\u{e9}@example.com").await;
    for lookalike in [
        "cafe\u{301}@example.com",
        "CAF\u{c9}@example.com",
        "\u{ff43}\u{ff41}\u{ff46}\u{e9}@example.com",
    ] {
        let body = json!({"email": lookalike, "password": PASSWORD});
        let again = send_json(&app, "", reqwest::Method::POST, "/auth/register", &body).await;
        assert_eq!(problem(again, 409).await["code"], "E008", "{lookalike}");
        let access = login(&app.client, &app.base, lookalike).await;
        let me = get_json(&app, &access, "/me").await;
        assert_eq!(me["email"], "caf\u{e9}@example.com");
    }
    app.stop().await;
}

// --- 7. Links never follow the Host header --------------------------------------------

async fn second_page_link(app: &Running, access: &str, headers: &[(&str, &str)]) -> String {
    let mut request = app
        .client
        .get(format!("{}/setlists?page_size=1", app.base))
        .bearer_auth(access);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let page: Value = request.send().await.unwrap().json().await.unwrap();
    page["next"].as_str().unwrap().to_owned()
}

async fn two_setlists(app: &Running, email: &str) -> String {
    let access = signed_in(app, email).await;
    for name in ["One", "Two"] {
        setlist_of(app, &access, name).await;
    }
    access
}

#[tokio::test]
async fn pagination_links_use_the_bind_address_whatever_the_host_header_says() {
    let app = on_sqlite(&[]);
    let access = two_setlists(&app, "links@example.com").await;
    let origin = app.base.trim_end_matches("/api/v1").to_owned();
    for headers in [
        vec![("host", "evil.example")],
        vec![
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "evil.example"),
            ("forwarded", "host=evil.example;proto=https"),
        ],
    ] {
        let next = second_page_link(&app, &access, &headers).await;
        assert!(
            next.starts_with(&format!("{origin}/api/v1/setlists?")),
            "{next}"
        );
        assert!(!next.contains("evil"), "{next}");
    }
    app.stop().await;
}

#[tokio::test]
async fn pagination_links_use_the_configured_public_url() {
    let app = on_sqlite(&[("SCOREMATE_PUBLIC_URL", "https://scores.example.org/")]);
    let access = two_setlists(&app, "public@example.com").await;
    let next = second_page_link(&app, &access, &[("host", "evil.example")]).await;
    assert!(
        next.starts_with("https://scores.example.org/api/v1/setlists?page=2"),
        "{next}"
    );
    app.stop().await;
}

// --- 8. /metrics only on its own listener ---------------------------------------------

#[tokio::test]
async fn metrics_answer_on_their_own_listener_and_404_on_the_api_address() {
    let app = on_sqlite(&[]);
    let metrics_addr = app.metrics_addr.clone();
    let origin = app.base.trim_end_matches("/api/v1").to_owned();
    assert_ne!(format!("http://{metrics_addr}"), origin);

    let on_api = app
        .client
        .get(format!("{origin}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(on_api, 404).await["code"], "E003");

    let scraped = app
        .client
        .get(format!("http://{metrics_addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(scraped.status(), 200);
    let text = scraped.text().await.unwrap();
    assert!(text.contains("scoremate_http_requests_total"), "{text}");
    app.stop().await;
}

// --- 9. File names cannot hide their extension ----------------------------------------

#[tokio::test]
async fn file_names_with_bidi_or_control_characters_are_refused() {
    let app = on_sqlite(&[]);
    let access = signed_in(&app, "names@example.com").await;
    for filename in [
        "invoice\u{202E}fdp.exe",
        "score\u{2067}.pdf",
        "a\u{200F}b.pdf",
        "line\nbreak.pdf",
    ] {
        let body = json!({"filename": filename, "size": 10, "mime_type": "application/pdf"});
        let answer = send_json(
            &app,
            &access,
            reqwest::Method::POST,
            "/files/upload-url",
            &body,
        );
        assert_fields(&problem(answer.await, 400).await, "E007", &["filename"]);
    }
    let quota = get_json(&app, &access, "/quota").await;
    assert_eq!(quota["reserved_bytes"], 0);
    app.stop().await;
}

// --- 10. Wrong JSON types are named per field -----------------------------------------

#[tokio::test]
async fn wrongly_typed_fields_are_each_named_at_once() {
    let app = on_sqlite(&[]);
    let access = signed_in(&app, "types@example.com").await;
    let score = score_of(&app, &access).await;
    let body = json!({
        "tags": "not-a-list",
        "title": 5,
        "rating": "five",
        "instrumentation": [1, 2],
        "difficulty": 2,
    });
    let path = format!("/scores/{score}");
    let answer = send_json(&app, &access, reqwest::Method::PATCH, &path, &body).await;
    let body = problem(answer, 400).await;
    assert_fields(
        &body,
        "E007",
        &["tags", "title", "rating", "instrumentation"],
    );
    assert!(body["fields"].get("difficulty").is_none(), "{body}");

    let unchanged = get_json(&app, &access, &path).await;
    assert_eq!(unchanged["difficulty"], Value::Null);
    app.stop().await;
}

// --- The log collector going away -------------------------------------------------------

/// A server whose stderr pipe closes (its log collector died) keeps answering: failed log
/// writes are dropped, never turned into a panic.
#[tokio::test]
async fn the_server_outlives_a_closed_log_pipe() {
    let Server {
        child, base, lines, ..
    } = start(&temp_dir("hardening"), &[]);
    let _server = KillOnDrop(Some(child));
    // The reader thread ends at its next line; the pipe closes with it.
    drop(lines);
    let client = reqwest::Client::new();
    for attempt in 0..20 {
        let email = format!("after-{attempt}@example.com");
        register(&client, &base, &email).await;
        assert!(!login(&client, &base, &email).await.is_empty());
    }
    let origin = base.trim_end_matches("/api/v1");
    let health = client
        .get(format!("{origin}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

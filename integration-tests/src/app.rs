//! `spawn_app`: the real application on a free port, with its own database.

use std::net::SocketAddr;

use clap::Parser;
use scoremate::app::Application;
use scoremate::cli::args::Cli;
use serde_json::{Value, json};
use testkit::TestDatabase;
use tokio::sync::oneshot;

/// A password long enough for the rules, used by the helpers that need an account.
pub const PASSWORD: &str = "correct horse battery staple";

/// An email address no other test uses.
pub fn unique_email() -> String {
    format!("user-{}@example.com", uuid::Uuid::new_v4().simple())
}

/// Reads `response` as JSON after checking its status; the body is in the failure message.
pub async fn expect_json(response: reqwest::Response, status: u16) -> Value {
    let actual = response.status().as_u16();
    let text = response
        .text()
        .await
        .unwrap_or_else(|error| panic!("reading the body: {error}"));
    assert_eq!(actual, status, "expected {status}, got {actual}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("body is not JSON ({error}): {text}"))
}

/// The token pair of a login or refresh answer, and the whole answer.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
    pub body: Value,
}

impl Tokens {
    /// Takes `access` and `refresh` out of an answer; panics when either is missing.
    pub fn from_body(body: Value) -> Self {
        let token = |name: &str| {
            body[name]
                .as_str()
                .filter(|token| !token.is_empty())
                .unwrap_or_else(|| panic!("`{name}` missing in {body}"))
                .to_owned()
        };
        Self {
            access: token("access"),
            refresh: token("refresh"),
            body,
        }
    }
}

/// An account that has logged in: its id, credentials and first session's tokens.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub id: String,
    pub email: String,
    pub password: String,
    pub tokens: Tokens,
}

/// A running server and a client for it.
pub struct TestApp {
    pub address: SocketAddr,
    /// The `/metrics` listener (not the API address).
    pub metrics_address: SocketAddr,
    pub client: reqwest::Client,
    pub database: TestDatabase,
    pub data_dir: std::path::PathBuf,
    pub background: std::sync::Arc<scoremate::app::Background>,
    shutdown: Option<oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<()>,
}

impl TestApp {
    /// Drains the projections, the processors and the PDF job queue (as of now, or of a
    /// later instant to let reservations expire without waiting). Jobs backing off after a
    /// transient failure are not due yet and stay queued.
    pub async fn run_processors_until_idle(&self) -> usize {
        self.run_processors_until_idle_at(chrono::Utc::now()).await
    }

    ///
    /// Until every follower has handled every committed event: on PostgreSQL "idle" alone
    /// is not enough, as any write transaction still open in the cluster (another test's)
    /// holds the log back for a moment. Gives up waiting after 10 s (a follower failing on
    /// purpose never catches up) and answers what was handled.
    pub async fn run_processors_until_idle_at(&self, now: chrono::DateTime<chrono::Utc>) -> usize {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut total = 0;
        loop {
            total += self.background.run_until_idle(now).await;
            let caught_up = scoremate::http::metrics::lags(&self.database.database)
                .await
                .is_ok_and(|lags| lags.iter().all(|lag| lag.events == 0));
            if caught_up || std::time::Instant::now() >= deadline {
                return total;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .unwrap_or_else(|error| panic!("GET {path}: {error}"))
    }

    /// A request to `path` on this server, to finish and `send`.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, self.url(path))
    }

    /// Sends `request`; a transport error fails the test.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> reqwest::Response {
        request
            .send()
            .await
            .unwrap_or_else(|error| panic!("sending a request: {error}"))
    }

    /// `POST path` with `body` as JSON.
    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.send(self.request(reqwest::Method::POST, path).json(body))
            .await
    }

    /// `POST path` with a raw body and the given `Content-Type`.
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        self.send(
            self.request(reqwest::Method::POST, path)
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(body),
        )
        .await
    }

    /// `method path` as `user`, with a JSON body and `If-Match` when given.
    pub async fn send_as(
        &self,
        user: &SignedIn,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        if_match: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self.request(method, path).bearer_auth(&user.tokens.access);
        if let Some(body) = body {
            request = request.json(&body);
        }
        if let Some(etag) = if_match {
            request = request.header("if-match", etag);
        }
        self.send(request).await
    }

    /// What the `/metrics` listener answers now (the metrics of the whole test process).
    pub async fn metrics_text(&self) -> String {
        let response = self
            .client
            .get(format!("http://{}/metrics", self.metrics_address))
            .send()
            .await
            .unwrap_or_else(|error| panic!("scraping /metrics: {error}"));
        response
            .text()
            .await
            .unwrap_or_else(|error| panic!("reading /metrics: {error}"))
    }

    /// `GET path` with `Authorization: Bearer <token>`.
    pub async fn get_authed(&self, path: &str, token: &str) -> reqwest::Response {
        self.send(self.request(reqwest::Method::GET, path).bearer_auth(token))
            .await
    }

    /// `GET path` with exactly this `Authorization` header value (for malformed ones).
    pub async fn get_with_authorization(
        &self,
        path: &str,
        authorization: &str,
    ) -> reqwest::Response {
        self.send(
            self.request(reqwest::Method::GET, path)
                .header(reqwest::header::AUTHORIZATION, authorization),
        )
        .await
    }

    /// `GET /api/v1/me` with `access`.
    pub async fn me(&self, access: &str) -> reqwest::Response {
        self.get_authed("/api/v1/me", access).await
    }

    /// `POST /api/v1/auth/register` with an email and password, as it answers.
    pub async fn register_response(&self, email: &str, password: &str) -> reqwest::Response {
        self.post_json(
            "/api/v1/auth/register",
            &json!({"email": email, "password": password}),
        )
        .await
    }

    /// Registers an account; anything but 201 fails the test. Returns the account body.
    pub async fn register(&self, email: &str, password: &str) -> Value {
        expect_json(self.register_response(email, password).await, 201).await
    }

    /// `POST /api/v1/auth/login`, as it answers.
    pub async fn login_response(&self, email: &str, password: &str) -> reqwest::Response {
        self.post_json(
            "/api/v1/auth/login",
            &json!({"email": email, "password": password}),
        )
        .await
    }

    /// Logs in; anything but 200 fails the test.
    pub async fn login(&self, email: &str, password: &str) -> Tokens {
        Tokens::from_body(expect_json(self.login_response(email, password).await, 200).await)
    }

    /// `POST /api/v1/auth/refresh`, as it answers.
    pub async fn refresh_response(&self, refresh: &str) -> reqwest::Response {
        self.post_json("/api/v1/auth/refresh", &json!({"refresh": refresh}))
            .await
    }

    /// Rotates the refresh token; anything but 200 fails the test.
    pub async fn refresh(&self, refresh: &str) -> Tokens {
        Tokens::from_body(expect_json(self.refresh_response(refresh).await, 200).await)
    }

    /// `POST /api/v1/auth/logout`, as it answers.
    pub async fn logout_response(&self, refresh: &str) -> reqwest::Response {
        self.post_json("/api/v1/auth/logout", &json!({"refresh": refresh}))
            .await
    }

    /// Logs the session out; anything but 204 fails the test.
    pub async fn logout(&self, refresh: &str) {
        let response = self.logout_response(refresh).await;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        assert_eq!(status, 204, "logout answered {status}: {text}");
    }

    /// A fresh account (unique email, [`PASSWORD`]) that has logged in once.
    pub async fn signed_in_user(&self) -> SignedIn {
        let email = unique_email();
        let account = self.register(&email, PASSWORD).await;
        let tokens = self.login(&email, PASSWORD).await;
        let id = account["id"]
            .as_str()
            .unwrap_or_else(|| panic!("registration answered without an id: {account}"))
            .to_owned();
        SignedIn {
            id,
            email,
            password: PASSWORD.to_owned(),
            tokens,
        }
    }

    /// upload-url → PUT → confirm, with `metadata` as the confirmation's fields: a live
    /// score of `user`, as the server answered it.
    pub async fn add_score(&self, user: &SignedIn, metadata: Value) -> Value {
        let bytes = format!("%PDF-1.4\n% {metadata}\n%%EOF\n").into_bytes();
        self.upload_pdf(user, bytes, metadata).await
    }

    /// upload-url → PUT of `bytes` → confirm with `metadata`: the score as the server
    /// answered it.
    pub async fn upload_pdf(&self, user: &SignedIn, bytes: Vec<u8>, metadata: Value) -> Value {
        let ticket = self
            .send(
                self.request(reqwest::Method::POST, "/api/v1/files/upload-url")
                    .bearer_auth(&user.tokens.access)
                    .json(&serde_json::json!({"filename": "s.pdf", "size": bytes.len(), "mime_type": "application/pdf"})),
            )
            .await;
        let ticket = expect_json(ticket, 201).await;
        let url = ticket["upload_url"]
            .as_str()
            .unwrap_or_else(|| panic!("no upload_url in {ticket}"));
        let mut put = self.client.put(url);
        for (name, value) in ticket["headers"].as_object().into_iter().flatten() {
            put = put.header(name.as_str(), value.as_str().unwrap_or_default());
        }
        let stored = self.send(put.body(bytes)).await;
        assert_eq!(stored.status(), 200, "PUT to the object store");
        let mut body = metadata;
        body["upload_id"] = ticket["upload_id"].clone();
        let confirmed = self
            .send(
                self.request(reqwest::Method::POST, "/api/v1/scores")
                    .bearer_auth(&user.tokens.access)
                    .json(&body),
            )
            .await;
        expect_json(confirmed, 201).await
    }

    /// Stops the server gracefully and removes its database and data dir.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        let _ = self.server.await;
        let _ = std::fs::remove_dir_all(&self.data_dir);
        self.database.cleanup().await;
    }
}

/// This package's `pdf-child` binary (cargo builds it for the package's tests, next to
/// the `deps` folder that holds the test executables).
pub fn pdf_child() -> std::path::PathBuf {
    let test_binary = std::env::current_exe().unwrap_or_else(|error| panic!("{error}"));
    let child = test_binary
        .parent()
        .and_then(std::path::Path::parent)
        .map(|dir| dir.join("pdf-child"))
        .unwrap_or_else(|| panic!("no folder above {test_binary:?}"));
    assert!(
        child.exists(),
        "{child:?} missing: build the integration-tests package's bins"
    );
    child
}

/// Starts the application on `127.0.0.1:0` over `database`, configured the way an
/// operator would: through the same settings parser, with a private data dir. Throttling
/// is off; see `spawn_app_with` to turn it on.
pub async fn spawn_app(database: TestDatabase) -> TestApp {
    spawn_app_with(database, &[]).await
}

/// `spawn_app` with extra command-line settings, e.g.
/// `&["--throttle-anon-per-hour", "3"]` (later flags override earlier ones).
pub async fn spawn_app_with(database: TestDatabase, extra: &[&str]) -> TestApp {
    let data_dir = std::env::temp_dir().join(format!("scoremate-app-{}", uuid::Uuid::new_v4()));
    let data_dir_arg = data_dir.display().to_string();
    let pdf_child = pdf_child().display().to_string();
    let mut args = vec![
        "scoremate",
        "--pdf-child",
        &pdf_child,
        "--bind",
        "127.0.0.1:0",
        "--data-dir",
        &data_dir_arg,
        "--database-url",
        &database.url,
        "--throttle-anon-per-hour",
        "0",
        "--throttle-user-per-hour",
        "0",
        "--embedded-s3-bind",
        "127.0.0.1:0",
        "--metrics-bind",
        "127.0.0.1:0",
    ];
    args.extend_from_slice(extra);
    args.push("serve");
    let cli = Cli::try_parse_from(args).unwrap_or_else(|error| panic!("test settings: {error}"));
    // Tests step the projections and processors themselves (`run_processors_until_idle`).
    let app = Application::build(cli.settings)
        .await
        .unwrap_or_else(|error| panic!("building the app: {error:?}"))
        .without_background_loop();
    let address = app.local_addr();
    let metrics_address = app.metrics_addr();
    let background = app.background();
    let (shutdown, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    TestApp {
        address,
        metrics_address,
        client: reqwest::Client::new(),
        database,
        data_dir,
        background,
        shutdown: Some(shutdown),
        server,
    }
}

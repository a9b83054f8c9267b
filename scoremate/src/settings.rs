//! Every setting of the service, read once in `main` from `SCOREMATE_*` environment
//! variables (or the equivalent flags) and handed down as one typed struct.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use clap::Args;
use ipnet::IpNet;

use crate::http::client_address::{self, TrustedProxies};
use crate::http::connections::{self, ConnectionLimits};

/// A value that must never reach a log line or a `Debug` dump.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Ok(Self::new(value))
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line (for log collectors).
    Json,
    /// Human-readable lines (for a terminal).
    Pretty,
}

#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Address the HTTP API listens on.
    #[arg(
        long,
        env = "SCOREMATE_BIND",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub bind: SocketAddr,

    /// Address clients reach the API at, e.g. `https://scores.example.org`: the base of
    /// every absolute link the API answers (pagination). Never taken from the request's
    /// `Host` header. [default: http://$SCOREMATE_BIND]
    #[arg(long, env = "SCOREMATE_PUBLIC_URL", value_parser = parse_public_url, global = true)]
    pub public_url: Option<String>,

    /// Address of the Prometheus `/metrics` listener (never the public API address).
    #[arg(
        long,
        env = "SCOREMATE_METRICS_BIND",
        default_value = "127.0.0.1:9464",
        global = true
    )]
    pub metrics_bind: SocketAddr,

    /// Folder of the embedded database, the embedded object store and the generated secret.
    #[arg(
        long,
        env = "SCOREMATE_DATA_DIR",
        default_value = "./data",
        global = true
    )]
    pub data_dir: PathBuf,

    /// `sqlite://…` or `postgres://…` [default: sqlite://$SCOREMATE_DATA_DIR/scoremate.db]
    #[arg(
        long,
        env = "SCOREMATE_DATABASE_URL",
        hide_env_values = true,
        global = true
    )]
    pub database_url: Option<Secret>,

    /// Most connections the server keeps open to the database.
    #[arg(
        long,
        env = "SCOREMATE_DATABASE_MAX_CONNECTIONS",
        default_value_t = 16,
        global = true
    )]
    pub database_max_connections: u32,

    /// External S3-compatible endpoint; unset runs the embedded endpoint.
    #[arg(long, env = "SCOREMATE_S3_ENDPOINT", global = true)]
    pub s3_endpoint: Option<String>,

    /// Bucket holding scores and thumbnails.
    #[arg(
        long,
        env = "SCOREMATE_S3_BUCKET",
        default_value = "scoremate",
        global = true
    )]
    pub s3_bucket: String,

    /// Region used for request signing.
    #[arg(
        long,
        env = "SCOREMATE_S3_REGION",
        default_value = "us-east-1",
        global = true
    )]
    pub s3_region: String,

    /// Access key of the external store.
    #[arg(
        long,
        env = "SCOREMATE_S3_ACCESS_KEY_ID",
        hide_env_values = true,
        global = true
    )]
    pub s3_access_key_id: Option<Secret>,

    /// Secret key of the external store.
    #[arg(
        long,
        env = "SCOREMATE_S3_SECRET_ACCESS_KEY",
        hide_env_values = true,
        global = true
    )]
    pub s3_secret_access_key: Option<Secret>,

    /// Path-style addressing [default: true when an endpoint is set].
    #[arg(long, env = "SCOREMATE_S3_FORCE_PATH_STYLE", global = true)]
    pub s3_force_path_style: Option<bool>,

    /// Address of the embedded S3 endpoint (used when no external endpoint is set).
    #[arg(
        long,
        env = "SCOREMATE_EMBEDDED_S3_BIND",
        default_value = "127.0.0.1:9000",
        global = true
    )]
    pub embedded_s3_bind: SocketAddr,

    /// Origins (comma-separated, e.g. `https://scores.example.org`) whose pages may use
    /// the embedded S3 endpoint's presigned URLs from a browser [default: the web page's
    /// own origin: that of SCOREMATE_PUBLIC_URL, else of the API address, with
    /// `localhost` beside a loopback address].
    #[arg(
        long,
        env = "SCOREMATE_EMBEDDED_S3_CORS_ORIGINS",
        value_delimiter = ',',
        value_parser = parse_origin,
        global = true
    )]
    pub embedded_s3_cors_origins: Vec<String>,

    /// HS256 signing secret [default: generated once, kept in the data dir].
    #[arg(
        long,
        env = "SCOREMATE_JWT_SECRET",
        hide_env_values = true,
        global = true
    )]
    pub jwt_secret: Option<Secret>,

    /// A program speaking the PDF sandbox protocol on stdin/stdout, run once per PDF job
    /// [default: this binary itself, as its sandbox child].
    #[arg(long, env = "SCOREMATE_PDF_CHILD", global = true)]
    pub pdf_child: Option<PathBuf>,

    /// PDF jobs this process runs at once (each in its own sandbox child).
    #[arg(long, env = "SCOREMATE_PDF_JOBS", default_value_t = 2, global = true)]
    pub pdf_jobs: usize,

    /// How long a claimed PDF job stays leased without renewal (renewed every third of
    /// it while running): how long the jobs of a process that died wait for another one.
    #[arg(
        long,
        env = "SCOREMATE_PDF_JOB_LEASE_SECS",
        default_value_t = 30,
        global = true
    )]
    pub pdf_job_lease_secs: u64,

    /// Largest file a client may upload, in bytes.
    #[arg(
        long,
        env = "SCOREMATE_MAX_UPLOAD_BYTES",
        default_value_t = 104_857_600,
        global = true
    )]
    pub max_upload_bytes: u64,

    /// Lifetime of a presigned upload URL and of its quota reservation.
    #[arg(
        long,
        env = "SCOREMATE_UPLOAD_URL_TTL_SECS",
        default_value_t = 300,
        global = true
    )]
    pub upload_url_ttl_secs: u64,

    /// How often each `serve`/`worker` sweeps the uploads staging area (a bucket listing):
    /// bytes PUT through a still valid upload URL after the upload ended stay at most this
    /// long.
    #[arg(
        long,
        env = "SCOREMATE_UPLOAD_SWEEP_SECS",
        default_value_t = 60,
        value_parser = clap::value_parser!(u64).range(1..),
        global = true
    )]
    pub upload_sweep_secs: u64,

    /// Storage quota of a new account, in bytes.
    #[arg(
        long,
        env = "SCOREMATE_DEFAULT_QUOTA_BYTES",
        default_value_t = 1_073_741_824,
        global = true
    )]
    pub default_quota_bytes: u64,

    /// Lifetime of an access token.
    #[arg(
        long,
        env = "SCOREMATE_ACCESS_TOKEN_TTL_SECS",
        default_value_t = 3600,
        global = true
    )]
    pub access_token_ttl_secs: u64,

    /// Lifetime of a refresh token.
    #[arg(
        long,
        env = "SCOREMATE_REFRESH_TOKEN_TTL_SECS",
        default_value_t = 86_400,
        global = true
    )]
    pub refresh_token_ttl_secs: u64,

    /// Anonymous API requests per client IP and hour (0 disables).
    #[arg(
        long,
        env = "SCOREMATE_THROTTLE_ANON_PER_HOUR",
        default_value_t = 100,
        global = true
    )]
    pub throttle_anon_per_hour: u32,

    /// Authenticated API requests per user and hour (0 disables).
    #[arg(
        long,
        env = "SCOREMATE_THROTTLE_USER_PER_HOUR",
        default_value_t = 1000,
        global = true
    )]
    pub throttle_user_per_hour: u32,

    /// Seconds the read models requests answer from may fall behind the log before
    /// `/readyz` says 503, taking this instance out of a proxy's rotation (0: never for
    /// lag). With one shared database every instance sees the same lag, so a stuck
    /// follower takes them all out: keep it well above a burst's catch-up.
    #[arg(
        long,
        env = "SCOREMATE_READY_MAX_LAG_SECS",
        default_value_t = 60,
        global = true
    )]
    pub ready_max_lag_secs: u64,

    /// Proxies whose forwarding headers name the client: comma-separated networks or
    /// addresses (`10.0.0.0/8,::1`). Unset: the TCP peer is the client and `Forwarded` /
    /// `X-Forwarded-For` are ignored.
    #[arg(
        long,
        env = "SCOREMATE_TRUSTED_PROXIES",
        value_delimiter = ',',
        value_parser = client_address::parse_network,
        global = true
    )]
    pub trusted_proxies: Vec<IpNet>,

    /// Seconds a client has to send a whole request head (request line and headers): from
    /// the connection's accept, or on a kept-alive connection from the first byte of the
    /// next request. Both listeners (API, embedded S3).
    #[arg(
        long,
        env = "SCOREMATE_HEADER_READ_TIMEOUT_SECS",
        default_value_t = connections::DEFAULT_HEADER_READ_TIMEOUT_SECS,
        value_parser = clap::value_parser!(u64).range(1..),
        global = true
    )]
    pub header_read_timeout_secs: u64,

    /// Seconds a kept-alive connection with no request in progress waits for the next one.
    #[arg(
        long,
        env = "SCOREMATE_IDLE_TIMEOUT_SECS",
        default_value_t = connections::DEFAULT_IDLE_TIMEOUT_SECS,
        value_parser = clap::value_parser!(u64).range(1..),
        global = true
    )]
    pub idle_timeout_secs: u64,

    /// Seconds for a request body a handler reads (API: the whole body; embedded S3: the
    /// longest gap between two chunks), and the longest a response may wait for a client
    /// that stopped reading.
    #[arg(
        long,
        env = "SCOREMATE_BODY_TIMEOUT_SECS",
        default_value_t = connections::DEFAULT_BODY_TIMEOUT_SECS,
        value_parser = clap::value_parser!(u64).range(1..),
        global = true
    )]
    pub body_timeout_secs: u64,

    /// Connections each listener (API, embedded S3) keeps open at once; further clients
    /// wait in the accept queue [default: half of the open-files limit left after 256
    /// reserved, between 64 and 4096].
    #[arg(
        long,
        env = "SCOREMATE_MAX_CONNECTIONS",
        value_parser = clap::value_parser!(u64).range(1..),
        global = true
    )]
    pub max_connections: Option<u64>,

    /// Test-only: the process dies (abort, as under `kill -9`) at a named point
    /// (`after-upload-confirmed`). Never set in production.
    #[arg(long, env = "SCOREMATE_FAILPOINT", hide = true, global = true)]
    pub failpoint: Option<String>,

    /// Log line format.
    #[arg(
        long,
        env = "SCOREMATE_LOG_FORMAT",
        value_enum,
        default_value = "json",
        global = true
    )]
    pub log_format: LogFormat,

    /// Log filter in `tracing` syntax, e.g. `info,scoremate=debug`.
    #[arg(
        long,
        env = "SCOREMATE_LOG",
        default_value = "info,s3s=off",
        global = true
    )]
    pub log: String,
}

impl Settings {
    /// The database URL, defaulting to the embedded SQLite file in the data dir.
    pub fn database_url(&self) -> Secret {
        self.database_url.clone().unwrap_or_else(|| {
            Secret::new(format!(
                "sqlite://{}",
                self.data_dir.join("scoremate.db").display()
            ))
        })
    }

    pub fn upload_url_ttl(&self) -> Duration {
        Duration::from_secs(self.upload_url_ttl_secs)
    }

    /// The interval of the upload sweep.
    pub fn upload_sweep_interval(&self) -> Duration {
        Duration::from_secs(self.upload_sweep_secs)
    }

    /// Who the client of a request is, behind the trusted proxies.
    pub fn trusted_proxies(&self) -> TrustedProxies {
        TrustedProxies::new(&self.trusted_proxies)
    }

    /// The timeouts and the connection cap of both listeners.
    pub fn connection_limits(&self) -> ConnectionLimits {
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(self.header_read_timeout_secs),
            idle_timeout: Duration::from_secs(self.idle_timeout_secs),
            body_timeout: Duration::from_secs(self.body_timeout_secs),
            max_connections: self
                .max_connections
                .map_or_else(connections::default_max_connections, |max| {
                    usize::try_from(max).unwrap_or(usize::MAX)
                }),
        }
    }

    /// The origins whose pages may use the embedded S3 endpoint: the configured ones, else
    /// the web page's own, served on `api_addr` (the bound API address).
    pub fn page_origins(&self, api_addr: SocketAddr) -> Vec<String> {
        if !self.embedded_s3_cors_origins.is_empty() {
            return self.embedded_s3_cors_origins.clone();
        }
        if let Some(public_url) = &self.public_url {
            return vec![crate::web::origin_of(public_url).to_owned()];
        }
        let mut origins = vec![format!("http://{api_addr}")];
        // What people type for a server on their own machine.
        if api_addr.ip().is_loopback() {
            origins.push(format!("http://localhost:{}", api_addr.port()));
        }
        origins
    }

    /// Where the generated JWT secret is kept when none is configured.
    pub fn jwt_secret_path(&self) -> PathBuf {
        self.data_dir.join("jwt_secret")
    }

    /// The configured JWT secret, or the one generated on first start and kept in the
    /// data dir (readable by the owner only), so tokens survive restarts.
    pub fn resolve_jwt_secret(&self) -> std::io::Result<Secret> {
        if let Some(secret) = &self.jwt_secret {
            return Ok(secret.clone());
        }
        load_or_generate_secret(&self.jwt_secret_path())
    }
}

/// An `http`/`https` origin with an optional path prefix, kept without a trailing `/`.
fn parse_public_url(raw: &str) -> Result<String, String> {
    let trimmed = raw.trim().trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"))
        .ok_or_else(|| "must start with http:// or https://".to_owned())?;
    let host = rest.split('/').next().unwrap_or_default();
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-._~:[]/%".contains(c);
    if host.is_empty() || !rest.chars().all(allowed) || rest.contains("//") {
        return Err(
            "must be an origin like https://scores.example.org, optionally with a path".to_owned(),
        );
    }
    Ok(trimmed.to_owned())
}

/// A page origin: a public URL without a path.
fn parse_origin(raw: &str) -> Result<String, String> {
    let url = parse_public_url(raw)?;
    if crate::web::origin_of(&url) == url {
        Ok(url.to_ascii_lowercase())
    } else {
        Err("must be an origin like https://scores.example.org, without a path".to_owned())
    }
}

fn load_or_generate_secret(path: &Path) -> std::io::Result<Secret> {
    match std::fs::read_to_string(path) {
        Ok(existing) if !existing.trim().is_empty() => return Ok(Secret::new(existing.trim())),
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(error),
    }
    let mut bytes = [0_u8; 32];
    getrandom::fill(&mut bytes).map_err(std::io::Error::other)?;
    let secret: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    write_private(path, &secret)?;
    Ok(Secret::new(secret))
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn public_urls_are_origins_kept_without_a_trailing_slash() {
        assert_eq!(
            parse_public_url("https://scores.example.org/").as_deref(),
            Ok("https://scores.example.org")
        );
        assert_eq!(
            parse_public_url("http://127.0.0.1:8080/scoremate").as_deref(),
            Ok("http://127.0.0.1:8080/scoremate")
        );
        assert!(parse_public_url("scores.example.org").is_err());
        assert!(parse_public_url("https://").is_err());
        assert!(parse_public_url("https://evil.example/?x=\"").is_err());
    }

    #[test]
    fn page_origins_are_the_public_urls_origin_or_the_api_address() {
        assert_eq!(
            parse_origin("https://Scores.example.org/").as_deref(),
            Ok("https://scores.example.org")
        );
        assert!(parse_origin("https://scores.example.org/app").is_err());
        let api: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        #[derive(clap::Parser)]
        struct Only {
            #[command(flatten)]
            settings: Settings,
        }
        let mut settings = <Only as clap::Parser>::try_parse_from(["scoremate"])
            .unwrap()
            .settings;
        assert_eq!(
            settings.page_origins(api),
            ["http://127.0.0.1:8080", "http://localhost:8080"]
        );
        settings.public_url = Some("https://scores.example.org/library".to_owned());
        assert_eq!(settings.page_origins(api), ["https://scores.example.org"]);
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?}"), "Secret([redacted])");
    }

    #[test]
    fn a_generated_jwt_secret_is_kept_and_reused() -> std::io::Result<()> {
        let dir = std::env::temp_dir().join(format!("scoremate-secret-{}", uuid::Uuid::new_v4()));
        let path = dir.join("jwt_secret");
        let first = load_or_generate_secret(&path)?;
        let second = load_or_generate_secret(&path)?;
        assert_eq!(first, second);
        assert_eq!(first.expose().len(), 64);
        std::fs::remove_dir_all(dir)
    }
}

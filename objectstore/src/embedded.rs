//! The embedded object store: an in-process S3-protocol endpoint over a local folder
//! (`s3s` + `s3s-fs`), so the default install exercises the same SigV4 and presigned-URL
//! path as a real S3 deployment. Requests must be signed with the configured key pair.
//!
//! This module builds the S3 service and owns its lifecycle; how its connections are
//! accepted, limited and timed is the caller's [`AcceptLoop`]. The `scoremate` binary
//! passes the connection limits and watchdog its API listener lives under, so that policy
//! stays in one place (api) and this crate carries no server policy of its own.

use std::error::Error as StdError;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::{Body, Bytes};
use hyper::service::Service;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use s3s::auth::SimpleAuth;
use s3s::service::{S3Service, S3ServiceBuilder};

use crate::cors::CorsOrigins;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// File in the data directory holding the generated access key and secret.
const CREDENTIALS_FILE: &str = "embedded_s3_credentials";

/// Why the embedded endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedS3Error {
    /// The object folder could not be created or opened.
    #[error("cannot use {path} as the object folder: {message}")]
    Root {
        /// The folder that was asked for.
        path: PathBuf,
        /// What the file system said.
        message: String,
    },
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address that was asked for.
        addr: SocketAddr,
        /// The underlying socket error.
        #[source]
        source: io::Error,
    },
}

/// A running embedded S3 endpoint. Stops on [`EmbeddedS3::shutdown`]; when dropped it
/// stops accepting connections at once and lets open ones end on their own.
#[derive(Debug)]
pub struct EmbeddedS3 {
    local_addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl EmbeddedS3 {
    /// Serves the objects under `root` (created if missing) on `bind`; port 0 picks a
    /// free port, see [`EmbeddedS3::local_addr`]. Only requests signed with
    /// `access_key`/`secret_key` (headers or presigned query) are accepted. Connections
    /// are served by a plain accept loop with no cap and no timeouts: for tests and tools;
    /// a listener facing clients uses [`EmbeddedS3::start_with_limits`].
    pub async fn start(
        bind: SocketAddr,
        root: &Path,
        access_key: &str,
        secret_key: &str,
    ) -> Result<Self, EmbeddedS3Error> {
        Self::start_with_limits(
            bind,
            root,
            access_key,
            secret_key,
            CorsOrigins::default(),
            PlainAcceptLoop,
        )
        .await
    }

    /// [`EmbeddedS3::start`] with connections accepted, limited and timed by `limits`:
    /// the caller's accept loop (the service passes its connection limits); pages of
    /// the `cors` origins may use presigned URLs from the browser.
    pub async fn start_with_limits(
        bind: SocketAddr,
        root: &Path,
        access_key: &str,
        secret_key: &str,
        cors: CorsOrigins,
        limits: impl AcceptLoop,
    ) -> Result<Self, EmbeddedS3Error> {
        let root_error = |message: String| EmbeddedS3Error::Root {
            path: root.to_path_buf(),
            message,
        };
        std::fs::create_dir_all(root).map_err(|error| root_error(error.to_string()))?;
        // s3s-fs's error type is not `std::error::Error`; keep its text.
        let fs = s3s_fs::FileSystem::new(root).map_err(|error| root_error(format!("{error:?}")))?;

        let mut builder = S3ServiceBuilder::new(fs);
        builder.set_auth(SimpleAuth::from_single(access_key, secret_key));
        let handler = S3Handler {
            service: builder.build(),
            cors: Arc::new(cors),
        };

        let listener = TcpListener::bind(bind)
            .await
            .map_err(|source| EmbeddedS3Error::Bind { addr: bind, source })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| EmbeddedS3Error::Bind { addr: bind, source })?;

        let (stop, stopped) = oneshot::channel::<()>();
        // A dropped sender counts as a stop request too.
        let stopped = async {
            let _ = stopped.await;
        };
        let task = tokio::spawn(limits.serve(listener, handler, stopped));
        tracing::info!(%local_addr, root = %root.display(), "embedded S3 endpoint listening");
        Ok(Self {
            local_addr,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The address actually bound.
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The endpoint URL to configure an S3 client with, e.g. `http://127.0.0.1:9000`.
    #[must_use]
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    /// Stops accepting connections and waits (bounded) for in-flight requests to end.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            // An error means the server task already ended; nothing left to stop.
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take()
            && let Err(error) = task.await
        {
            tracing::warn!(%error, "embedded S3 endpoint task failed");
        }
    }
}

impl Drop for EmbeddedS3 {
    fn drop(&mut self) {
        // Dropped without `shutdown`: stop accepting now (the listener goes with the task).
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// How the embedded endpoint's connections are accepted, limited, timed and drained.
///
/// The endpoint hands its listener and its [`S3Handler`] to this loop. `scoremate`
/// implements it for its connection limits, so the endpoint's connections live under the
/// same cap and watchdog as the API's; [`EmbeddedS3::start`] uses a plain loop.
pub trait AcceptLoop: Send + 'static {
    /// Serves `handler` on `listener` until `stop` resolves, then lets the open
    /// connections finish (bounded).
    fn serve(
        self,
        listener: TcpListener,
        handler: S3Handler,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> impl Future<Output = ()> + Send + 'static;
}

/// The embedded endpoint's request handler: a hyper service over any request body of
/// bytes, so the caller's accept loop may wrap the body (to time it, say). Cheap to clone.
#[derive(Debug, Clone)]
pub struct S3Handler {
    service: S3Service,
    cors: Arc<CorsOrigins>,
}

impl<B> Service<Request<B>> for S3Handler
where
    B: Body<Data = Bytes> + Send + Sync + 'static,
    Box<dyn StdError + Send + Sync>: From<B::Error>,
{
    type Response = Response<s3s::Body>;
    type Error = s3s::HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn call(&self, request: Request<B>) -> Self::Future {
        if let Some(preflight) = self.cors.preflight(request.method(), request.headers()) {
            return Box::pin(async move { Ok(preflight) });
        }
        let service = self.service.clone();
        let cors = Arc::clone(&self.cors);
        let origin = request.headers().get(hyper::header::ORIGIN).cloned();
        Box::pin(async move {
            let mut response = service.call(request.map(s3s::Body::http_body)).await?;
            cors.expose(origin.as_ref(), &mut response);
            Ok(response)
        })
    }
}

/// How long open connections get to finish after a stop, in the plain loop.
const PLAIN_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Every connection accepted at once, none timed: enough for tests and tools, where no
/// stranger holds sockets open.
struct PlainAcceptLoop;

impl AcceptLoop for PlainAcceptLoop {
    async fn serve(
        self,
        listener: TcpListener,
        handler: S3Handler,
        stop: impl Future<Output = ()> + Send + 'static,
    ) {
        let graceful = GracefulShutdown::new();
        let builder = auto::Builder::new(TokioExecutor::new());
        tokio::pin!(stop);
        loop {
            let stream = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _remote)) => stream,
                    Err(error) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(%error, "embedded S3 accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut stop => break,
            };
            let connection = graceful.watch(
                builder
                    .serve_connection_with_upgrades(TokioIo::new(stream), handler.clone())
                    .into_owned(),
            );
            tokio::spawn(async move {
                if let Err(error) = connection.await {
                    tracing::debug!(%error, "embedded S3 connection ended with an error");
                }
            });
        }
        drop(listener);
        if tokio::time::timeout(PLAIN_DRAIN_TIMEOUT, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("embedded S3 connections still open after the drain timeout");
        }
    }
}

/// The embedded endpoint's key pair, generated on first use and kept in
/// `data_dir/embedded_s3_credentials` (mode 0600) so presigned URLs handed out before a
/// restart stay valid after it.
pub fn load_or_generate_credentials(data_dir: &Path) -> io::Result<(String, String)> {
    let path = data_dir.join(CREDENTIALS_FILE);
    match std::fs::read_to_string(&path) {
        Ok(existing) => {
            if let Some(pair) = parse_credentials(&existing) {
                return Ok(pair);
            }
            // A truncated or hand-edited file cannot sign anything: refuse rather than
            // silently replacing keys that outstanding URLs were signed with.
            if !existing.trim().is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{} is not `ACCESS_KEY SECRET_KEY`", path.display()),
                ));
            }
            std::fs::remove_file(&path)?;
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => return Err(error),
    }
    let access_key = format!("SM{}", random_hex(9)?.to_uppercase());
    let secret_key = random_hex(32)?;
    std::fs::create_dir_all(data_dir)?;
    match write_private(&path, &format!("{access_key} {secret_key}\n")) {
        Ok(()) => Ok((access_key, secret_key)),
        // Another process generated the pair first: use theirs.
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
            parse_credentials(&std::fs::read_to_string(&path)?).ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidData, "credentials file being written")
            })
        }
        Err(error) => Err(error),
    }
}

fn parse_credentials(contents: &str) -> Option<(String, String)> {
    let mut parts = contents.split_whitespace();
    let access_key = parts.next()?;
    let secret_key = parts.next()?;
    parts
        .next()
        .is_none()
        .then(|| (access_key.to_owned(), secret_key.to_owned()))
}

fn random_hex(bytes: usize) -> io::Result<String> {
    let mut buffer = vec![0_u8; bytes];
    getrandom::fill(&mut buffer).map_err(io::Error::other)?;
    Ok(buffer.iter().map(|byte| format!("{byte:02x}")).collect())
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> io::Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir() -> PathBuf {
        std::env::temp_dir().join(format!("scoremate-s3-creds-{}", uuid::Uuid::new_v4()))
    }

    #[test]
    fn generated_credentials_are_kept_and_reused() -> io::Result<()> {
        let dir = temp_dir();
        let first = load_or_generate_credentials(&dir)?;
        let second = load_or_generate_credentials(&dir)?;
        assert_eq!(first, second);
        assert_eq!(first.0.len(), 20);
        assert_eq!(first.1.len(), 64);
        std::fs::remove_dir_all(dir)
    }

    #[cfg(unix)]
    #[test]
    fn the_credentials_file_is_readable_by_its_owner_only() -> io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir();
        load_or_generate_credentials(&dir)?;
        let mode = std::fs::metadata(dir.join(CREDENTIALS_FILE))?
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::remove_dir_all(dir)
    }

    #[test]
    fn a_garbled_credentials_file_is_refused_rather_than_replaced() -> io::Result<()> {
        let dir = temp_dir();
        std::fs::create_dir_all(&dir)?;
        std::fs::write(
            dir.join(CREDENTIALS_FILE),
            "only-one-word-and another and more",
        )?;
        let error = load_or_generate_credentials(&dir).err();
        assert_eq!(error.map(|e| e.kind()), Some(io::ErrorKind::InvalidData));
        std::fs::remove_dir_all(dir)
    }
}

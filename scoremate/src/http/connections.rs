//! The accept loop of both listeners (the API and the embedded S3 endpoint): a cap on open
//! connections, and a watchdog per connection that closes it when the client stops making
//! progress, so that silent, trickling or stalled clients cannot hold connections (and
//! file descriptors) for ever.
//!
//! Each connection has one deadline at a time, the earliest of:
//! - **header read**: a new connection must have sent a whole request head within
//!   `header_read_timeout` of being accepted; a kept-alive one within `header_read_timeout`
//!   of the first byte of its next request.
//! - **idle**: a kept-alive connection with no request in progress is closed when no byte
//!   of a next request arrives within `idle_timeout` of the previous response.
//! - **body**: a request body the handler is reading must arrive within `body_timeout`:
//!   as a whole ([`BodyDeadline::Whole`], the API's JSON bodies of at most 64 KiB), or
//!   with no gap longer than that between two chunks ([`BodyDeadline::Inactivity`], the
//!   embedded S3 endpoint's uploads of up to 100 MiB).
//! - **send**: a response whose bytes the client has not taken for `body_timeout`.
//!
//! A handler that is working (not waiting for the client) is never cut. Expiry drops the
//! connection: the socket closes, no answer is written, and the handler, if any, stops.
//!
//! hyper's own `http1::Builder::header_read_timeout` is not used: behind the auto
//! (HTTP/1 + HTTP/2) builder it is armed only once the protocol has been sniffed from the
//! first bytes, so a silent socket never starts it; on a kept-alive connection it is
//! armed as soon as the previous response is written, so it is one budget for the idle
//! wait and the next head together; and it covers HTTP/1 only. The watchdog here sees
//! the socket's reads and writes and the requests' lifetimes, whatever the protocol.

use std::error::Error as StdError;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::service::Service;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore};
use tokio::time::Instant;

/// Default of `SCOREMATE_HEADER_READ_TIMEOUT_SECS`.
pub const DEFAULT_HEADER_READ_TIMEOUT_SECS: u64 = 10;
/// Default of `SCOREMATE_IDLE_TIMEOUT_SECS`.
pub const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 60;
/// Default of `SCOREMATE_BODY_TIMEOUT_SECS`.
pub const DEFAULT_BODY_TIMEOUT_SECS: u64 = 30;
/// The most connections a listener accepts by default, however high the open-files limit.
const MAX_DEFAULT_CONNECTIONS: u64 = 4096;
/// The fewest connections a listener accepts by default, however low that limit.
const MIN_DEFAULT_CONNECTIONS: u64 = 64;
/// File descriptors left for everything but client connections: the database pool,
/// object files, PDF sandbox children, the log.
const RESERVED_FILE_DESCRIPTORS: u64 = 256;
/// Assumed when the open-files limit cannot be read (the usual Linux soft limit).
const ASSUMED_OPEN_FILES_LIMIT: u64 = 1024;
/// How long in-flight requests get to finish after a shutdown signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Logs "connection limit cleared" once `headroom` slots are free again, and lowers the
/// flag so that the next time the limit is reached is logged too.
async fn announce_cleared(
    name: &'static str,
    limit: usize,
    headroom: usize,
    slots: Arc<Semaphore>,
    at_limit: Arc<AtomicBool>,
) {
    let mut every = tokio::time::interval(Duration::from_millis(100));
    loop {
        every.tick().await;
        if slots.available_permits() >= headroom {
            at_limit.store(false, Ordering::Relaxed);
            tracing::info!(listener = name, limit, "connection limit cleared");
            return;
        }
    }
}

/// The limits every connection of a listener lives under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// From accept (or the first byte of a next request) to a complete request head.
    pub header_read_timeout: Duration,
    /// From a response to the first byte of the next request on a kept-alive connection.
    pub idle_timeout: Duration,
    /// For a request body the handler reads (see [`BodyDeadline`]), and for a response
    /// the client stopped taking.
    pub body_timeout: Duration,
    /// Connections open at once; further clients wait in the kernel's accept queue.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(DEFAULT_HEADER_READ_TIMEOUT_SECS),
            idle_timeout: Duration::from_secs(DEFAULT_IDLE_TIMEOUT_SECS),
            body_timeout: Duration::from_secs(DEFAULT_BODY_TIMEOUT_SECS),
            max_connections: default_max_connections(),
        }
    }
}

/// How a listener applies [`ConnectionLimits::body_timeout`] to request bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyDeadline {
    /// The whole body within the timeout of the handler starting to read it (small
    /// bodies: one byte every few seconds must not keep a connection for days).
    Whole,
    /// No gap longer than the timeout between two chunks (large uploads on slow links).
    Inactivity,
}

/// One listener: its name in logs and metrics, its limits, its body rule.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionPolicy {
    pub name: &'static str,
    pub limits: ConnectionLimits,
    pub body_deadline: BodyDeadline,
}

/// The default cap per listener: what the soft open-files limit leaves after
/// [`RESERVED_FILE_DESCRIPTORS`], shared by the two listeners, within
/// [`MIN_DEFAULT_CONNECTIONS`]..=[`MAX_DEFAULT_CONNECTIONS`].
pub fn default_max_connections() -> usize {
    let limit = open_files_soft_limit().unwrap_or(ASSUMED_OPEN_FILES_LIMIT);
    let share = (limit.saturating_sub(RESERVED_FILE_DESCRIPTORS) / 2)
        .clamp(MIN_DEFAULT_CONNECTIONS, MAX_DEFAULT_CONNECTIONS);
    usize::try_from(share).unwrap_or(usize::MAX)
}

/// This process's soft `RLIMIT_NOFILE`, read from `/proc/self/limits` (Linux; no FFI).
fn open_files_soft_limit() -> Option<u64> {
    parse_open_files_soft_limit(&std::fs::read_to_string("/proc/self/limits").ok()?)
}

fn parse_open_files_soft_limit(limits: &str) -> Option<u64> {
    let soft = limits
        .lines()
        .find_map(|line| line.strip_prefix("Max open files"))?
        .split_whitespace()
        .next()?;
    if soft == "unlimited" {
        Some(u64::MAX)
    } else {
        soft.parse().ok()
    }
}

/// Serves `listener` until `shutdown` resolves, then drains the open connections (bounded).
/// `make_service` builds the service of a connection from the client's address.
pub async fn serve<M, S, B>(
    listener: TcpListener,
    policy: ConnectionPolicy,
    make_service: M,
    shutdown: impl Future<Output = ()>,
) where
    M: Fn(SocketAddr) -> S,
    S: Service<Request<RequestBody>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn StdError + Send + Sync>> + Send + 'static,
    B: Body + Unpin + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let ConnectionPolicy {
        name,
        limits,
        body_deadline,
    } = policy;
    let limit = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    if let Some(open_files) = open_files_soft_limit()
        && u64::try_from(limit).unwrap_or(u64::MAX) >= open_files
    {
        tracing::warn!(
            listener = name,
            limit,
            open_files,
            "the connection limit is not below the open-files limit; accepting will fail first"
        );
    }
    let slots = Arc::new(Semaphore::new(limit));
    // "cleared" is logged once a tenth of the slots are free again, not at every slot
    // that frees up while clients keep the listener full.
    let headroom = (limit / 10).max(1);
    let at_limit = Arc::new(AtomicBool::new(false));
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // The watchdog times request heads; hyper's own timer (see the module comment) stays off.
    builder.http1().header_read_timeout(None);
    tokio::pin!(shutdown);
    loop {
        let slot = if let Ok(slot) = Arc::clone(&slots).try_acquire_owned() {
            slot
        } else {
            if !at_limit.swap(true, Ordering::Relaxed) {
                // New clients wait in the kernel's accept queue until a slot frees up.
                tracing::warn!(listener = name, limit, "connection limit reached");
                // Watched apart from the accept loop, which may sit in `accept` with no
                // new client to wake it while the slots free up.
                tokio::spawn(announce_cleared(
                    name,
                    limit,
                    headroom,
                    Arc::clone(&slots),
                    Arc::clone(&at_limit),
                ));
            }
            tokio::select! {
                acquired = Arc::clone(&slots).acquire_owned() => match acquired {
                    Ok(slot) => slot,
                    // Never closed.
                    Err(_) => break,
                },
                () = &mut shutdown => break,
            }
        };
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(listener = name, %error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Responses are written in a few small pieces (head, then body frames): with Nagle's
        // algorithm the last one waits for the client's delayed ACK, about 40 ms a request.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(listener = name, %error, "could not set TCP_NODELAY");
        }
        let watch = Arc::new(Watch::new(Instant::now()));
        let service = Guarded {
            inner: make_service(remote),
            watch: Arc::clone(&watch),
            body_deadline,
        };
        let io = TokioIo::new(WatchedStream {
            stream,
            watch: Arc::clone(&watch),
            send_stalled: false,
        });
        let connection = graceful.watch(
            builder
                .serve_connection_with_upgrades(io, service)
                .into_owned(),
        );
        tokio::spawn(async move {
            let _slot = slot;
            let _open = OpenConnection::new(name);
            tokio::select! {
                ended = connection => if let Err(error) = ended {
                    tracing::debug!(listener = name, %error, "connection ended with an error");
                },
                timeout = watch.expired(&limits) => {
                    metrics::counter!(
                        "scoremate_connection_timeouts_total",
                        "listener" => name,
                        "timeout" => timeout.as_str(),
                    )
                    .increment(1);
                    tracing::debug!(
                        listener = name,
                        %remote,
                        timeout = timeout.as_str(),
                        "connection closed by its timeout"
                    );
                }
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            listener = name,
            "connections still open after the drain timeout; closing them"
        );
    }
}

/// Counts a connection in `scoremate_open_connections` while it lives.
struct OpenConnection(&'static str);

impl OpenConnection {
    fn new(listener: &'static str) -> Self {
        metrics::gauge!("scoremate_open_connections", "listener" => listener).increment(1.0);
        Self(listener)
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        metrics::gauge!("scoremate_open_connections", "listener" => self.0).decrement(1.0);
    }
}

/// Which deadline closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timeout {
    HeaderRead,
    Idle,
    Body,
    Send,
}

impl Timeout {
    fn as_str(self) -> &'static str {
        match self {
            Self::HeaderRead => "header_read",
            Self::Idle => "idle",
            Self::Body => "body",
            Self::Send => "send",
        }
    }
}

/// What a connection's watchdog knows: fed by the socket's reads and writes and by the
/// requests' lifetimes.
struct Watch {
    state: Mutex<WatchState>,
    /// Woken when a deadline may have come closer (one waiter: the watchdog).
    changed: Notify,
    next_body: AtomicU64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct WatchState {
    /// No request has begun on this connection yet.
    fresh: bool,
    /// Requests whose handler runs or whose response is still being sent.
    in_flight: usize,
    /// When the connection was accepted, or when its last response ended.
    idle_since: Instant,
    /// The first byte received since `idle_since`, once a request has been served.
    next_head_since: Option<Instant>,
    /// Request bodies under their deadline: id and since when.
    bodies: Vec<(u64, Instant)>,
    /// Since when a write has been waiting for the client to take bytes.
    send_stalled_since: Option<Instant>,
}

impl WatchState {
    fn new(accepted: Instant) -> Self {
        Self {
            fresh: true,
            in_flight: 0,
            idle_since: accepted,
            next_head_since: None,
            bodies: Vec::new(),
            send_stalled_since: None,
        }
    }

    /// The earliest deadline and what it is for; `None` while a handler works.
    fn deadline(&self, limits: &ConnectionLimits) -> Option<(Instant, Timeout)> {
        let waiting_for_request = (self.in_flight == 0).then(|| {
            if self.fresh {
                (
                    self.idle_since + limits.header_read_timeout,
                    Timeout::HeaderRead,
                )
            } else if let Some(first_byte) = self.next_head_since {
                (first_byte + limits.header_read_timeout, Timeout::HeaderRead)
            } else {
                (self.idle_since + limits.idle_timeout, Timeout::Idle)
            }
        });
        let bodies = self
            .bodies
            .iter()
            .map(|&(_, since)| (since + limits.body_timeout, Timeout::Body));
        let send = self
            .send_stalled_since
            .map(|since| (since + limits.body_timeout, Timeout::Send));
        waiting_for_request
            .into_iter()
            .chain(bodies)
            .chain(send)
            .min_by_key(|&(at, _)| at)
    }
}

impl Watch {
    fn new(accepted: Instant) -> Self {
        Self {
            state: Mutex::new(WatchState::new(accepted)),
            changed: Notify::new(),
            next_body: AtomicU64::new(0),
        }
    }

    fn state(&self) -> MutexGuard<'_, WatchState> {
        // The state stays consistent field by field; a panic elsewhere does not spoil it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Bytes arrived from the client.
    fn received(&self) {
        let mut state = self.state();
        if state.in_flight == 0 && !state.fresh && state.next_head_since.is_none() {
            state.next_head_since = Some(Instant::now());
            drop(state);
            self.changed.notify_one();
        }
    }

    fn begin_request(&self) {
        let mut state = self.state();
        state.fresh = false;
        state.in_flight += 1;
        state.next_head_since = None;
    }

    fn end_request(&self) {
        let mut state = self.state();
        state.in_flight = state.in_flight.saturating_sub(1);
        if state.in_flight == 0 {
            state.idle_since = Instant::now();
            state.next_head_since = None;
            drop(state);
            self.changed.notify_one();
        }
    }

    fn body_started(&self, id: u64) {
        self.state().bodies.push((id, Instant::now()));
        self.changed.notify_one();
    }

    fn body_ended(&self, id: u64) {
        self.state().bodies.retain(|&(body, _)| body != id);
    }

    fn send_stalled(&self, stalled: bool) {
        self.state().send_stalled_since = stalled.then(Instant::now);
        if stalled {
            self.changed.notify_one();
        }
    }

    /// Resolves when the connection's current deadline passes.
    async fn expired(&self, limits: &ConnectionLimits) -> Timeout {
        loop {
            let deadline = self.state().deadline(limits);
            match deadline {
                Some((at, timeout)) if at <= Instant::now() => return timeout,
                Some((at, _)) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(at) => {},
                        () = self.changed.notified() => {},
                    }
                }
                None => self.changed.notified().await,
            }
        }
    }
}

/// The socket, reporting to the watchdog what the client sends and whether it takes
/// what the server writes.
struct WatchedStream {
    stream: TcpStream,
    watch: Arc<Watch>,
    send_stalled: bool,
}

impl WatchedStream {
    fn note_write<T>(&mut self, polled: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        let stalled = polled.is_pending();
        if stalled != self.send_stalled {
            self.send_stalled = stalled;
            self.watch.send_stalled(stalled);
        }
        polled
    }
}

impl AsyncRead for WatchedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.watch.received();
        }
        polled
    }
}

impl AsyncWrite for WatchedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.stream).poll_write(cx, data);
        this.note_write(polled)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.stream).poll_write_vectored(cx, data);
        this.note_write(polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // A TCP socket has nothing to flush: this says nothing about the client.
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// A connection's service, wrapped so that the watchdog knows when requests run and
/// when their bodies are awaited.
struct Guarded<S> {
    inner: S,
    watch: Arc<Watch>,
    body_deadline: BodyDeadline,
}

impl<S, B> Service<Request<Incoming>> for Guarded<S>
where
    S: Service<Request<RequestBody>, Response = Response<B>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
{
    type Response = Response<ResponseBody<B>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let busy = InFlight::begin(&self.watch);
        let request = request.map(|body| RequestBody {
            inner: body,
            id: self.watch.next_body.fetch_add(1, Ordering::Relaxed),
            watch: Arc::clone(&self.watch),
            deadline: self.body_deadline,
            timed: false,
            ended: false,
        });
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            Ok(response.map(|body| ResponseBody {
                inner: body,
                _busy: busy,
            }))
        })
    }
}

/// A request from its head to the end of its response (or until hyper drops it).
struct InFlight(Arc<Watch>);

impl InFlight {
    fn begin(watch: &Arc<Watch>) -> Self {
        watch.begin_request();
        Self(Arc::clone(watch))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.end_request();
    }
}

/// A request body that tells the watchdog when the handler waits for it.
pub struct RequestBody {
    inner: Incoming,
    id: u64,
    watch: Arc<Watch>,
    deadline: BodyDeadline,
    /// Whether the watchdog currently times this body.
    timed: bool,
    ended: bool,
}

impl RequestBody {
    fn time(&mut self, timed: bool) {
        if timed != self.timed {
            self.timed = timed;
            if timed {
                self.watch.body_started(self.id);
            } else {
                self.watch.body_ended(self.id);
            }
        }
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = Box<dyn StdError + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match (&polled, this.deadline) {
            (Poll::Ready(None | Some(Err(_))), _) => {
                this.ended = true;
                this.time(false);
            }
            (Poll::Pending, _) => this.time(!this.ended),
            (Poll::Ready(Some(Ok(_))), BodyDeadline::Whole) => this.time(!this.ended),
            (Poll::Ready(Some(Ok(_))), BodyDeadline::Inactivity) => this.time(false),
        }
        polled.map_err(Into::into)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for RequestBody {
    fn drop(&mut self) {
        self.time(false);
    }
}

/// A response body that keeps its request counted as in flight until it is sent.
pub struct ResponseBody<B> {
    inner: B,
    _busy: InFlight,
}

impl<B: Body + Unpin> Body for ResponseBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ConnectionLimits = ConnectionLimits {
        header_read_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(60),
        body_timeout: Duration::from_secs(30),
        max_connections: 100,
    };

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn a_new_connection_has_the_header_timeout_from_accept_even_while_sending() {
        let accepted = Instant::now();
        let mut state = WatchState::new(accepted);
        state.next_head_since = Some(accepted + secs(5));
        assert_eq!(
            state.deadline(&LIMITS),
            Some((accepted + secs(10), Timeout::HeaderRead))
        );
    }

    #[test]
    fn a_kept_alive_connection_waits_the_idle_timeout_then_the_header_timeout() {
        let accepted = Instant::now();
        let mut state = WatchState::new(accepted);
        state.fresh = false;
        state.idle_since = accepted + secs(1);
        assert_eq!(
            state.deadline(&LIMITS),
            Some((accepted + secs(61), Timeout::Idle))
        );
        state.next_head_since = Some(accepted + secs(50));
        assert_eq!(
            state.deadline(&LIMITS),
            Some((accepted + secs(60), Timeout::HeaderRead))
        );
    }

    #[test]
    fn a_working_handler_has_no_deadline() {
        let mut state = WatchState::new(Instant::now());
        state.fresh = false;
        state.in_flight = 1;
        assert_eq!(state.deadline(&LIMITS), None);
    }

    #[test]
    fn an_awaited_body_or_a_stalled_send_sets_the_deadline_while_a_request_runs() {
        let accepted = Instant::now();
        let mut state = WatchState::new(accepted);
        state.fresh = false;
        state.in_flight = 1;
        state.bodies.push((7, accepted + secs(2)));
        assert_eq!(
            state.deadline(&LIMITS),
            Some((accepted + secs(32), Timeout::Body))
        );
        state.send_stalled_since = Some(accepted + secs(1));
        assert_eq!(
            state.deadline(&LIMITS),
            Some((accepted + secs(31), Timeout::Send))
        );
    }

    #[test]
    fn the_soft_open_files_limit_is_read_from_proc_limits() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max processes             63704                63704                processes \n\
                      Max open files            20000                524288               files     \n";
        assert_eq!(parse_open_files_soft_limit(limits), Some(20_000));
        assert_eq!(
            parse_open_files_soft_limit("Max open files  unlimited  unlimited  files"),
            Some(u64::MAX)
        );
        assert_eq!(parse_open_files_soft_limit("Max processes 1 1"), None);
    }

    #[test]
    fn the_default_cap_stays_below_the_open_files_limit() {
        let cap = u64::try_from(default_max_connections()).unwrap_or(u64::MAX);
        assert!((MIN_DEFAULT_CONNECTIONS..=MAX_DEFAULT_CONNECTIONS).contains(&cap));
        if let Some(limit) = open_files_soft_limit()
            && limit > RESERVED_FILE_DESCRIPTORS + 2 * MIN_DEFAULT_CONNECTIONS
        {
            assert!(2 * cap + RESERVED_FILE_DESCRIPTORS <= limit);
        }
    }
}

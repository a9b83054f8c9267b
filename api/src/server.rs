//! The HTTP server loop: hyper connections around the warp routes, with a request
//! context per request, the `X-Request-Id` header, one access-log line per request, and
//! graceful shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{HeaderValue, Request};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tower_service::Service;
use tracing::Instrument;

use crate::context::RequestContext;

pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// How long in-flight requests get to finish after a shutdown signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Accepts a client's request id when it is a sane token, else makes one.
fn request_id_of<B>(request: &Request<B>) -> String {
    request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|value| {
            !value.is_empty()
                && value.len() <= 128
                && value
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || b"-_.:".contains(&byte))
        })
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned)
}

/// Serves `routes` on `listener` until `shutdown` resolves, then drains connections.
/// `service` is the warp router as a tower service (`warp::service(routes)`).
pub async fn serve<S>(
    listener: tokio::net::TcpListener,
    service: S,
    shutdown: impl Future<Output = ()> + Send + 'static,
) where
    S: Service<Request<Incoming>, Response = warp::reply::Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    let graceful = GracefulShutdown::new();
    let builder = auto::Builder::new(TokioExecutor::new());
    tokio::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = service.clone();
        let per_request = hyper::service::service_fn(move |request: Request<Incoming>| {
            handle(service.clone(), request, remote)
        });
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), per_request)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(error = %error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the drain timeout; closing them");
    }
}

async fn handle<S>(
    mut service: S,
    request: Request<Incoming>,
    remote: SocketAddr,
) -> Result<warp::reply::Response, Infallible>
where
    S: Service<Request<Incoming>, Response = warp::reply::Response, Error = Infallible>,
{
    let started = Instant::now();
    let request_id = request_id_of(&request);
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let context = Arc::new(RequestContext::new(request_id.clone(), Some(remote.ip())));
    let span = tracing::info_span!("request", request_id = %request_id);
    // Boxed: the whole route tree polls inside this future; keep it off the task stack.
    let response = RequestContext::scope(Arc::clone(&context), Box::pin(service.call(request)))
        .instrument(span.clone())
        .await;
    let mut response = match response {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let headers = response.headers_mut();
    for (name, value) in context.take_response_headers() {
        headers.entry(name).or_insert(value);
    }
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        headers.insert(REQUEST_ID_HEADER, value);
    }
    let latency = started.elapsed();
    // The route template, not the raw path: ids in paths are not log data, and query
    // strings (presigned URLs) never reach the log at all.
    let route = context
        .route()
        .map_or_else(|| unmatched_route(&path), str::to_owned);
    let user_id = context.user_id().map(|id| id.to_string());
    crate::metrics::record_request(
        method.as_str(),
        context.route(),
        response.status().as_u16(),
        latency.as_secs_f64(),
    );
    span.in_scope(|| {
        tracing::info!(
            target: "scoremate::access",
            request_id = %request_id,
            method = %method,
            route = %route,
            status = response.status().as_u16(),
            latency_ms = latency.as_secs_f64() * 1000.0,
            user_id = user_id.as_deref(),
            "request"
        );
    });
    Ok(response)
}

/// For requests no route claimed: the path, cut to a safe length.
fn unmatched_route(path: &str) -> String {
    path.chars().take(100).collect()
}

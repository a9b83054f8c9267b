//! The HTTP server: the warp routes behind the shared accept loop (connection cap,
//! timeouts, graceful shutdown: `connections`), with a request context per request, the
//! `X-Request-Id` header and one access-log line per request.

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use http::{HeaderValue, Request};
use tower_service::Service;
use tracing::Instrument;

use crate::http::client_address::TrustedProxies;
use crate::http::connections::{
    self, BodyDeadline, ConnectionLimits, ConnectionPolicy, RequestBody,
};
use crate::http::context::RequestContext;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

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

/// Serves `routes` on `listener` until `shutdown` resolves, then drains connections, under
/// the default [`ConnectionLimits`]. `service` is the warp router as a tower service
/// (`warp::service(routes)`).
pub async fn serve<S>(
    listener: tokio::net::TcpListener,
    service: S,
    shutdown: impl Future<Output = ()> + Send + 'static,
) where
    S: Service<Request<RequestBody>, Response = warp::reply::Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    serve_with_limits(
        listener,
        "api",
        service,
        ConnectionLimits::default(),
        TrustedProxies::default(),
        shutdown,
    )
    .await;
}

/// [`serve`] under `limits`, as the listener called `name` in logs and metrics, taking
/// the forwarding headers of `trusted` proxies for the client's address. A request body
/// must arrive whole within the body timeout: the API's bodies are JSON of at most 64 KiB.
pub async fn serve_with_limits<S>(
    listener: tokio::net::TcpListener,
    name: &'static str,
    service: S,
    limits: ConnectionLimits,
    trusted: TrustedProxies,
    shutdown: impl Future<Output = ()> + Send + 'static,
) where
    S: Service<Request<RequestBody>, Response = warp::reply::Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    let policy = ConnectionPolicy {
        name,
        limits,
        body_deadline: BodyDeadline::Whole,
    };
    let make_service = move |remote: SocketAddr| {
        let service = service.clone();
        let trusted = trusted.clone();
        hyper::service::service_fn(move |request: Request<RequestBody>| {
            let client_ip = trusted.client_ip(remote.ip(), request.headers());
            handle(service.clone(), request, client_ip)
        })
    };
    connections::serve(listener, policy, make_service, shutdown).await;
}

async fn handle<S>(
    mut service: S,
    request: Request<RequestBody>,
    client_ip: IpAddr,
) -> Result<warp::reply::Response, Infallible>
where
    S: Service<Request<RequestBody>, Response = warp::reply::Response, Error = Infallible>,
{
    let started = Instant::now();
    let request_id = request_id_of(&request);
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let context = Arc::new(RequestContext::new(request_id.clone(), Some(client_ip)));
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
    crate::http::metrics::record_request(
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

//! What is known about the request being served, available to every handler, rejection
//! handler and log line of that request without threading it through each filter.

use std::net::IpAddr;

use std::sync::{Arc, Mutex, PoisonError};
use warp::http::{HeaderName, HeaderValue};

tokio::task_local! {
    static CURRENT: Arc<RequestContext>;
}

/// One request's identity and what handlers learn while serving it.
#[derive(Debug)]
pub struct RequestContext {
    pub request_id: String,
    pub client_ip: Option<IpAddr>,
    learned: Mutex<Learned>,
}

#[derive(Debug, Default, Clone)]
struct Learned {
    user_id: Option<uuid::Uuid>,
    route: Option<&'static str>,
    response_headers: Vec<(HeaderName, HeaderValue)>,
}

impl RequestContext {
    pub fn new(request_id: String, client_ip: Option<IpAddr>) -> Self {
        Self {
            request_id,
            client_ip,
            learned: Mutex::new(Learned::default()),
        }
    }

    fn with_learned<T>(&self, action: impl FnOnce(&mut Learned) -> T) -> T {
        let mut learned = self.learned.lock().unwrap_or_else(PoisonError::into_inner);
        action(&mut learned)
    }

    pub fn user_id(&self) -> Option<uuid::Uuid> {
        self.with_learned(|learned| learned.user_id)
    }

    pub fn route(&self) -> Option<&'static str> {
        self.with_learned(|learned| learned.route)
    }

    /// Runs `future` with `context` as the current request.
    pub async fn scope<F: Future>(context: Arc<Self>, future: F) -> F::Output {
        CURRENT.scope(context, future).await
    }

    /// The current request's context, if called while serving one.
    pub fn current() -> Option<Arc<Self>> {
        CURRENT.try_with(Arc::clone).ok()
    }

    /// The current request id (empty outside a request).
    pub fn current_request_id() -> String {
        Self::current()
            .map(|context| context.request_id.clone())
            .unwrap_or_default()
    }

    /// Records who is calling, for throttling and the access log.
    pub fn record_user(user_id: uuid::Uuid) {
        if let Some(context) = Self::current() {
            context.with_learned(|learned| learned.user_id = Some(user_id));
        }
    }

    /// Headers every answer to this request carries (rate-limit state, say).
    pub fn add_response_headers(headers: Vec<(HeaderName, HeaderValue)>) {
        if let Some(context) = Self::current() {
            context.with_learned(|learned| learned.response_headers.extend(headers));
        }
    }

    pub fn take_response_headers(&self) -> Vec<(HeaderName, HeaderValue)> {
        self.with_learned(|learned| std::mem::take(&mut learned.response_headers))
    }

    /// Records the route template that matched (`/api/v1/scores/{id}`), for the access log.
    pub fn record_route(route: &'static str) {
        if let Some(context) = Self::current() {
            context.with_learned(|learned| learned.route = Some(route));
        }
    }
}

/// Metadata for a command issued by the current request on behalf of `actor`: now, and the
/// request's id (empty outside a request).
pub fn command_metadata(actor: eventstore::Actor) -> eventstore::EventMetadata {
    eventstore::EventMetadata::new(actor, chrono::Utc::now())
        .with_request_id(RequestContext::current_request_id())
}

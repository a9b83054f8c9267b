//! Request throttling: a token bucket per client IP for anonymous requests and per user
//! for authenticated ones, whose burst equals the hourly limit (`governor`'s GCRA), with
//! `RateLimit-Policy`/`RateLimit` headers on every answer and `Retry-After` on a 429.

use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use warp::Filter;
use warp::http::{HeaderMap, HeaderName, HeaderValue};
use warp::reject::Rejection;

use crate::auth::Tokens;
use crate::http::authenticate::bearer_token;
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ErrorCode};

type Limiter<K> =
    RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock, StateInformationMiddleware>;

struct Bucket<K: Hash + Eq + Clone> {
    limiter: Limiter<K>,
    per_hour: u32,
    policy: &'static str,
}

impl<K: Hash + Eq + Clone> Bucket<K> {
    fn new(per_hour: u32, policy: &'static str) -> Option<Self> {
        let burst = NonZeroU32::new(per_hour)?;
        let limiter = RateLimiter::keyed(Quota::per_hour(burst).allow_burst(burst))
            .with_middleware::<StateInformationMiddleware>();
        Some(Self {
            limiter,
            per_hour,
            policy,
        })
    }

    fn replenish_interval(&self) -> Duration {
        Duration::from_secs(3600) / self.per_hour.max(1)
    }

    fn check(&self, key: &K) -> Result<Vec<(HeaderName, HeaderValue)>, ApiError> {
        let policy_header = format!("\"{}\";q={};w=3600", self.policy, self.per_hour);
        match self.limiter.check_key(key) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let until_full =
                    self.replenish_interval() * (self.per_hour - remaining.min(self.per_hour));
                Ok(headers(&policy_header, self.policy, remaining, until_full))
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                let mut error = ApiError::new(
                    ErrorCode::RateLimited,
                    "Too many requests; retry after the time in Retry-After.",
                );
                error.retry_after = Some(wait);
                error.extra_headers = headers(&policy_header, self.policy, 0, wait);
                Err(error)
            }
        }
    }
}

fn headers(
    policy_header: &str,
    policy: &str,
    remaining: u32,
    reset: Duration,
) -> Vec<(HeaderName, HeaderValue)> {
    let reset_secs = reset.as_secs() + u64::from(reset.subsec_nanos() > 0);
    let status = format!("\"{policy}\";r={remaining};t={reset_secs}");
    [
        ("ratelimit-policy", policy_header.to_owned()),
        ("ratelimit", status),
    ]
    .into_iter()
    .filter_map(|(name, value)| {
        Some((
            HeaderName::from_static(name),
            HeaderValue::from_str(&value).ok()?,
        ))
    })
    .collect()
}

/// The throttles of one server instance.
pub struct Throttle {
    anonymous: Option<Bucket<IpAddr>>,
    users: Option<Bucket<uuid::Uuid>>,
}

impl std::fmt::Debug for Throttle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Throttle")
            .field(
                "anonymous_per_hour",
                &self.anonymous.as_ref().map(|bucket| bucket.per_hour),
            )
            .field(
                "user_per_hour",
                &self.users.as_ref().map(|bucket| bucket.per_hour),
            )
            .finish()
    }
}

impl Throttle {
    /// Limits per hour; 0 disables that throttle.
    pub fn new(anonymous_per_hour: u32, user_per_hour: u32) -> Self {
        Self {
            anonymous: Bucket::new(anonymous_per_hour, "anonymous"),
            users: Bucket::new(user_per_hour, "user"),
        }
    }

    /// Forgets clients whose buckets are full again, so memory follows active clients.
    pub fn forget_idle(&self) {
        if let Some(bucket) = &self.anonymous {
            bucket.limiter.retain_recent();
        }
        if let Some(bucket) = &self.users {
            bucket.limiter.retain_recent();
        }
    }
}

/// Counts the request against its user (a validly signed access token) or its client IP.
pub fn throttled(
    throttle: Arc<Throttle>,
    tokens: Arc<Tokens>,
) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::header::headers_cloned()
        .and_then(move |headers: HeaderMap| {
            let throttle = Arc::clone(&throttle);
            let tokens = Arc::clone(&tokens);
            async move {
                let user = bearer_token(&headers)
                    .and_then(|token| tokens.verify_access(token).ok())
                    .map(|claims| claims.sub);
                let outcome = match user {
                    Some(user) => throttle.users.as_ref().map(|bucket| bucket.check(&user)),
                    None => {
                        let ip = RequestContext::current()
                            .and_then(|context| context.client_ip)
                            .unwrap_or(IpAddr::from([0, 0, 0, 0]));
                        throttle.anonymous.as_ref().map(|bucket| bucket.check(&ip))
                    }
                };
                match outcome {
                    None => Ok(()),
                    Some(Ok(headers)) => {
                        RequestContext::add_response_headers(headers);
                        Ok(())
                    }
                    Some(Err(error)) => Err(warp::reject::custom(error)),
                }
            }
        })
        .untuple_one()
}

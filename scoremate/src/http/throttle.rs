//! Request throttling: a token bucket per client IP for anonymous requests and per user
//! for authenticated ones, whose burst equals the hourly limit (GCRA), with
//! `RateLimit-Policy`/`RateLimit` headers on every answer and `Retry-After` on a 429.
//!
//! On SQLite (one process) the buckets live in memory (`governor`). On PostgreSQL every
//! instance shares them: one row per client in `rate_limits` holding its theoretical
//! arrival time, moved by one statement per request on the database's clock, so N
//! instances behind a proxy admit the limit once, not N times.

use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use sqlx::PgPool;
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
        match self.limiter.check_key(key) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let until_full =
                    self.replenish_interval() * (self.per_hour - remaining.min(self.per_hour));
                Ok(headers(self.policy, self.per_hour, remaining, until_full))
            }
            Err(not_until) => Err(refusal(
                self.policy,
                self.per_hour,
                not_until.wait_time_from(DefaultClock::default().now()),
            )),
        }
    }
}

/// `RateLimit-Policy` and `RateLimit` of an answer.
fn headers(
    policy: &str,
    per_hour: u32,
    remaining: u32,
    reset: Duration,
) -> Vec<(HeaderName, HeaderValue)> {
    let reset_secs = reset.as_secs() + u64::from(reset.subsec_nanos() > 0);
    let status = format!("\"{policy}\";r={remaining};t={reset_secs}");
    [
        (
            "ratelimit-policy",
            format!("\"{policy}\";q={per_hour};w=3600"),
        ),
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

/// The 429 of a request that must wait `wait` for its bucket.
fn refusal(policy: &str, per_hour: u32, wait: Duration) -> ApiError {
    let mut error = ApiError::new(
        ErrorCode::RateLimited,
        "Too many requests; retry after the time in Retry-After.",
    );
    error.retry_after = Some(wait);
    error.extra_headers = headers(policy, per_hour, 0, wait);
    error
}

/// The throttles of one server instance.
pub struct Throttle {
    anonymous: Option<Bucket<IpAddr>>,
    users: Option<Bucket<uuid::Uuid>>,
    /// When set, the buckets are the shared rows of `rate_limits` instead (the in-memory
    /// ones above only say which throttles are on and their limits).
    shared: Option<PgPool>,
}

/// Whose bucket a request counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    Anonymous(IpAddr),
    User(uuid::Uuid),
}

/// One request against a shared bucket: GCRA with emission interval `$2` seconds and a
/// burst of `$3` seconds' worth (the hourly limit). Admitted, the row moves and its new
/// arrival time is answered; refused, nothing changes and the standing one is answered
/// (the outer query reads the snapshot from before the upsert).
const SHARED_CHECK: &str = "
WITH clock AS (SELECT EXTRACT(EPOCH FROM clock_timestamp())::float8 AS now),
admitted AS (
    INSERT INTO rate_limits AS bucket (key, tat)
    SELECT $1, clock.now + $2 FROM clock
    ON CONFLICT (key) DO UPDATE
       SET tat = GREATEST(bucket.tat, EXCLUDED.tat - $2) + $2
     WHERE GREATEST(bucket.tat, EXCLUDED.tat - $2) + $2 - (EXCLUDED.tat - $2) <= $3
    RETURNING bucket.tat)
SELECT (SELECT now FROM clock) AS now,
       (SELECT tat FROM admitted) AS admitted,
       (SELECT tat FROM rate_limits WHERE key = $1) AS standing";

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
            shared: None,
        }
    }

    /// The same limits, shared by every instance on the PostgreSQL database of `pool`.
    pub fn shared(pool: PgPool, anonymous_per_hour: u32, user_per_hour: u32) -> Self {
        Self {
            shared: Some(pool),
            ..Self::new(anonymous_per_hour, user_per_hour)
        }
    }

    /// Counts one request of `client`: the rate-limit headers of the answer, or the 429.
    /// `None` when that throttle is off.
    pub async fn check(
        &self,
        client: Client,
    ) -> Option<Result<Vec<(HeaderName, HeaderValue)>, ApiError>> {
        let (per_hour, policy) = match client {
            Client::Anonymous(_) => self.anonymous.as_ref().map(|b| (b.per_hour, b.policy))?,
            Client::User(_) => self.users.as_ref().map(|b| (b.per_hour, b.policy))?,
        };
        let Some(pool) = &self.shared else {
            return Some(match client {
                Client::Anonymous(ip) => self.anonymous.as_ref()?.check(&ip),
                Client::User(user) => self.users.as_ref()?.check(&user),
            });
        };
        let key = match client {
            Client::Anonymous(ip) => format!("a:{ip}"),
            Client::User(user) => format!("u:{user}"),
        };
        match check_shared(pool, &key, per_hour, policy).await {
            Ok(outcome) => Some(outcome),
            Err(error) => {
                // Throttling protects the service; it must not be what takes it down.
                tracing::warn!(%error, "shared rate limit unavailable; request admitted");
                None
            }
        }
    }

    /// Forgets clients whose buckets are full again, so memory follows active clients.
    pub async fn forget_idle(&self) {
        if let Some(pool) = &self.shared {
            let forgotten = sqlx::query(
                "DELETE FROM rate_limits WHERE tat < EXTRACT(EPOCH FROM clock_timestamp())",
            )
            .execute(pool)
            .await;
            if let Err(error) = forgotten {
                tracing::warn!(%error, "forgetting idle rate-limit rows failed; retrying later");
            }
            return;
        }
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
                let client = match user {
                    Some(user) => Client::User(user),
                    None => Client::Anonymous(
                        RequestContext::current()
                            .and_then(|context| context.client_ip)
                            .unwrap_or(IpAddr::from([0, 0, 0, 0])),
                    ),
                };
                match throttle.check(client).await {
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

/// One request against the shared bucket `key` (see [`SHARED_CHECK`]).
async fn check_shared(
    pool: &PgPool,
    key: &str,
    per_hour: u32,
    policy: &'static str,
) -> Result<Result<Vec<(HeaderName, HeaderValue)>, ApiError>, sqlx::Error> {
    let window = 3600.0_f64;
    let interval = window / f64::from(per_hour.max(1));
    let (now, admitted, standing): (f64, Option<f64>, Option<f64>) = sqlx::query_as(SHARED_CHECK)
        .bind(key)
        .bind(interval)
        .bind(window)
        .fetch_one(pool)
        .await?;
    // Within the hour a bucket spans, whatever the row holds: a stored value is never a
    // reason to panic (NaN, negative or huge).
    let hour = Duration::from_secs(3600);
    let seconds = |seconds: f64| Duration::try_from_secs_f64(seconds).map_or(hour, |d| d.min(hour));
    Ok(match admitted {
        Some(tat) => {
            let until_full = (tat - now).max(0.0);
            // A hair of slack: the arrival times are sums of floating-point intervals.
            let remaining = ((window - until_full) / interval + 1e-6).floor().max(0.0);
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let remaining = (remaining as u32).min(per_hour);
            Ok(headers(policy, per_hour, remaining, seconds(until_full)))
        }
        None => {
            // The next request fits once the standing arrival time is within the burst.
            let wait = standing.map_or(interval, |tat| tat + interval - window - now);
            Err(refusal(policy, per_hour, seconds(wait.max(0.001))))
        }
    })
}

//! `GET /api/v1/me`: the caller's account and quota.

use aggregates::{Quota, UserId};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;
use warp::http::Method;
use warp::{Filter, Rejection, Reply};

use crate::http::authenticate::{Principal, authenticated};
use crate::http::endpoint::endpoint;
use crate::http::error::{ApiError, Problem};
use crate::http::openapi::{Authenticated, PagePastEnd, Throttled};
use crate::http::pagination::{Page, PageQuery, Paginated};
use crate::http::reply::into_reply;
use crate::quota::{QuotaView, quota_of};
use crate::state::AppState;

/// The caller.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub id: Uuid,
    pub email: String,
    pub display_name: Option<String>,
    pub roles: Vec<String>,
    pub quota: QuotaView,
}

pub fn routes(
    state: &AppState,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone + use<> {
    let with_state = state.each_request();
    let me = endpoint(Method::GET, "/api/v1/me")
        .and(with_state.clone())
        .and(authenticated(state.authenticator()))
        .then(|_, state, principal| me(state, principal))
        .map(into_reply);
    let history = endpoint(Method::GET, "/api/v1/quota/history")
        .and(with_state.clone())
        .and(authenticated(state.authenticator()))
        .and(warp::query::<PageQuery>())
        .then(|_, state, principal, query| quota_history(state, principal, query))
        .map(into_reply);
    let quota = endpoint(Method::GET, "/api/v1/quota")
        .and(with_state)
        .and(authenticated(state.authenticator()))
        .then(|_, state, principal| quota(state, principal))
        .map(into_reply);
    me.or(quota).unify().or(history).unify()
}

#[utoipa::path(
    get, path = "/api/v1/quota", tag = "quota",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's storage, in bytes", body = QuotaView),
        Authenticated,
    )
)]
pub async fn quota(
    state: AppState,
    principal: Principal,
) -> Result<warp::reply::Response, ApiError> {
    let quota = quota_of(&state, principal.user_id).await?;
    Ok(warp::reply::json(&QuotaView::from(&quota)).into_response())
}

#[utoipa::path(
    get, path = "/api/v1/me", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = Me),
        (status = 401, description = "Missing, invalid, expired or revoked token (E002)", body = Problem, content_type = "application/problem+json"),
        Throttled,
    )
)]
pub async fn me(state: AppState, principal: Principal) -> Result<warp::reply::Response, ApiError> {
    let account = state
        .services
        .accounts
        .load(&principal.user_id.to_string())
        .await?
        .aggregate;
    if !account.is_registered() {
        return Err(ApiError::invalid_token());
    }
    let quota = quota_of(&state, principal.user_id).await?;
    let me = Me {
        id: principal.user_id.into_uuid(),
        email: account
            .email()
            .map(|email| email.as_str().to_owned())
            .unwrap_or_default(),
        display_name: account.display_name().map(str::to_owned),
        roles: account
            .roles()
            .iter()
            .map(|role| role.as_str().to_owned())
            .collect(),
        quota: QuotaView::from(&quota),
    };
    Ok(warp::reply::json(&me).into_response())
}

/// One line of the caller's quota ledger.
#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerEntry {
    /// The event's place in the global log.
    pub position: i64,
    /// The ledger's version after the event.
    pub version: i64,
    pub occurred_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The event type, e.g. `QuotaReserved`.
    pub event: String,
    pub upload_id: Option<Uuid>,
    pub score_id: Option<Uuid>,
    pub delta_used_bytes: i64,
    pub delta_reserved_bytes: i64,
    pub used_bytes_after: u64,
    pub reserved_bytes_after: u64,
    pub limit_bytes_after: u64,
}

/// The ledger of `user_id`, oldest first, replayed from the event store (the auditors'
/// replay, in the shape of `/quota/history`).
pub async fn ledger_of(state: &AppState, user_id: UserId) -> Result<Vec<LedgerEntry>, ApiError> {
    let events = eventstore::EventLog::new(state.database.clone())
        .stream(<Quota as cqrs_es::Aggregate>::TYPE, &user_id.to_string())
        .await?;
    Ok(audit::replay(&events)?
        .into_iter()
        .map(|replayed| {
            let entry = replayed.entry;
            LedgerEntry {
                position: entry.position,
                version: entry.version,
                occurred_at: Some(entry.occurred_at),
                event: entry.event,
                upload_id: entry.upload_id,
                score_id: entry.score_id,
                delta_used_bytes: entry.delta_used_bytes,
                delta_reserved_bytes: entry.delta_reserved_bytes,
                used_bytes_after: entry.used_bytes_after,
                reserved_bytes_after: entry.reserved_bytes_after,
                limit_bytes_after: entry.limit_bytes_after,
            }
        })
        .collect())
}

#[utoipa::path(
    get, path = "/api/v1/quota/history", tag = "quota",
    security(("bearer" = [])),
    params(crate::http::pagination::PageQuery),
    responses(
        (status = 200, description = "The caller's quota ledger, oldest first, with running balances", body = Paginated<LedgerEntry>),
        (status = 400, description = "Bad page, page_size or cursor (E007)", body = Problem, content_type = "application/problem+json"),
        Authenticated,
        PagePastEnd,
    )
)]
pub async fn quota_history(
    state: AppState,
    principal: Principal,
    query: PageQuery,
) -> Result<warp::reply::Response, ApiError> {
    let page = Page::from_query(&query, &state.public_url, "/api/v1/quota/history")?;
    quota_of(&state, principal.user_id).await?;
    let entries = ledger_of(&state, principal.user_id).await?;
    let body = page.slice_keyed("version", entries, |entry| entry.version)?;
    Ok(warp::reply::json(&body).into_response())
}

//! `GET /api/v1/audit/users/{user_id}/quota-history`: a user's quota history replayed from
//! the event store, for auditors.

use aggregates::{Role, UserId};
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;
use warp::http::Method;
use warp::{Filter, Rejection, Reply};

use audit::{Patience, QuotaAudit, audit_quota, parse_as_of};

use crate::http::authenticate::{Principal, authenticated};
use crate::http::endpoint::{PathParams, endpoint};
use crate::http::error::{ApiError, ErrorCode, Problem};
use crate::http::openapi::Authenticated;
use crate::http::pagination::{Page, PageQuery};
use crate::http::reply::into_reply;
use crate::state::AppState;

/// The instant to replay up to.
#[derive(Debug, Clone, Default, Deserialize, Serialize, IntoParams)]
pub struct AsOfQuery {
    /// RFC 3339 (e.g. `2026-11-26T12:00:00Z`), inclusive; without it, every event so far.
    pub as_of: Option<String>,
}

pub fn routes(
    state: &AppState,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone + use<> {
    let with_state = state.each_request();
    endpoint(Method::GET, "/api/v1/audit/users/{user_id}/quota-history")
        .and(with_state)
        .and(authenticated(state.authenticator()))
        .and(warp::query::<PageQuery>())
        .and(warp::query::<AsOfQuery>())
        .then(|params, state, principal, page, query| {
            quota_history(state, principal, params, page, query)
        })
        .map(into_reply)
}

#[utoipa::path(
    get, path = "/api/v1/audit/users/{user_id}/quota-history", tag = "audit",
    security(("bearer" = [])),
    params(("user_id" = Uuid, Path, description = "The audited user"), AsOfQuery, PageQuery),
    responses(
        (status = 200, description = "The user's quota events replayed from the event store, oldest first, each with the balance after it; the state at `as_of`; whether the read models agree", body = QuotaAudit),
        (status = 400, description = "Bad as_of, page or page_size (E007)", body = Problem, content_type = "application/problem+json"),
        Authenticated,
        (status = 403, description = "The caller is not an auditor (E006)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user, or a page past the end (E003)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn quota_history(
    state: AppState,
    principal: Principal,
    params: PathParams,
    page: PageQuery,
    query: AsOfQuery,
) -> Result<warp::reply::Response, ApiError> {
    // The role as the account holds it now: a revoked auditor's older token does not
    // keep the access.
    let caller = state
        .services
        .accounts
        .load(&principal.user_id.to_string())
        .await?;
    if !caller.aggregate.has_role(Role::Auditor) {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "Auditing needs the auditor role.",
        ));
    }
    let user_id: UserId = params.get(0).parse().map_err(|_| ApiError::not_found())?;
    let path = format!("/api/v1/audit/users/{user_id}/quota-history");
    let page = Page::from_query(&page, &state.public_url, &path)?.keeping(&query);
    let as_of = query
        .as_of
        .as_deref()
        .map(parse_as_of)
        .transpose()
        .map_err(|_| {
            ApiError::invalid_field(
                "as_of",
                "Must be an RFC 3339 date-time, e.g. 2026-11-26T12:00:00Z.",
            )
        })?;
    let account = state.services.accounts.load(&user_id.to_string()).await?;
    if !account.aggregate.is_registered() {
        return Err(ApiError::not_found());
    }
    let audit = audit_quota(&state.database, user_id, as_of, Patience::SERVER).await?;
    Ok(warp::reply::json(&paged(audit, &page)?).into_response())
}

/// One page of the audit's results, with links.
fn paged(mut audit: QuotaAudit, page: &Page) -> Result<QuotaAudit, ApiError> {
    let results = std::mem::take(&mut audit.results);
    let wrapped = page.slice_keyed("version", results, |entry| entry.version)?;
    Ok(QuotaAudit {
        count: wrapped.count,
        count_is_exact: wrapped.count_is_exact,
        next: wrapped.next,
        previous: wrapped.previous,
        results: wrapped.results,
        ..audit
    })
}

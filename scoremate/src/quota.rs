//! A user's quota as the routes share it: the request's own quota step, and the quota
//! with its default limit in place.

use aggregates::{Bytes, Quota, QuotaCommand, UserId};
use eventstore::Actor;

pub use audit::QuotaView;

use crate::http::error::ApiError;
use crate::state::AppState;

/// The quota step a command's request takes itself, so that `GET /quota` shows its effect
/// as soon as the command answered. The quota saga takes the same step from the log, so a
/// failure here is logged, not answered: it heals, and a step already taken (a refusal such
/// as "already released") is no news.
pub async fn quota_step(
    state: &AppState,
    user_id: UserId,
    command: QuotaCommand,
    metadata: &eventstore::EventMetadata,
) {
    match state
        .services
        .quotas
        .execute(&user_id.to_string(), command, metadata)
        .await
    {
        Ok(_) | Err(eventstore::CommandError::Rejected(_)) => {}
        Err(error) => {
            tracing::warn!(%error, ?command, "quota step failed in the request; the quota saga will take it")
        }
    }
}

/// The quota of `user_id`, setting the default limit first if registration could not.
pub async fn quota_of(state: &AppState, user_id: UserId) -> Result<Quota, ApiError> {
    Ok(quota_with_limit(state, user_id).await?.0)
}

/// `quota_of`, also answering whether the default limit was set just now.
pub async fn quota_with_limit(
    state: &AppState,
    user_id: UserId,
) -> Result<(Quota, bool), ApiError> {
    let quotas = &state.services.quotas;
    let loaded = quotas.load(&user_id.to_string()).await?;
    if loaded.aggregate.has_limit() {
        return Ok((loaded.aggregate, false));
    }
    let set_limit = QuotaCommand::SetQuotaLimit {
        limit: Bytes(state.settings.default_quota_bytes),
    };
    let metadata = crate::http::context::command_metadata(Actor::System);
    let committed = quotas
        .execute(&user_id.to_string(), set_limit, &metadata)
        .await?;
    Ok((committed.aggregate, true))
}

//! `scoremate admin …`: operator commands, recorded as events like any other change
//! (actor `system`, the invocation's id as request id).

use aggregates::{Account, AccountCommand, Bytes, Quota, QuotaCommand, Role};
use chrono::Utc;
use eventstore::{Actor, AggregateStore, Database, EventMetadata, RetryPolicy, Storage};

use crate::cli::args::AdminCommand;
use crate::http::error::ApiError;
use crate::users::resolve_user;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("no account for {0:?} (give an email or a user id)")]
    UnknownUser(String),
    #[error("unknown role {0:?} (known: auditor)")]
    UnknownRole(String),
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] eventstore::StoreError),
}

fn refused(error: impl Into<ApiError>) -> AdminError {
    AdminError::Refused(error.into().message)
}

/// Runs one admin command; returns what to print.
pub async fn run(database: &Database, command: &AdminCommand) -> Result<String, AdminError> {
    let metadata = EventMetadata::new(Actor::System, Utc::now())
        .with_request_id(format!("cli-{}", uuid::Uuid::now_v7()));
    let accounts: AggregateStore<Account> =
        AggregateStore::new(database, Storage::Events, RetryPolicy::default());
    let user_arg = match command {
        AdminCommand::SetQuota { user, .. }
        | AdminCommand::GrantRole { user, .. }
        | AdminCommand::RevokeRole { user, .. } => user,
    };
    let user_id = resolve_user(database, user_arg)
        .await?
        .ok_or_else(|| AdminError::UnknownUser(user_arg.clone()))?;
    let account = accounts.load(&user_id.to_string()).await.map_err(refused)?;
    if !account.aggregate.is_registered() {
        return Err(AdminError::UnknownUser(user_arg.clone()));
    }
    let id = user_id.to_string();
    match command {
        AdminCommand::SetQuota { bytes, .. } => {
            let quotas: AggregateStore<Quota> =
                AggregateStore::new(database, Storage::Snapshot(100), RetryPolicy::default());
            let set = QuotaCommand::SetQuotaLimit {
                limit: Bytes(*bytes),
            };
            quotas.execute(&id, set, &metadata).await.map_err(refused)?;
            Ok(format!("quota of {user_arg} set to {bytes} bytes"))
        }
        AdminCommand::GrantRole { role, .. } | AdminCommand::RevokeRole { role, .. } => {
            let parsed: Role = role
                .parse()
                .map_err(|_| AdminError::UnknownRole(role.clone()))?;
            let (command, verb) = match command {
                AdminCommand::GrantRole { .. } => {
                    (AccountCommand::GrantRole { role: parsed }, "granted to")
                }
                _ => (AccountCommand::RevokeRole { role: parsed }, "revoked from"),
            };
            let committed = accounts
                .execute(&id, command, &metadata)
                .await
                .map_err(refused)?;
            let note = if committed.events.is_empty() {
                " (no change)"
            } else {
                ""
            };
            Ok(format!(
                "role {parsed} {verb} {user_arg}{note}; it reaches tokens at the next login or refresh"
            ))
        }
    }
}

//! `accounts` (projection `accounts`) and `sessions` (projection `sessions`): who is
//! registered with which roles, and every sign-in session with its rotations and end.
//! Password hashes and refresh-token ids stay in the event store: analysts never need
//! them and a read model is the wrong place to copy secrets to.

use std::collections::BTreeSet;

use aggregates::{Account, AccountEvent, Session, SessionEvent};
use cqrs_es::Aggregate;
use eventstore::RecordedEvent;
use serde_json::Value;

use crate::decode::{decode, occurred_at};
use crate::error::ProjectionError;
use crate::runner::Projection;
use crate::transaction::ReadModelTx;

/// Projection `accounts`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Accounts;

impl Projection for Accounts {
    fn name(&self) -> &'static str {
        "accounts"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["accounts"]
    }

    async fn apply(
        &self,
        tx: &mut ReadModelTx<'_>,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        if event.aggregate_type != Account::TYPE {
            return Ok(());
        }
        let id = event.aggregate_id.clone();
        let at = occurred_at(event);
        match decode::<AccountEvent>(event)? {
            AccountEvent::AccountRegistered {
                email,
                display_name,
                ..
            } => {
                crate::execute!(
                    tx,
                    "INSERT INTO accounts (user_id, email, display_name, roles, registered_at, version) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (user_id) DO NOTHING",
                    id,
                    email.as_str().to_owned(),
                    display_name,
                    Value::Array(Vec::new()),
                    at,
                    event.sequence,
                )?;
            }
            AccountEvent::PasswordChanged { .. } => {
                crate::execute!(
                    tx,
                    "UPDATE accounts SET password_changed_at = $2, version = $3 WHERE user_id = $1",
                    id,
                    at,
                    event.sequence,
                )?;
            }
            AccountEvent::RoleGranted { role } => {
                set_role(tx, id, role.as_str(), true, event.sequence).await?;
            }
            AccountEvent::RoleRevoked { role } => {
                set_role(tx, id, role.as_str(), false, event.sequence).await?;
            }
        }
        Ok(())
    }
}

async fn set_role(
    tx: &mut ReadModelTx<'_>,
    user_id: String,
    role: &str,
    held: bool,
    version: i64,
) -> Result<(), ProjectionError> {
    let stored = crate::fetch_optional!(
        tx,
        (Value,),
        "SELECT roles FROM accounts WHERE user_id = $1",
        user_id.clone()
    )?;
    let mut roles: BTreeSet<String> = stored
        .and_then(|(roles,)| serde_json::from_value(roles).ok())
        .unwrap_or_default();
    if held {
        roles.insert(role.to_owned());
    } else {
        roles.remove(role);
    }
    crate::execute!(
        tx,
        "UPDATE accounts SET roles = $2, version = $3 WHERE user_id = $1",
        user_id,
        serde_json::to_value(roles).unwrap_or(Value::Array(Vec::new())),
        version,
    )?;
    Ok(())
}

/// Projection `sessions`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sessions;

impl Projection for Sessions {
    fn name(&self) -> &'static str {
        "sessions"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["sessions"]
    }

    async fn apply(
        &self,
        tx: &mut ReadModelTx<'_>,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        if event.aggregate_type != Session::TYPE {
            return Ok(());
        }
        let id = event.aggregate_id.clone();
        let at = occurred_at(event);
        match decode::<SessionEvent>(event)? {
            SessionEvent::SessionStarted {
                user_id,
                expires_at,
                ..
            } => {
                crate::execute!(
                    tx,
                    "INSERT INTO sessions (session_id, user_id, started_at, expires_at, rotations, version) \
                     VALUES ($1, $2, $3, $4, 0, $5) ON CONFLICT (session_id) DO NOTHING",
                    id,
                    user_id.to_string(),
                    at,
                    expires_at,
                    event.sequence,
                )?;
            }
            SessionEvent::RefreshTokenRotated { expires_at, .. } => {
                crate::execute!(
                    tx,
                    "UPDATE sessions SET rotations = rotations + 1, last_rotated_at = $2, \
                     expires_at = $3, version = $4 WHERE session_id = $1",
                    id,
                    at,
                    expires_at,
                    event.sequence,
                )?;
            }
            SessionEvent::SessionRevoked { reason } => {
                crate::execute!(
                    tx,
                    "UPDATE sessions SET revoked_at = $2, revoke_reason = $3, version = $4 \
                     WHERE session_id = $1",
                    id,
                    at,
                    reason.to_string(),
                    event.sequence,
                )?;
            }
        }
        Ok(())
    }
}

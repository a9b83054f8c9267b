//! `accounts` (projection `accounts`) and `sessions` (projection `sessions`): who is
//! registered with which roles, and every sign-in session with its rotations and end.
//! Password hashes and refresh-token ids stay in the event store: analysts never need
//! them and a read model is the wrong place to copy secrets to.

use std::collections::{BTreeSet, HashMap};

use aggregates::{Account, AccountEvent, Session, SessionEvent};
use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use eventstore::RecordedEvent;
use serde_json::Value;

use crate::batch::{Param, by_aggregate, fetch_in, ids_of, insert_rows};
use crate::decode::{decode, occurred_at};
use crate::error::ProjectionError;
use crate::runner::Projection;
use crate::transaction::ReadModelTx;

/// An `accounts` row.
#[derive(sqlx::FromRow)]
struct AccountRow {
    user_id: String,
    email: String,
    display_name: Option<String>,
    roles: Value,
    registered_at: DateTime<Utc>,
    password_changed_at: Option<DateTime<Utc>>,
    version: i64,
}

impl AccountRow {
    /// `event` folded into the row (`None`: not registered yet), as the one-by-one
    /// statements did: a registration inserts unless the row exists, the others update
    /// the row if there is one.
    fn fold(row: Option<Self>, event: &RecordedEvent) -> Result<Option<Self>, ProjectionError> {
        let at = occurred_at(event);
        let version = event.sequence;
        let decoded = decode::<AccountEvent>(event)?;
        let mut row = match (row, decoded) {
            (
                None,
                AccountEvent::AccountRegistered {
                    email,
                    display_name,
                    ..
                },
            ) => {
                return Ok(Some(Self {
                    user_id: event.aggregate_id.clone(),
                    email: email.as_str().to_owned(),
                    display_name,
                    roles: Value::Array(Vec::new()),
                    registered_at: at,
                    password_changed_at: None,
                    version,
                }));
            }
            (row @ Some(_), AccountEvent::AccountRegistered { .. }) | (row @ None, _) => {
                return Ok(row);
            }
            (Some(mut row), AccountEvent::PasswordChanged { .. }) => {
                row.password_changed_at = Some(at);
                row
            }
            (Some(mut row), AccountEvent::RoleGranted { role }) => {
                row.set_role(role.as_str(), true);
                row
            }
            (Some(mut row), AccountEvent::RoleRevoked { role }) => {
                row.set_role(role.as_str(), false);
                row
            }
        };
        row.version = version;
        Ok(Some(row))
    }

    fn set_role(&mut self, role: &str, held: bool) {
        let mut roles: BTreeSet<String> =
            serde_json::from_value(self.roles.take()).unwrap_or_default();
        if held {
            roles.insert(role.to_owned());
        } else {
            roles.remove(role);
        }
        self.roles = serde_json::to_value(roles).unwrap_or(Value::Array(Vec::new()));
    }

    fn values(self) -> Vec<Param> {
        vec![
            self.user_id.into(),
            self.email.into(),
            self.display_name.into(),
            self.roles.into(),
            self.registered_at.into(),
            self.password_changed_at.into(),
            self.version.into(),
        ]
    }
}

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

    async fn apply_batch(
        &self,
        tx: &mut ReadModelTx<'_>,
        events: &[RecordedEvent],
    ) -> Result<(), ProjectionError> {
        let groups = by_aggregate(events, Account::TYPE);
        if groups.is_empty() {
            return Ok(());
        }
        let stored: Vec<AccountRow> = fetch_in(
            tx,
            "SELECT user_id, email, display_name, roles, registered_at, password_changed_at, \
             version FROM accounts WHERE user_id IN ({keys})",
            &[],
            &ids_of(&groups),
        )
        .await?;
        let rows = fold_groups(groups, stored, |row| row.user_id.clone(), AccountRow::fold)?;
        insert_rows(
            tx,
            "INSERT INTO accounts (user_id, email, display_name, roles, registered_at, \
             password_changed_at, version) VALUES",
            "ON CONFLICT (user_id) DO UPDATE SET email = excluded.email, \
             display_name = excluded.display_name, roles = excluded.roles, \
             registered_at = excluded.registered_at, \
             password_changed_at = excluded.password_changed_at, version = excluded.version",
            rows.into_iter().map(AccountRow::values).collect(),
        )
        .await?;
        Ok(())
    }
}

/// Folds each group's events into its stored row (`key` names a row's group); answers
/// the rows that exist at the end.
fn fold_groups<R>(
    groups: Vec<(&str, Vec<&RecordedEvent>)>,
    stored: Vec<R>,
    key: impl Fn(&R) -> String,
    fold: impl Fn(Option<R>, &RecordedEvent) -> Result<Option<R>, ProjectionError>,
) -> Result<Vec<R>, ProjectionError> {
    let mut stored: HashMap<String, R> = stored.into_iter().map(|row| (key(&row), row)).collect();
    let mut rows = Vec::with_capacity(groups.len());
    for (id, events) in groups {
        let mut row = stored.remove(id);
        for event in events {
            row = fold(row, event)?;
        }
        rows.extend(row);
    }
    Ok(rows)
}

/// A `sessions` row.
#[derive(sqlx::FromRow)]
struct SessionRow {
    session_id: String,
    user_id: String,
    started_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    rotations: i64,
    last_rotated_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    revoke_reason: Option<String>,
    version: i64,
}

impl SessionRow {
    /// `event` folded into the row, as `AccountRow::fold` does.
    fn fold(row: Option<Self>, event: &RecordedEvent) -> Result<Option<Self>, ProjectionError> {
        let at = occurred_at(event);
        let version = event.sequence;
        let mut row = match (row, decode::<SessionEvent>(event)?) {
            (
                None,
                SessionEvent::SessionStarted {
                    user_id,
                    expires_at,
                    ..
                },
            ) => {
                return Ok(Some(Self {
                    session_id: event.aggregate_id.clone(),
                    user_id: user_id.to_string(),
                    started_at: at,
                    expires_at,
                    rotations: 0,
                    last_rotated_at: None,
                    revoked_at: None,
                    revoke_reason: None,
                    version,
                }));
            }
            (row @ Some(_), SessionEvent::SessionStarted { .. }) | (row @ None, _) => {
                return Ok(row);
            }
            (Some(mut row), SessionEvent::RefreshTokenRotated { expires_at, .. }) => {
                row.rotations += 1;
                row.last_rotated_at = Some(at);
                row.expires_at = expires_at;
                row
            }
            (Some(mut row), SessionEvent::SessionRevoked { reason }) => {
                row.revoked_at = Some(at);
                row.revoke_reason = Some(reason.to_string());
                row
            }
        };
        row.version = version;
        Ok(Some(row))
    }

    fn values(self) -> Vec<Param> {
        vec![
            self.session_id.into(),
            self.user_id.into(),
            self.started_at.into(),
            self.expires_at.into(),
            self.rotations.into(),
            self.last_rotated_at.into(),
            self.revoked_at.into(),
            self.revoke_reason.into(),
            self.version.into(),
        ]
    }
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

    async fn apply_batch(
        &self,
        tx: &mut ReadModelTx<'_>,
        events: &[RecordedEvent],
    ) -> Result<(), ProjectionError> {
        let groups = by_aggregate(events, Session::TYPE);
        if groups.is_empty() {
            return Ok(());
        }
        let stored: Vec<SessionRow> = fetch_in(
            tx,
            "SELECT session_id, user_id, started_at, expires_at, rotations, last_rotated_at, \
             revoked_at, revoke_reason, version FROM sessions WHERE session_id IN ({keys})",
            &[],
            &ids_of(&groups),
        )
        .await?;
        let rows = fold_groups(
            groups,
            stored,
            |row| row.session_id.clone(),
            SessionRow::fold,
        )?;
        insert_rows(
            tx,
            "INSERT INTO sessions (session_id, user_id, started_at, expires_at, rotations, \
             last_rotated_at, revoked_at, revoke_reason, version) VALUES",
            "ON CONFLICT (session_id) DO UPDATE SET user_id = excluded.user_id, \
             started_at = excluded.started_at, expires_at = excluded.expires_at, \
             rotations = excluded.rotations, last_rotated_at = excluded.last_rotated_at, \
             revoked_at = excluded.revoked_at, revoke_reason = excluded.revoke_reason, \
             version = excluded.version",
            rows.into_iter().map(SessionRow::values).collect(),
        )
        .await?;
        Ok(())
    }
}

//! A user's account, one per user: who they are, how they sign in, what roles they hold.
//!
//! Invariants:
//! - An account is registered once; every other command needs a registered account.
//! - The email is normalised (see [`Email`]); its uniqueness across accounts is enforced
//!   by the caller (a unique index over the normalised address), not here.
//! - A display name, when present, is 1..=100 characters once trimmed, and stored trimmed.
//! - Roles form a set: a role is held at most once.
//!
//! Idempotent commands (no events when repeated): `GrantRole` of a role already held,
//! `RevokeRole` of a role not held, `ChangePassword` to the current hash.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use crate::email::Email;
use crate::ids::UserId;
use crate::validation::char_len;

#[cfg(test)]
mod tests;

/// The longest display name, in characters.
pub const MAX_DISPLAY_NAME_CHARS: usize = 100;

/// A privilege beyond owning one's own library.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// May replay any user's quota history from the event log.
    Auditor,
}

impl Role {
    pub const ALL: [Self; 1] = [Self::Auditor];

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Auditor => "auditor",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that ScoreMate does not know (e.g. on `admin grant-role`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role '{0}'")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccountCommand {
    /// Opens the account of a new user. The email is already normalised and known to be
    /// free; the password is already hashed (Argon2id).
    RegisterAccount {
        user_id: UserId,
        email: Email,
        password_hash: String,
        display_name: Option<String>,
    },
    /// Replaces the password hash.
    ChangePassword { password_hash: String },
    /// Gives the user a role.
    GrantRole { role: Role },
    /// Takes a role away from the user.
    RevokeRole { role: Role },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccountEvent {
    /// A user joined; `display_name` is trimmed.
    AccountRegistered {
        user_id: UserId,
        email: Email,
        password_hash: String,
        display_name: Option<String>,
    },
    /// The user's password changed; older passwords no longer sign in.
    PasswordChanged { password_hash: String },
    /// The user now holds `role`.
    RoleGranted { role: Role },
    /// The user no longer holds `role`.
    RoleRevoked { role: Role },
}

impl DomainEvent for AccountEvent {
    fn event_type(&self) -> String {
        match self {
            Self::AccountRegistered { .. } => "AccountRegistered",
            Self::PasswordChanged { .. } => "PasswordChanged",
            Self::RoleGranted { .. } => "RoleGranted",
            Self::RoleRevoked { .. } => "RoleRevoked",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    /// The account was already registered; registration happens once.
    #[error("the account is already registered")]
    AlreadyRegistered,
    /// The account was never registered.
    #[error("the account is not registered")]
    NotRegistered,
    /// A display name must be 1..=100 characters once trimmed.
    #[error("the display name must be between 1 and {MAX_DISPLAY_NAME_CHARS} characters")]
    InvalidDisplayName,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    user_id: Option<UserId>,
    email: Option<Email>,
    password_hash: Option<String>,
    display_name: Option<String>,
    roles: BTreeSet<Role>,
}

impl Account {
    #[must_use]
    pub const fn is_registered(&self) -> bool {
        self.user_id.is_some()
    }

    #[must_use]
    pub const fn user_id(&self) -> Option<UserId> {
        self.user_id
    }

    #[must_use]
    pub const fn email(&self) -> Option<&Email> {
        self.email.as_ref()
    }

    #[must_use]
    pub fn password_hash(&self) -> Option<&str> {
        self.password_hash.as_deref()
    }

    #[must_use]
    pub fn display_name(&self) -> Option<&str> {
        self.display_name.as_deref()
    }

    #[must_use]
    pub const fn roles(&self) -> &BTreeSet<Role> {
        &self.roles
    }

    #[must_use]
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Decides what a command changes, without changing anything.
    ///
    /// # Errors
    /// The [`AccountError`] naming the rule the command breaks.
    pub fn decide(&self, command: AccountCommand) -> Result<Vec<AccountEvent>, AccountError> {
        match command {
            AccountCommand::RegisterAccount {
                user_id,
                email,
                password_hash,
                display_name,
            } => {
                if self.is_registered() {
                    return Err(AccountError::AlreadyRegistered);
                }
                Ok(vec![AccountEvent::AccountRegistered {
                    user_id,
                    email,
                    password_hash,
                    display_name: display_name_of(display_name)?,
                }])
            }
            AccountCommand::ChangePassword { password_hash } => {
                self.require_registered()?;
                if self.password_hash.as_deref() == Some(password_hash.as_str()) {
                    return Ok(vec![]);
                }
                Ok(vec![AccountEvent::PasswordChanged { password_hash }])
            }
            AccountCommand::GrantRole { role } => {
                self.require_registered()?;
                if self.has_role(role) {
                    return Ok(vec![]);
                }
                Ok(vec![AccountEvent::RoleGranted { role }])
            }
            AccountCommand::RevokeRole { role } => {
                self.require_registered()?;
                if !self.has_role(role) {
                    return Ok(vec![]);
                }
                Ok(vec![AccountEvent::RoleRevoked { role }])
            }
        }
    }

    const fn require_registered(&self) -> Result<(), AccountError> {
        if self.is_registered() {
            Ok(())
        } else {
            Err(AccountError::NotRegistered)
        }
    }
}

/// Trims a display name; a blank or overlong one is refused rather than dropped, since
/// the user typed it on purpose.
fn display_name_of(raw: Option<String>) -> Result<Option<String>, AccountError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let trimmed = raw.trim();
    let len = char_len(trimmed);
    if len == 0 || len > MAX_DISPLAY_NAME_CHARS {
        return Err(AccountError::InvalidDisplayName);
    }
    Ok(Some(trimmed.to_owned()))
}

crate::sink::decided_aggregate!(
    Account,
    "Account",
    AccountCommand,
    AccountEvent,
    AccountError
);

impl Account {
    /// The state after `event` (what cqrs-es calls `apply`).
    fn evolve(&mut self, event: AccountEvent) {
        match event {
            AccountEvent::AccountRegistered {
                user_id,
                email,
                password_hash,
                display_name,
            } => {
                self.user_id = Some(user_id);
                self.email = Some(email);
                self.password_hash = Some(password_hash);
                self.display_name = display_name;
            }
            AccountEvent::PasswordChanged { password_hash } => {
                self.password_hash = Some(password_hash);
            }
            AccountEvent::RoleGranted { role } => {
                self.roles.insert(role);
            }
            AccountEvent::RoleRevoked { role } => {
                self.roles.remove(&role);
            }
        }
    }
}

//! Email → account, read from the registrations in the event store itself (through the
//! unique index that also enforces one account per address), so a login right after a
//! registration never misses it.

use aggregates::{Email, UserId};
use eventstore::{Database, StoreError};

// Registrations are stored normalised; older ones whose stored form is not are found
// through the alias of their normalised form (see the `account_email_aliases` migration).
const POSTGRES_FIND: &str = "
SELECT aggregate_id FROM events
 WHERE aggregate_type = 'Account' AND event_type = 'AccountRegistered'
   AND (payload -> 'AccountRegistered' ->> 'email') = $1
UNION ALL
SELECT user_id FROM account_email_aliases WHERE email = $1
LIMIT 1";

const SQLITE_FIND: &str = "
SELECT aggregate_id FROM events
 WHERE aggregate_type = 'Account' AND event_type = 'AccountRegistered'
   AND json_extract(payload, '$.AccountRegistered.email') = $1
UNION ALL
SELECT user_id FROM account_email_aliases WHERE email = $1
LIMIT 1";

/// The account registered with `email`, if any.
pub async fn find_user_by_email(
    database: &Database,
    email: &Email,
) -> Result<Option<UserId>, StoreError> {
    let id: Option<String> = match database {
        Database::Postgres(pool) => {
            sqlx::query_scalar(POSTGRES_FIND)
                .bind(email.as_str())
                .fetch_optional(pool)
                .await?
        }
        Database::Sqlite(pool) => {
            sqlx::query_scalar(SQLITE_FIND)
                .bind(email.as_str())
                .fetch_optional(pool)
                .await?
        }
    };
    id.map(|id| {
        id.parse::<UserId>()
            .map_err(|error| StoreError::Corrupt(format!("account id {id}: {error}")))
    })
    .transpose()
}

/// A user named on the command line by email or id.
pub async fn resolve_user(database: &Database, user: &str) -> Result<Option<UserId>, StoreError> {
    if let Ok(id) = user.parse::<UserId>() {
        return Ok(Some(id));
    }
    match Email::parse(user) {
        Ok(email) => find_user_by_email(database, &email).await,
        Err(_) => Ok(None),
    }
}

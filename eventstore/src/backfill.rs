//! One-time data steps that follow the schema migrations, each recorded in
//! `data_backfills` so it runs once, also when several processes start together (the
//! marker row is written first: a second process waits on it and then finds it done).

use std::collections::HashSet;

use aggregates::Email;
use chrono::Utc;
use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;

use crate::error::StoreError;

// Accounts registered before addresses were NFKC-normalised keep the form they were
// stored in; each such address gets its normalised form as an alias, so that login and
// the uniqueness check of new registrations (both on the normalised form) find it.
const EMAIL_ALIASES: &str = "account_email_aliases";

const CLAIM: &str =
    "INSERT INTO data_backfills (name, done_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING";

const POSTGRES_REGISTERED: &str = "
SELECT aggregate_id, payload -> 'AccountRegistered' ->> 'email' FROM events
 WHERE aggregate_type = 'Account' AND event_type = 'AccountRegistered' ORDER BY position";
const SQLITE_REGISTERED: &str = "
SELECT aggregate_id, json_extract(payload, '$.AccountRegistered.email') FROM events
 WHERE aggregate_type = 'Account' AND event_type = 'AccountRegistered' ORDER BY position";

const ALIAS: &str = "INSERT INTO account_email_aliases (email, user_id) VALUES ($1, $2) \
     ON CONFLICT (email) DO NOTHING";

/// The email-alias step in one transaction of `$pool`, reading the registrations with
/// `$registered`: written once for both backends, whose pools are different types.
macro_rules! email_aliases_on {
    ($pool:expr, $registered:expr) => {{
        let mut transaction = $pool.begin().await?;
        let claimed = sqlx::query(CLAIM)
            .bind(EMAIL_ALIASES)
            .bind(Utc::now().to_rfc3339())
            .execute(&mut *transaction)
            .await?
            .rows_affected();
        if claimed == 0 {
            return Ok(());
        }
        let rows: Vec<(String, Option<String>)> = sqlx::query_as($registered)
            .fetch_all(&mut *transaction)
            .await?;
        let aliases = aliases(&rows);
        for (user_id, email) in &aliases {
            sqlx::query(ALIAS)
                .bind(email)
                .bind(user_id)
                .execute(&mut *transaction)
                .await?;
        }
        transaction.commit().await?;
        report(rows.len(), aliases.len());
        Ok(())
    }};
}

/// Runs every data step not yet recorded as done, on PostgreSQL.
pub(crate) async fn run_postgres(pool: &PgPool) -> Result<(), StoreError> {
    email_aliases_on!(pool, POSTGRES_REGISTERED)
}

/// Runs every data step not yet recorded as done, on SQLite.
pub(crate) async fn run_sqlite(pool: &SqlitePool) -> Result<(), StoreError> {
    email_aliases_on!(pool, SQLITE_REGISTERED)
}

fn report(accounts: usize, aliased: usize) {
    if aliased > 0 {
        tracing::info!(
            accounts,
            aliased,
            "older accounts' email addresses are now also found in their normalised form"
        );
    }
}

/// `(user_id, normalised address)` for every stored address that is not normalised. Two
/// old accounts whose addresses normalise alike: the first registered keeps the alias
/// (and is logged), the other keeps signing in only if its stored form was normalised.
fn aliases(rows: &[(String, Option<String>)]) -> Vec<(&str, String)> {
    let stored: HashSet<&str> = rows
        .iter()
        .filter_map(|(_, email)| email.as_deref())
        .collect();
    let mut given: HashSet<String> = HashSet::new();
    let mut aliases = Vec::new();
    for (user_id, email) in rows {
        let Some(email) = email else { continue };
        let Ok(normalised) = Email::parse(email) else {
            continue;
        };
        if normalised.as_str() == email {
            continue;
        }
        if stored.contains(normalised.as_str()) || !given.insert(normalised.as_str().to_owned()) {
            tracing::warn!(
                user_id = %user_id,
                "an older account's email address normalises to one already in use; it keeps its stored form only"
            );
            continue;
        }
        aliases.push((user_id.as_str(), normalised.into_string()));
    }
    aliases
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn row(user: &str, email: &str) -> (String, Option<String>) {
        (user.to_owned(), Some(email.to_owned()))
    }

    #[test]
    fn only_unnormalised_addresses_get_an_alias() {
        let rows = vec![
            row("a", "plain@x.com"),
            row("b", "cafe\u{301}@x.com"),
            row("c", "\u{ff43}ase@x.com"),
        ];
        assert_eq!(
            aliases(&rows),
            vec![
                ("b", "caf\u{e9}@x.com".to_owned()),
                ("c", "case@x.com".to_owned())
            ]
        );
    }

    #[test]
    fn an_alias_never_shadows_a_stored_address_or_another_alias() {
        let rows = vec![
            row("a", "caf\u{e9}@x.com"),
            row("b", "cafe\u{301}@x.com"),
            row("c", "\u{ff43}ase@x.com"),
            row("d", "\u{ff43}\u{ff41}se@x.com"),
        ];
        assert_eq!(aliases(&rows), vec![("c", "case@x.com".to_owned())]);
    }
}

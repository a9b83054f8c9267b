use eventstore::{Database, LogCursor};

use crate::transaction::ReadModelTx;

/// A follower's place in the global log.
pub type Checkpoint = LogCursor;

/// Reads (creating if missing) the checkpoint of `name`, locking it for this transaction
/// on PostgreSQL so that two instances never apply the same events: the second waits,
/// then continues from where the first left off.
pub async fn read_checkpoint(
    tx: &mut ReadModelTx<'_>,
    name: &str,
) -> Result<Checkpoint, sqlx::Error> {
    const ENSURE: &str = "INSERT INTO checkpoints (name) VALUES ($1) ON CONFLICT (name) DO NOTHING";
    let row: (i64, i64) = match tx {
        ReadModelTx::Sqlite(transaction, _) => {
            sqlx::query(ENSURE)
                .bind(name)
                .execute(&mut **transaction)
                .await?;
            sqlx::query_as("SELECT transaction_id, position FROM checkpoints WHERE name = $1")
                .bind(name)
                .fetch_one(&mut **transaction)
                .await?
        }
        ReadModelTx::Postgres(transaction) => {
            sqlx::query(ENSURE)
                .bind(name)
                .execute(&mut **transaction)
                .await?;
            sqlx::query_as(
                "SELECT transaction_id, position FROM checkpoints WHERE name = $1 FOR UPDATE",
            )
            .bind(name)
            .fetch_one(&mut **transaction)
            .await?
        }
    };
    Ok(Checkpoint {
        transaction_id: row.0,
        position: row.1,
    })
}

/// `read_checkpoint` for a live step: on PostgreSQL, `None` while another instance holds
/// the checkpoint's lock (it is applying the next batch right now, and announces its
/// commit), instead of queueing behind it with a transaction open.
pub async fn claim_checkpoint(
    tx: &mut ReadModelTx<'_>,
    name: &str,
) -> Result<Option<Checkpoint>, sqlx::Error> {
    let ReadModelTx::Postgres(transaction) = tx else {
        return read_checkpoint(tx, name).await.map(Some);
    };
    let claimed: Option<(i64, i64)> = sqlx::query_as(
        "SELECT transaction_id, position FROM checkpoints WHERE name = $1 FOR UPDATE SKIP LOCKED",
    )
    .bind(name)
    .fetch_optional(&mut **transaction)
    .await?;
    if let Some((transaction_id, position)) = claimed {
        return Ok(Some(Checkpoint {
            transaction_id,
            position,
        }));
    }
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM checkpoints WHERE name = $1")
        .bind(name)
        .fetch_optional(&mut **transaction)
        .await?;
    if exists.is_some() {
        return Ok(None);
    }
    // The first step ever: create the row (and wait, should another instance do so too).
    read_checkpoint(tx, name).await.map(Some)
}

/// Tells every instance (`LISTEN scoremate_progress`) that the checkpoint `name` reaches
/// `checkpoint` when this transaction commits, so that their requests waiting for it
/// need not ask the database; `more` notifications (channel, payload) go in the same
/// statement, after it. Nothing on SQLite, which serves one process.
pub async fn announce_checkpoint(
    tx: &mut ReadModelTx<'_>,
    name: &str,
    checkpoint: Checkpoint,
    more: Vec<(&'static str, String)>,
) -> Result<(), sqlx::Error> {
    let ReadModelTx::Postgres(transaction) = tx else {
        return Ok(());
    };
    if more.is_empty() {
        sqlx::query("SELECT pg_notify('scoremate_progress', $1)")
            .bind(progress_message(name, checkpoint))
            .execute(&mut **transaction)
            .await?;
        return Ok(());
    }
    // One round trip however many: `unnest` yields them in order, and PostgreSQL
    // delivers a transaction's notifications in the order they were sent.
    let (channels, payloads): (Vec<&str>, Vec<String>) =
        std::iter::once(("scoremate_progress", progress_message(name, checkpoint)))
            .chain(more)
            .unzip();
    sqlx::query("SELECT pg_notify(c, p) FROM unnest($1::text[], $2::text[]) AS n(c, p)")
        .bind(channels)
        .bind(payloads)
        .execute(&mut **transaction)
        .await?;
    Ok(())
}

/// The payload of a `scoremate_progress` notification: `name transaction_id position`.
fn progress_message(name: &str, checkpoint: Checkpoint) -> String {
    format!(
        "{name} {} {}",
        checkpoint.transaction_id, checkpoint.position
    )
}

/// The checkpoint name and place a `scoremate_progress` notification announces.
pub fn parse_progress(message: &str) -> Option<(&str, Checkpoint)> {
    let mut parts = message.split(' ');
    let name = parts.next()?;
    let transaction_id = parts.next()?.parse().ok()?;
    let position = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some((
        name,
        Checkpoint {
            transaction_id,
            position,
        },
    ))
}

/// Reads the checkpoint of `name` without locking or creating it (`START` if missing):
/// for followers that hold their own lock and write the checkpoint only when it moves,
/// so an idle look takes no write lock on SQLite.
pub async fn peek_checkpoint(database: &Database, name: &str) -> Result<Checkpoint, sqlx::Error> {
    const PEEK: &str = "SELECT transaction_id, position FROM checkpoints WHERE name = $1";
    let row: Option<(i64, i64)> = match database {
        Database::Sqlite(pool) => sqlx::query_as(PEEK).bind(name).fetch_optional(pool).await?,
        Database::Postgres(pool) => sqlx::query_as(PEEK).bind(name).fetch_optional(pool).await?,
    };
    Ok(
        row.map_or(Checkpoint::START, |(transaction_id, position)| Checkpoint {
            transaction_id,
            position,
        }),
    )
}

/// Moves the checkpoint of `name` (creating it if missing).
pub async fn write_checkpoint(
    tx: &mut ReadModelTx<'_>,
    name: &str,
    checkpoint: Checkpoint,
) -> Result<(), sqlx::Error> {
    match tx {
        ReadModelTx::Sqlite(transaction, _) => {
            sqlx::query(
                "INSERT INTO checkpoints (name, transaction_id, position) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET transaction_id = excluded.transaction_id, \
                 position = excluded.position, \
                 updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
            )
            .bind(name)
            .bind(checkpoint.transaction_id)
            .bind(checkpoint.position)
            .execute(&mut **transaction)
            .await?;
        }
        ReadModelTx::Postgres(transaction) => {
            sqlx::query(
                "INSERT INTO checkpoints (name, transaction_id, position) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET transaction_id = excluded.transaction_id, \
                 position = excluded.position, updated_at = now()",
            )
            .bind(name)
            .bind(checkpoint.transaction_id)
            .bind(checkpoint.position)
            .execute(&mut **transaction)
            .await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_progress_message_reads_back_as_what_was_announced() {
        let checkpoint = Checkpoint {
            transaction_id: 812,
            position: 4_096,
        };
        let message = progress_message("scores", checkpoint);
        assert_eq!(parse_progress(&message), Some(("scores", checkpoint)));
        assert_eq!(parse_progress("scores 1"), None);
        assert_eq!(parse_progress("scores x 1"), None);
        assert_eq!(parse_progress("scores 1 2 3"), None);
    }
}

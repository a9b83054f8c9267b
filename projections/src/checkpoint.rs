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

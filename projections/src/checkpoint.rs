use eventstore::LogCursor;

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
        ReadModelTx::Sqlite(transaction) => {
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

pub async fn write_checkpoint(
    tx: &mut ReadModelTx<'_>,
    name: &str,
    checkpoint: Checkpoint,
) -> Result<(), sqlx::Error> {
    match tx {
        ReadModelTx::Sqlite(transaction) => {
            sqlx::query(
                "UPDATE checkpoints SET transaction_id = $2, position = $3, \
                 updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE name = $1",
            )
            .bind(name)
            .bind(checkpoint.transaction_id)
            .bind(checkpoint.position)
            .execute(&mut **transaction)
            .await?;
        }
        ReadModelTx::Postgres(transaction) => {
            sqlx::query(
                "UPDATE checkpoints SET transaction_id = $2, position = $3, updated_at = now() \
                 WHERE name = $1",
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

//! Long quota histories, fast: every command decided by the real aggregate on its real
//! state (so the events are exactly what the service would store), appended in large
//! batches instead of one transaction per command.

use aggregates::{Bytes, Quota, QuotaCommand, ReleaseReason, UploadId, UserId};
use chrono::{DateTime, Utc};
use cqrs_es::persist::{PersistedEventRepository, SerializedEvent};
use cqrs_es::{Aggregate, DomainEvent};
use eventstore::{
    Actor, AggregateStore, AnyEventRepository, Database, EventMetadata, RetryPolicy, Storage,
};

/// What the history adds up to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub reserved: u64,
    pub limit: u64,
    /// The stream's version after the history.
    pub version: usize,
}

/// The `n`th command of the rhythm, its upload ids offset by `uploads` (ids are never
/// reused within a stream).
fn rhythm(n: u64, uploads: u128, expires_at: DateTime<Utc>) -> QuotaCommand {
    let upload =
        |k: u64| UploadId::from_uuid(uuid::Uuid::from_u128(uploads.wrapping_add(u128::from(k))));
    match n % 4 {
        0 => QuotaCommand::SetQuotaLimit {
            limit: Bytes((1 << 40) | n),
        },
        1 | 3 => QuotaCommand::ReserveQuota {
            upload_id: upload(n / 2 + 1),
            bytes: Bytes(n + 1),
            expires_at,
        },
        _ => QuotaCommand::ReleaseReservation {
            upload_id: upload(n / 2),
            reason: ReleaseReason::Cancelled,
        },
    }
}

/// Decides `command` on `quota` (at `version`) and queues its events for `user`'s stream.
fn queue(
    quota: &mut Quota,
    version: &mut usize,
    user: UserId,
    command: QuotaCommand,
    metadata: &serde_json::Value,
    batch: &mut Vec<SerializedEvent>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    for event in quota.decide(command)? {
        *version += 1;
        batch.push(SerializedEvent::new(
            user.to_string(),
            *version,
            Quota::TYPE.to_owned(),
            event.event_type(),
            event.event_version(),
            serde_json::to_value(&event)?,
            metadata.clone(),
        ));
        quota.apply(event);
    }
    Ok(())
}

/// Appends `count` quota events to `user`'s stream in the rhythm set limit, reserve,
/// release that reservation, reserve (kept open), …
pub async fn append_quota_history(
    database: &Database,
    user: UserId,
    count: u64,
) -> Result<Outcome, Box<dyn std::error::Error + Send + Sync>> {
    let store: AggregateStore<Quota> =
        AggregateStore::new(database, Storage::Events, RetryPolicy::default());
    let loaded = store
        .load(&user.to_string())
        .await
        .map_err(|error| error.to_string())?;
    let mut quota = loaded.aggregate;
    let mut version = loaded.version;
    let metadata = serde_json::to_value(
        EventMetadata::new(Actor::System, Utc::now())
            .with_request_id("history")
            .to_map(),
    )?;
    let expires_at = Utc::now() + chrono::Duration::hours(1);
    let repository = AnyEventRepository::new(database);
    let mut batch = Vec::new();
    for n in 0..count {
        let command = rhythm(n, 0, expires_at);
        queue(
            &mut quota,
            &mut version,
            user,
            command,
            &metadata,
            &mut batch,
        )?;
        if batch.len() >= 1_000 {
            repository.persist::<Quota>(&batch, None).await?;
            batch.clear();
        }
    }
    if !batch.is_empty() {
        repository.persist::<Quota>(&batch, None).await?;
    }
    Ok(Outcome {
        reserved: quota.reserved().0,
        limit: quota.limit().0,
        version,
    })
}

/// Gives each of `users` (new streams) a history of `count` events in the same rhythm, as
/// [`append_quota_history`] does for one, many users' events to a batch: many short
/// histories (an audit of every user) without a transaction per user. Upload ids are
/// unique across the users, as the service's are.
pub async fn append_quota_histories(
    database: &Database,
    users: &[UserId],
    count: u64,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let metadata = serde_json::to_value(
        EventMetadata::new(Actor::System, Utc::now())
            .with_request_id("history")
            .to_map(),
    )?;
    let expires_at = Utc::now() + chrono::Duration::hours(1);
    let repository = AnyEventRepository::new(database);
    let mut batch = Vec::new();
    for user in users {
        let mut quota = Quota::default();
        let mut version = 0;
        for n in 0..count {
            let command = rhythm(n, user.into_uuid().as_u128(), expires_at);
            queue(
                &mut quota,
                &mut version,
                *user,
                command,
                &metadata,
                &mut batch,
            )?;
        }
        if batch.len() >= 1_000 {
            repository.persist::<Quota>(&batch, None).await?;
            batch.clear();
        }
    }
    if !batch.is_empty() {
        repository.persist::<Quota>(&batch, None).await?;
    }
    Ok(())
}

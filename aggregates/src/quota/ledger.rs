//! The quota ledger as users and auditors read it: each event's effect on `used` and
//! `reserved`, and the balance after it. Pure: a fold over the Quota stream.

use super::QuotaEvent;
use crate::ids::UploadId;

/// The balance after an event, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Balance {
    pub limit: u64,
    pub used: u64,
    pub reserved: u64,
}

impl Balance {
    /// Never negative: 0 when a lowered limit is below usage.
    pub fn available(&self) -> u64 {
        self.limit
            .saturating_sub(self.used.saturating_add(self.reserved))
    }
}

/// One event's line in the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerLine {
    pub upload_id: Option<UploadId>,
    pub score_id: Option<UploadId>,
    pub delta_used: i64,
    pub delta_reserved: i64,
    pub after: Balance,
}

fn signed(bytes: u64) -> i64 {
    i64::try_from(bytes).unwrap_or(i64::MAX)
}

/// Applies `event` to `balance` and describes the change.
pub fn apply(balance: &mut Balance, event: &QuotaEvent) -> LedgerLine {
    let (upload_id, score_id, delta_used, delta_reserved) = match event {
        QuotaEvent::QuotaLimitSet { limit } => {
            balance.limit = limit.0;
            (None, None, 0, 0)
        }
        QuotaEvent::QuotaReserved {
            upload_id, bytes, ..
        } => {
            balance.reserved = balance.reserved.saturating_add(bytes.0);
            (Some(*upload_id), None, 0, signed(bytes.0))
        }
        QuotaEvent::QuotaConfirmed {
            upload_id,
            score_id,
            reserved_bytes,
            actual_bytes,
        } => {
            balance.reserved = balance.reserved.saturating_sub(reserved_bytes.0);
            balance.used = balance.used.saturating_add(actual_bytes.0);
            (
                Some(*upload_id),
                Some(*score_id),
                signed(actual_bytes.0),
                -signed(reserved_bytes.0),
            )
        }
        QuotaEvent::ReservationReleased {
            upload_id, bytes, ..
        } => {
            balance.reserved = balance.reserved.saturating_sub(bytes.0);
            (Some(*upload_id), None, 0, -signed(bytes.0))
        }
        QuotaEvent::QuotaReleased { score_id, bytes } => {
            balance.used = balance.used.saturating_sub(bytes.0);
            (None, Some(*score_id), -signed(bytes.0), 0)
        }
    };
    LedgerLine {
        upload_id,
        score_id,
        delta_used,
        delta_reserved,
        after: *balance,
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::bytes::Bytes;

    #[test]
    fn the_ledger_of_a_reserve_confirm_release_cycle_sums_to_its_balance() {
        let upload = UploadId::from_uuid(uuid::Uuid::from_u128(1));
        let events = [
            QuotaEvent::QuotaLimitSet { limit: Bytes(1000) },
            QuotaEvent::QuotaReserved {
                upload_id: upload,
                bytes: Bytes(300),
                expires_at: Utc::now(),
            },
            QuotaEvent::QuotaConfirmed {
                upload_id: upload,
                score_id: upload,
                reserved_bytes: Bytes(300),
                actual_bytes: Bytes(300),
            },
            QuotaEvent::QuotaReleased {
                score_id: upload,
                bytes: Bytes(300),
            },
        ];
        let mut balance = Balance::default();
        let lines: Vec<_> = events
            .iter()
            .map(|event| apply(&mut balance, event))
            .collect();
        assert_eq!(lines[1].delta_reserved, 300);
        assert_eq!((lines[2].delta_used, lines[2].delta_reserved), (300, -300));
        assert_eq!(
            lines[2].after,
            Balance {
                limit: 1000,
                used: 300,
                reserved: 0
            }
        );
        assert_eq!(lines[3].after.available(), 1000);
        let used: i64 = lines.iter().map(|line| line.delta_used).sum();
        assert_eq!(used, 0);
    }
}

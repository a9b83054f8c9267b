//! A reference model of one user's quota for model-based tests: every upload the test
//! made, where it stands, and the answer the API owes to each action in that state.
//!
//! Actions of two clients that ran at the same time are checked as linearizable: some
//! interleaving of their steps (each client's steps in its own order) must explain every
//! answer, and the models of all explaining interleavings are kept as candidates until a
//! later observation tells them apart.

use std::collections::BTreeMap;
use std::fmt;

/// A test's name for an upload: the order in which the test learned of it.
pub type Slot = usize;

/// Where one upload stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum UploadState {
    /// Reserved, not confirmed; `put` once its bytes are in the object store.
    Open {
        put: bool,
    },
    /// A live score: its bytes count as used.
    Confirmed,
    Cancelled,
    Expired,
    /// Confirmed with bytes that are not a PDF.
    Rejected,
    /// A deleted score.
    Deleted,
}

/// One upload: its declared size, whether its bytes are a PDF, its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Upload {
    pub size: u64,
    pub pdf: bool,
    pub state: UploadState,
}

/// One atomic action of a client (or of the expiry timer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `POST /files/upload-url`; `slot` is the name given to the upload when it was created.
    Reserve {
        size: u64,
        pdf: bool,
        slot: Option<Slot>,
    },
    /// The PUT of the upload's bytes to the object store.
    Put { slot: Slot },
    /// `POST /scores`.
    Confirm { slot: Slot },
    /// `DELETE /files/uploads/{id}`.
    Cancel { slot: Slot },
    /// `DELETE /scores/{id}`.
    Delete { slot: Slot },
    /// The expiry timer run past every deadline.
    ExpireAll,
}

/// The status and error code of an answer (`None` for actions without one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub action: Action,
    pub status: Option<u16>,
    pub code: Option<String>,
}

impl Observed {
    pub fn new(action: Action, status: Option<u16>, code: Option<String>) -> Self {
        Self {
            action,
            status,
            code,
        }
    }
}

impl fmt::Display for Observed {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.action {
            Action::Reserve { size, pdf, slot } => {
                let kind = if pdf { "pdf" } else { "junk" };
                write!(formatter, "reserve {size} ({kind})")?;
                if let Some(slot) = slot {
                    write!(formatter, " as #{slot}")?;
                }
            }
            Action::Put { slot } => write!(formatter, "put #{slot}")?,
            Action::Confirm { slot } => write!(formatter, "confirm #{slot}")?,
            Action::Cancel { slot } => write!(formatter, "cancel #{slot}")?,
            Action::Delete { slot } => write!(formatter, "delete #{slot}")?,
            Action::ExpireAll => write!(formatter, "expire all")?,
        }
        match (self.status, &self.code) {
            (Some(status), Some(code)) => write!(formatter, " → {status} {code}"),
            (Some(status), None) => write!(formatter, " → {status}"),
            (None, _) => Ok(()),
        }
    }
}

/// Answers that end an upload for good, whichever of them the API picks.
const OVER: &[(u16, &str)] = &[(404, "E003"), (409, "E008"), (410, "E013")];

/// The model of one user's quota.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaModel {
    pub limit: u64,
    pub uploads: BTreeMap<Slot, Upload>,
}

impl QuotaModel {
    pub fn new(limit: u64) -> Self {
        Self {
            limit,
            uploads: BTreeMap::new(),
        }
    }

    /// The bytes of live scores.
    pub fn used(&self) -> u64 {
        self.sizes_in(|state| state == UploadState::Confirmed)
    }

    /// The bytes of open reservations.
    pub fn reserved(&self) -> u64 {
        self.sizes_in(|state| matches!(state, UploadState::Open { .. }))
    }

    fn sizes_in(&self, wanted: impl Fn(UploadState) -> bool) -> u64 {
        self.uploads
            .values()
            .filter(|upload| wanted(upload.state))
            .map(|upload| upload.size)
            .sum()
    }

    /// How many uploads are in a state that `wanted` accepts.
    pub fn count(&self, wanted: impl Fn(UploadState) -> bool) -> usize {
        self.uploads
            .values()
            .filter(|upload| wanted(upload.state))
            .count()
    }

    pub fn state(&self, slot: Slot) -> Option<UploadState> {
        self.uploads.get(&slot).map(|upload| upload.state)
    }

    /// The model after `observed`, when its answer is one this model owes; otherwise why not.
    pub fn after(&self, observed: &Observed) -> Result<Self, String> {
        let mut next = self.clone();
        let answer = (observed.status, observed.code.as_deref());
        let expect = |allowed: &[(u16, Option<&str>)]| {
            if allowed
                .iter()
                .any(|(status, code)| answer == (Some(*status), *code))
            {
                Ok(())
            } else {
                Err(format!(
                    "{observed}, but the model expects one of {allowed:?}"
                ))
            }
        };
        let over = || -> Vec<(u16, Option<&str>)> {
            OVER.iter()
                .map(|(status, code)| (*status, Some(*code)))
                .collect()
        };
        match observed.action {
            Action::Reserve { size, pdf, slot } => {
                let available = self.limit.saturating_sub(self.used() + self.reserved());
                if size <= available {
                    expect(&[(201, None)])?;
                    let slot = slot.ok_or_else(|| format!("{observed} without a slot"))?;
                    let state = UploadState::Open { put: false };
                    next.uploads.insert(slot, Upload { size, pdf, state });
                } else {
                    expect(&[(413, Some("E001"))])
                        .map_err(|error| format!("{error} ({available} available)"))?;
                }
            }
            Action::Put { slot } => {
                if let Some(upload) = next.uploads.get_mut(&slot)
                    && let UploadState::Open { .. } = upload.state
                {
                    upload.state = UploadState::Open { put: true };
                }
            }
            Action::Confirm { slot } => {
                let upload = next.upload_mut(slot)?;
                match upload.state {
                    UploadState::Open { put: false } => expect(&[(409, Some("E012"))])?,
                    UploadState::Open { put: true } if upload.pdf => {
                        expect(&[(201, None)])?;
                        upload.state = UploadState::Confirmed;
                    }
                    UploadState::Open { put: true } => {
                        expect(&[(400, Some("E004"))])?;
                        upload.state = UploadState::Rejected;
                    }
                    UploadState::Confirmed => expect(&[(409, Some("E008"))])?,
                    UploadState::Expired => expect(&[(410, Some("E013"))])?,
                    // Two confirmations of the same bytes that are not a PDF may both be
                    // told so: the second saw the upload open and repeats the rejection.
                    UploadState::Rejected => {
                        let mut allowed = over();
                        allowed.push((400, Some("E004")));
                        expect(&allowed)?;
                    }
                    UploadState::Cancelled | UploadState::Deleted => expect(&over())?,
                }
            }
            Action::Cancel { slot } => {
                let upload = next.upload_mut(slot)?;
                match upload.state {
                    UploadState::Open { .. } => {
                        expect(&[(204, None)])?;
                        upload.state = UploadState::Cancelled;
                    }
                    UploadState::Confirmed => expect(&[(409, Some("E008"))])?,
                    // Cancelling an upload that is over already changes nothing; saying so
                    // with 204 (idempotent) or an error are both fair.
                    UploadState::Cancelled | UploadState::Expired | UploadState::Rejected => {
                        let mut allowed = over();
                        allowed.push((204, None));
                        expect(&allowed)?;
                    }
                    UploadState::Deleted => expect(&over())?,
                }
            }
            Action::Delete { slot } => {
                let upload = next.upload_mut(slot)?;
                if upload.state == UploadState::Confirmed {
                    expect(&[(204, None)])?;
                    upload.state = UploadState::Deleted;
                } else {
                    expect(&[(404, Some("E003"))])?;
                }
            }
            Action::ExpireAll => {
                for upload in next.uploads.values_mut() {
                    if let UploadState::Open { .. } = upload.state {
                        upload.state = UploadState::Expired;
                    }
                }
            }
        }
        Ok(next)
    }

    fn upload_mut(&mut self, slot: Slot) -> Result<&mut Upload, String> {
        self.uploads
            .get_mut(&slot)
            .ok_or_else(|| format!("the model has no upload #{slot}"))
    }
}

/// Every way to merge `first` and `second` keeping each one's order.
pub fn interleavings<T: Clone>(first: &[T], second: &[T]) -> Vec<Vec<T>> {
    match (first.split_first(), second.split_first()) {
        (None, _) => vec![second.to_vec()],
        (_, None) => vec![first.to_vec()],
        (Some((head, rest)), Some((other_head, other_rest))) => {
            let mut merged = Vec::new();
            for mut tail in interleavings(rest, second) {
                tail.insert(0, head.clone());
                merged.push(tail);
            }
            for mut tail in interleavings(first, other_rest) {
                tail.insert(0, other_head.clone());
                merged.push(tail);
            }
            merged
        }
    }
}

/// The models that some interleaving of `first` and `second`, run from some candidate,
/// explains; or, when none does, why each interleaving failed.
pub fn explain(
    candidates: &[QuotaModel],
    first: &[Observed],
    second: &[Observed],
) -> Result<Vec<QuotaModel>, Vec<String>> {
    let mut explained: Vec<QuotaModel> = Vec::new();
    let mut refusals = Vec::new();
    for candidate in candidates {
        for order in interleavings(first, second) {
            let outcome = order
                .iter()
                .try_fold(candidate.clone(), |model, observed| model.after(observed));
            match outcome {
                Ok(model) if !explained.contains(&model) => explained.push(model),
                Ok(_) => {}
                Err(reason) => refusals.push(reason),
            }
        }
    }
    if explained.is_empty() {
        refusals.sort();
        refusals.dedup();
        Err(refusals)
    } else {
        Ok(explained)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn observed(action: Action, status: u16, code: Option<&str>) -> Observed {
        Observed::new(action, Some(status), code.map(str::to_owned))
    }

    #[test]
    fn two_sequences_of_two_steps_interleave_in_six_ways() {
        assert_eq!(interleavings(&[1, 2], &[3, 4]).len(), 6);
        assert_eq!(interleavings::<u8>(&[], &[3]), vec![vec![3]]);
    }

    #[test]
    fn a_reservation_that_only_fits_after_a_concurrent_cancel_is_explained_by_that_order() {
        let mut model = QuotaModel::new(1_000);
        let reserve = |size, slot| Action::Reserve {
            size,
            pdf: true,
            slot: Some(slot),
        };
        model = model.after(&observed(reserve(800, 0), 201, None)).unwrap();
        let cancel = [observed(Action::Cancel { slot: 0 }, 204, None)];
        let second = [observed(reserve(500, 1), 201, None)];

        let explained = explain(&[model], &cancel, &second).unwrap();

        assert_eq!(explained.len(), 1);
        assert_eq!((explained[0].used(), explained[0].reserved()), (0, 500));
    }

    #[test]
    fn two_confirmations_of_one_upload_cannot_both_succeed() {
        let mut model = QuotaModel::new(1_000);
        let reserve = Action::Reserve {
            size: 10,
            pdf: true,
            slot: Some(0),
        };
        model = model.after(&observed(reserve, 201, None)).unwrap();
        model = model
            .after(&observed(Action::Put { slot: 0 }, 200, None))
            .unwrap();
        let confirm = [observed(Action::Confirm { slot: 0 }, 201, None)];

        assert!(explain(&[model], &confirm, &confirm).is_err());
    }
}

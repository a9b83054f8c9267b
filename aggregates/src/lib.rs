//! ScoreMate's domain: commands, events, state and domain errors of the five aggregates
//! (`Account`, `Session`, `Quota`, `Score`, `Setlist`), plus the value types they share.
//!
//! The crate is pure: no clock, no randomness, no I/O. Whatever is external (the current
//! time, fresh ids, password hashes, object metadata) is resolved by the caller and passed
//! in the command. Every aggregate exposes `decide(&self, command)`, a pure function from
//! state and command to events; its cqrs-es `handle` only writes those events to the sink.

pub mod account;
pub mod bytes;
pub mod email;
pub mod ids;
pub mod quota;
pub mod score;
pub mod serde_ext;
pub mod session;
pub mod setlist;
pub mod upcast;
pub mod validation;

mod sink;

#[cfg(test)]
mod golden;

pub use account::{Account, AccountCommand, AccountError, AccountEvent, Role, UnknownRole};
pub use bytes::Bytes;
pub use email::{Email, EmailError};
pub use ids::{BookmarkId, ScoreId, SessionId, SetlistId, SetlistItemId, UploadId, UserId};
pub use quota::{
    ConfirmedScore, Quota, QuotaCommand, QuotaError, QuotaEvent, ReleaseReason, Reservation,
    ReservationStatus,
};
pub use score::{
    Bookmark, BookmarkPatch, ImportedBookmark, MAX_BOOKMARKS, MAX_PAGE, PdfInfo, PdfXmp,
    ProcessingStage, ProcessingStatus, Score, ScoreCommand, ScoreError, ScoreEvent, ScoreMetadata,
    ScoreMetadataPatch, ScoreStatus, Suggested, Suggestions, Thumbnail, UploadFile,
};
pub use session::{RevocationReason, Session, SessionCommand, SessionError, SessionEvent};
pub use setlist::{
    ItemPart, ItemRemovalReason, Setlist, SetlistCommand, SetlistError, SetlistEvent, SetlistItem,
};
pub use validation::FieldErrors;

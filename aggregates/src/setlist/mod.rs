//! A setlist: an ordered list of the owner's scores for a concert.
//!
//! Invariants:
//! - Only the owner sees the setlist: for anyone else every user command answers
//!   `NotFound`, exactly as for an id that does not exist; a deleted setlist is gone.
//! - The name is 1..=200 characters, the description at most 2000, the notes at most
//!   10,000 and an item's note at most 500, all trimmed (blank text is absent).
//! - Items are ordered by their 0-based position; item ids are unique within the list,
//!   while the same score may appear in several items (encores).
//! - An item plays a whole score, one of its bookmarks, or a page sequence of it (1 to
//!   500 pages, each 1..=100,000, repeats allowed); a bookmark with a page sequence plays
//!   that piece in that order (its repeats written out).
//!   Whether the bookmark exists and the pages lie within the file is the caller's check:
//!   the setlist does not hold the score.
//! - A reorder is a permutation of exactly the current items.
//! - A deleted score, or a removed bookmark, leaves every setlist, item by item, each
//!   removal recorded.
//!
//! Idempotent commands (no events): `RemoveScoreFromSetlist` for a score the setlist does
//! not hold or on a deleted setlist; `UpdateSetlistDetails` that changes nothing;
//! `ReorderSetlistItems` into the current order; `AddSetlistItem` repeating an item that
//! is already there with the same score and note.

#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::fmt;

use chrono::NaiveDate;
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use crate::ids::{BookmarkId, ScoreId, SetlistId, SetlistItemId, UserId};
use crate::score::MAX_PAGE;
use crate::serde_ext::double_option;
use crate::validation::{FieldErrors, check_optional, check_required, trimmed, trimmed_optional};

pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_DESCRIPTION_CHARS: usize = 2_000;
pub const MAX_NOTE_CHARS: usize = 500;
pub const MAX_NOTES_CHARS: usize = 10_000;
/// The longest page sequence one item may play.
pub const MAX_SEQUENCE_PAGES: usize = 500;

/// The rules for a setlist's name, description and notes, each checked when present: for
/// callers that report every bad field of a request at once.
#[must_use]
pub fn details_errors(
    name: Option<&str>,
    description: Option<&str>,
    notes: Option<&str>,
) -> FieldErrors {
    let mut errors = FieldErrors::new();
    // The documented limits hold for the text as sent, before trimming, too.
    let too_long = |errors: &mut FieldErrors, field: &str, text: &str, max: usize| {
        let long = text.chars().count() > max;
        if long {
            errors.add(field, format!("At most {max} characters."));
        }
        long
    };
    let name = name.filter(|name| !too_long(&mut errors, "name", name, MAX_NAME_CHARS));
    let description = description
        .filter(|text| !too_long(&mut errors, "description", text, MAX_DESCRIPTION_CHARS));
    if let Some(notes) = notes {
        too_long(&mut errors, "notes", notes, MAX_NOTES_CHARS);
    }
    if let Some(name) = name {
        check_required(
            &mut errors,
            "name",
            &trimmed(name.to_owned()),
            MAX_NAME_CHARS,
        );
    }
    if let Some(description) = description {
        let description = trimmed_optional(Some(description.to_owned()));
        check_optional(
            &mut errors,
            "description",
            description.as_deref(),
            MAX_DESCRIPTION_CHARS,
        );
    }
    errors
}

/// Why an item left a setlist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemRemovalReason {
    /// The owner took it out.
    UserRemoved,
    /// Its score was deleted.
    ScoreDeleted,
    /// The bookmark it played was removed from its score.
    BookmarkRemoved,
}

impl ItemRemovalReason {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::UserRemoved => "user_removed",
            Self::ScoreDeleted => "score_deleted",
            Self::BookmarkRemoved => "bookmark_removed",
        }
    }
}

impl fmt::Display for ItemRemovalReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of a setlist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetlistItem {
    pub item_id: SetlistItemId,
    pub score_id: ScoreId,
    /// Plays this bookmark of the score rather than all of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bookmark_id: Option<BookmarkId>,
    /// Plays these pages of the score, in this order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pages: Option<Vec<u32>>,
    pub note: Option<String>,
}

/// What part of its score an item plays.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItemPart {
    pub bookmark_id: Option<BookmarkId>,
    pub pages: Option<Vec<u32>>,
}

impl ItemPart {
    /// The rules a part must keep whatever the score: a sequence of 1 to
    /// [`MAX_SEQUENCE_PAGES`] pages, each 1 to [`MAX_PAGE`].
    #[must_use]
    pub fn errors(&self) -> FieldErrors {
        let mut errors = FieldErrors::new();
        if let Some(pages) = &self.pages {
            if pages.is_empty() || pages.len() > MAX_SEQUENCE_PAGES {
                errors.add(
                    "pages",
                    format!("Must list 1 to {MAX_SEQUENCE_PAGES} pages."),
                );
            } else if pages.iter().any(|page| !(1..=MAX_PAGE).contains(page)) {
                errors.add("pages", format!("Pages are 1 to {MAX_PAGE}."));
            }
        }
        errors
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SetlistCommand {
    /// Creates an empty setlist for `owner`.
    CreateSetlist {
        setlist_id: SetlistId,
        owner: UserId,
        name: String,
        description: Option<String>,
        event_date: Option<NaiveDate>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        notes: Option<String>,
    },
    /// Edits the details present; for `description`, `event_date` and `notes`, `Some(None)`
    /// clears.
    UpdateSetlistDetails {
        user_id: UserId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "double_option"
        )]
        description: Option<Option<String>>,
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "double_option"
        )]
        event_date: Option<Option<NaiveDate>>,
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "double_option"
        )]
        notes: Option<Option<String>>,
    },
    /// Puts a score, one of its bookmarks or a page sequence of it in the list at
    /// `position` (0-based, shifting the rest), or at the end. The caller has checked
    /// that the score is the user's and live, that the bookmark is on it and that the
    /// pages are within it.
    AddSetlistItem {
        user_id: UserId,
        item_id: SetlistItemId,
        score_id: ScoreId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bookmark_id: Option<BookmarkId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pages: Option<Vec<u32>>,
        position: Option<usize>,
        note: Option<String>,
    },
    /// The owner takes one item out.
    RemoveSetlistItem {
        user_id: UserId,
        item_id: SetlistItemId,
    },
    /// Takes every item of a deleted score out (issued by the system on `ScoreDeleted`).
    RemoveScoreFromSetlist { score_id: ScoreId },
    /// Takes every item playing a removed bookmark out (issued by the system on
    /// `BookmarkRemoved`).
    RemoveBookmarkFromSetlist {
        score_id: ScoreId,
        bookmark_id: BookmarkId,
    },
    /// Puts the items in the given order, which must list every current item once.
    ReorderSetlistItems {
        user_id: UserId,
        item_ids: Vec<SetlistItemId>,
    },
    /// The owner deletes the setlist.
    DeleteSetlist { user_id: UserId },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SetlistEvent {
    /// A setlist was created, empty.
    SetlistCreated {
        setlist_id: SetlistId,
        owner: UserId,
        name: String,
        description: Option<String>,
        event_date: Option<NaiveDate>,
        /// Since 1.1.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        notes: Option<String>,
    },
    /// The details present changed (a `null` description, event date or notes cleared).
    SetlistDetailsUpdated {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "double_option"
        )]
        description: Option<Option<String>>,
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "double_option"
        )]
        event_date: Option<Option<NaiveDate>>,
        /// Since 1.1.
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "double_option"
        )]
        notes: Option<Option<String>>,
    },
    /// A score (or its bookmark, or a page sequence of it: since 1.1) entered the list at
    /// 0-based `position`; later items moved down by one.
    SetlistItemAdded {
        item_id: SetlistItemId,
        score_id: ScoreId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bookmark_id: Option<BookmarkId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pages: Option<Vec<u32>>,
        position: usize,
        note: Option<String>,
    },
    /// An item left the list; later items moved up by one.
    SetlistItemRemoved {
        item_id: SetlistItemId,
        reason: ItemRemovalReason,
    },
    /// The items are now in the order of `item_ids`.
    SetlistItemsReordered { item_ids: Vec<SetlistItemId> },
    /// The owner deleted the setlist.
    SetlistDeleted {},
}

impl DomainEvent for SetlistEvent {
    fn event_type(&self) -> String {
        match self {
            Self::SetlistCreated { .. } => "SetlistCreated",
            Self::SetlistDetailsUpdated { .. } => "SetlistDetailsUpdated",
            Self::SetlistItemAdded { .. } => "SetlistItemAdded",
            Self::SetlistItemRemoved { .. } => "SetlistItemRemoved",
            Self::SetlistItemsReordered { .. } => "SetlistItemsReordered",
            Self::SetlistDeleted { .. } => "SetlistDeleted",
        }
        .to_owned()
    }

    /// 1.1 added the setlist's `notes`, items of a bookmark or a page sequence and the
    /// removal reason `bookmark_removed`; every 1.0 payload reads as the same 1.1 event.
    fn event_version(&self) -> String {
        match self {
            Self::SetlistItemsReordered { .. } | Self::SetlistDeleted { .. } => "1.0",
            Self::SetlistCreated { .. }
            | Self::SetlistDetailsUpdated { .. }
            | Self::SetlistItemAdded { .. }
            | Self::SetlistItemRemoved { .. } => "1.1",
        }
        .to_owned()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetlistError {
    /// The setlist id was already used.
    #[error("the setlist already exists")]
    AlreadyCreated,
    /// No such setlist for this user: never created, someone else's, or deleted.
    #[error("no such setlist")]
    NotFound,
    /// Name, description, notes, note or pages break the rules; all bad fields are listed.
    #[error("invalid setlist details: {0}")]
    InvalidDetails(FieldErrors),
    /// Items can be inserted at positions 0..=len only.
    #[error("position {position} is outside the list of {len} items")]
    InvalidPosition { position: usize, len: usize },
    /// A reorder must list every current item exactly once.
    #[error("the new order is not a permutation of the current items")]
    NotAPermutation,
    /// The item id is already in the list with another score or note.
    #[error("item {item_id} is already in the setlist")]
    DuplicateItemId { item_id: SetlistItemId },
    /// The list has no such item.
    #[error("item {item_id} is not in the setlist")]
    ItemNotFound { item_id: SetlistItemId },
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Setlist {
    setlist_id: Option<SetlistId>,
    owner: Option<UserId>,
    name: String,
    description: Option<String>,
    event_date: Option<NaiveDate>,
    #[serde(default)]
    notes: Option<String>,
    items: Vec<SetlistItem>,
    deleted: bool,
}

impl Setlist {
    #[must_use]
    pub const fn is_created(&self) -> bool {
        self.setlist_id.is_some()
    }

    #[must_use]
    pub const fn is_deleted(&self) -> bool {
        self.deleted
    }

    #[must_use]
    pub const fn setlist_id(&self) -> Option<SetlistId> {
        self.setlist_id
    }

    #[must_use]
    pub const fn owner(&self) -> Option<UserId> {
        self.owner
    }

    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    #[must_use]
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    #[must_use]
    pub const fn event_date(&self) -> Option<NaiveDate> {
        self.event_date
    }

    #[must_use]
    pub fn notes(&self) -> Option<&str> {
        self.notes.as_deref()
    }

    /// The items in order; an item's index is its position.
    #[must_use]
    pub fn items(&self) -> &[SetlistItem] {
        &self.items
    }

    #[must_use]
    pub fn item(&self, item_id: SetlistItemId) -> Option<&SetlistItem> {
        self.items.iter().find(|item| item.item_id == item_id)
    }

    /// Decides what a command changes, without changing anything.
    ///
    /// # Errors
    /// The [`SetlistError`] naming the rule the command breaks.
    pub fn decide(&self, command: SetlistCommand) -> Result<Vec<SetlistEvent>, SetlistError> {
        match command {
            SetlistCommand::CreateSetlist {
                setlist_id,
                owner,
                name,
                description,
                event_date,
                notes,
            } => {
                if self.is_created() {
                    return Err(SetlistError::AlreadyCreated);
                }
                let name = trimmed(name);
                let description = trimmed_optional(description);
                let notes = trimmed_optional(notes);
                let mut errors = FieldErrors::new();
                check_required(&mut errors, "name", &name, MAX_NAME_CHARS);
                check_optional(
                    &mut errors,
                    "description",
                    description.as_deref(),
                    MAX_DESCRIPTION_CHARS,
                );
                check_optional(&mut errors, "notes", notes.as_deref(), MAX_NOTES_CHARS);
                errors.into_result().map_err(SetlistError::InvalidDetails)?;
                Ok(vec![SetlistEvent::SetlistCreated {
                    setlist_id,
                    owner,
                    name,
                    description,
                    event_date,
                    notes,
                }])
            }
            SetlistCommand::UpdateSetlistDetails {
                user_id,
                name,
                description,
                event_date,
                notes,
            } => {
                self.require_live_for(user_id)?;
                self.update_details(name, description, event_date, notes)
            }
            SetlistCommand::AddSetlistItem {
                user_id,
                item_id,
                score_id,
                bookmark_id,
                pages,
                position,
                note,
            } => {
                self.require_live_for(user_id)?;
                let item = SetlistItem {
                    item_id,
                    score_id,
                    bookmark_id,
                    pages,
                    note: trimmed_optional(note),
                };
                self.add_item(item, position)
            }
            SetlistCommand::RemoveSetlistItem { user_id, item_id } => {
                self.require_live_for(user_id)?;
                if self.item(item_id).is_none() {
                    return Err(SetlistError::ItemNotFound { item_id });
                }
                Ok(vec![SetlistEvent::SetlistItemRemoved {
                    item_id,
                    reason: ItemRemovalReason::UserRemoved,
                }])
            }
            SetlistCommand::RemoveScoreFromSetlist { score_id } => self
                .remove_items(ItemRemovalReason::ScoreDeleted, |item| {
                    item.score_id == score_id
                }),
            SetlistCommand::RemoveBookmarkFromSetlist {
                score_id,
                bookmark_id,
            } => self.remove_items(ItemRemovalReason::BookmarkRemoved, |item| {
                item.score_id == score_id && item.bookmark_id == Some(bookmark_id)
            }),
            SetlistCommand::ReorderSetlistItems { user_id, item_ids } => {
                self.require_live_for(user_id)?;
                let current: Vec<SetlistItemId> =
                    self.items.iter().map(|item| item.item_id).collect();
                if item_ids == current {
                    return Ok(vec![]);
                }
                let wanted: BTreeSet<SetlistItemId> = item_ids.iter().copied().collect();
                let present: BTreeSet<SetlistItemId> = current.into_iter().collect();
                if wanted.len() != item_ids.len() || wanted != present {
                    return Err(SetlistError::NotAPermutation);
                }
                Ok(vec![SetlistEvent::SetlistItemsReordered { item_ids }])
            }
            SetlistCommand::DeleteSetlist { user_id } => {
                self.require_live_for(user_id)?;
                Ok(vec![SetlistEvent::SetlistDeleted {}])
            }
        }
    }

    /// The system takes out every item `gone` picks, for `reason`: nothing on a deleted
    /// setlist.
    fn remove_items(
        &self,
        reason: ItemRemovalReason,
        gone: impl Fn(&SetlistItem) -> bool,
    ) -> Result<Vec<SetlistEvent>, SetlistError> {
        if !self.is_created() {
            return Err(SetlistError::NotFound);
        }
        if self.deleted {
            return Ok(vec![]);
        }
        Ok(self
            .items
            .iter()
            .filter(|item| gone(item))
            .map(|item| SetlistEvent::SetlistItemRemoved {
                item_id: item.item_id,
                reason,
            })
            .collect())
    }

    /// Other users' and deleted setlists do not exist for `user_id`.
    fn require_live_for(&self, user_id: UserId) -> Result<(), SetlistError> {
        if self.owner == Some(user_id) && !self.deleted {
            Ok(())
        } else {
            Err(SetlistError::NotFound)
        }
    }

    fn update_details(
        &self,
        name: Option<String>,
        description: Option<Option<String>>,
        event_date: Option<Option<NaiveDate>>,
        notes: Option<Option<String>>,
    ) -> Result<Vec<SetlistEvent>, SetlistError> {
        let name = name.map(trimmed);
        let description = description.map(trimmed_optional);
        let notes = notes.map(trimmed_optional);
        let mut errors = FieldErrors::new();
        if let Some(name) = &name {
            check_required(&mut errors, "name", name, MAX_NAME_CHARS);
        }
        if let Some(description) = &description {
            check_optional(
                &mut errors,
                "description",
                description.as_deref(),
                MAX_DESCRIPTION_CHARS,
            );
        }
        if let Some(notes) = &notes {
            check_optional(&mut errors, "notes", notes.as_deref(), MAX_NOTES_CHARS);
        }
        errors.into_result().map_err(SetlistError::InvalidDetails)?;
        let name = name.filter(|name| *name != self.name);
        let description = description.filter(|description| *description != self.description);
        let event_date = event_date.filter(|event_date| *event_date != self.event_date);
        let notes = notes.filter(|notes| *notes != self.notes);
        if name.is_none() && description.is_none() && event_date.is_none() && notes.is_none() {
            return Ok(vec![]);
        }
        Ok(vec![SetlistEvent::SetlistDetailsUpdated {
            name,
            description,
            event_date,
            notes,
        }])
    }

    /// `item` with its note trimmed.
    fn add_item(
        &self,
        item: SetlistItem,
        position: Option<usize>,
    ) -> Result<Vec<SetlistEvent>, SetlistError> {
        if let Some(existing) = self.item(item.item_id) {
            if *existing == item {
                return Ok(vec![]);
            }
            return Err(SetlistError::DuplicateItemId {
                item_id: item.item_id,
            });
        }
        let len = self.items.len();
        let position = position.unwrap_or(len);
        if position > len {
            return Err(SetlistError::InvalidPosition { position, len });
        }
        let mut errors = ItemPart {
            bookmark_id: item.bookmark_id,
            pages: item.pages.clone(),
        }
        .errors();
        check_optional(&mut errors, "note", item.note.as_deref(), MAX_NOTE_CHARS);
        errors.into_result().map_err(SetlistError::InvalidDetails)?;
        let SetlistItem {
            item_id,
            score_id,
            bookmark_id,
            pages,
            note,
        } = item;
        Ok(vec![SetlistEvent::SetlistItemAdded {
            item_id,
            score_id,
            bookmark_id,
            pages,
            position,
            note,
        }])
    }
}

crate::sink::decided_aggregate!(
    Setlist,
    "Setlist",
    SetlistCommand,
    SetlistEvent,
    SetlistError
);

impl Setlist {
    /// The state after `event` (what cqrs-es calls `apply`).
    fn evolve(&mut self, event: SetlistEvent) {
        match event {
            SetlistEvent::SetlistCreated {
                setlist_id,
                owner,
                name,
                description,
                event_date,
                notes,
            } => {
                self.setlist_id = Some(setlist_id);
                self.owner = Some(owner);
                self.name = name;
                self.description = description;
                self.event_date = event_date;
                self.notes = notes;
            }
            SetlistEvent::SetlistDetailsUpdated {
                name,
                description,
                event_date,
                notes,
            } => {
                if let Some(notes) = notes {
                    self.notes = notes;
                }
                if let Some(name) = name {
                    self.name = name;
                }
                if let Some(description) = description {
                    self.description = description;
                }
                if let Some(event_date) = event_date {
                    self.event_date = event_date;
                }
            }
            SetlistEvent::SetlistItemAdded {
                item_id,
                score_id,
                bookmark_id,
                pages,
                position,
                note,
            } => {
                // Clamped so that any stored stream loads without panicking.
                let position = position.min(self.items.len());
                self.items.insert(
                    position,
                    SetlistItem {
                        item_id,
                        score_id,
                        bookmark_id,
                        pages,
                        note,
                    },
                );
            }
            SetlistEvent::SetlistItemRemoved { item_id, .. } => {
                self.items.retain(|item| item.item_id != item_id);
            }
            SetlistEvent::SetlistItemsReordered { item_ids } => {
                let mut remaining = std::mem::take(&mut self.items);
                for item_id in item_ids {
                    if let Some(index) = remaining.iter().position(|item| item.item_id == item_id) {
                        self.items.push(remaining.remove(index));
                    }
                }
                self.items.append(&mut remaining);
            }
            SetlistEvent::SetlistDeleted {} => self.deleted = true,
        }
    }
}

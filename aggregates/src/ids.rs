//! Identifiers: newtypes over `Uuid` so that a user id can never be passed where an upload
//! id is expected. The caller mints them (v4 or v7); this crate never generates one.
//! They serialize as the bare UUID string.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            #[must_use]
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            #[must_use]
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }

            #[must_use]
            pub const fn into_uuid(self) -> Uuid {
                self.0
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

uuid_id!(
    /// A registered user; also the id of the user's `Account` and `Quota` aggregates.
    UserId
);
uuid_id!(
    /// One login; the id of a `Session` aggregate.
    SessionId
);
uuid_id!(
    /// One upload attempt; the id of its `Score` aggregate and the key of its quota
    /// reservation.
    UploadId
);
uuid_id!(
    /// A setlist; the id of a `Setlist` aggregate.
    SetlistId
);
uuid_id!(
    /// One entry of a setlist (the same score may appear in several entries).
    SetlistItemId
);
uuid_id!(
    /// A bookmark: a piece within a score, as a range of its pages.
    BookmarkId
);

/// A score is identified by the upload that brought its file in, so the two ids are one
/// type: the processors that confirm quota and the API that serves `/scores/{id}` never
/// need a lookup table between them.
pub type ScoreId = UploadId;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn ids_serialize_as_the_bare_uuid_string() {
        let id = UserId(Uuid::from_u128(0x1234));
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"00000000-0000-0000-0000-000000001234\"");
        assert_eq!(serde_json::from_str::<UserId>(&json).unwrap(), id);
    }

    #[test]
    fn ids_display_and_parse_as_hyphenated_uuids() {
        let id = SetlistId(Uuid::from_u128(7));
        assert_eq!(id.to_string().parse::<SetlistId>().unwrap(), id);
        assert!("not-a-uuid".parse::<SetlistId>().is_err());
    }
}

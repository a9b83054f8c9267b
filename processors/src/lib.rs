//! Reactions to events: PDF info, thumbnails, the quota saga, object cleanup and
//! reservation expiry.
//!
//! Empty until the processors issues (#4, #6) land; `scoremate worker` says so.

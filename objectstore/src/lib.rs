//! The object store: where ScoreMate keeps PDFs and thumbnails, over any S3-compatible
//! service, with no HTTP API or event knowledge of its own.
//!
//! - `store`: [`ObjectStore`], the `aws-sdk-s3` client of one bucket (presigned PUT and
//!   GET, head, ranged reads, put, server-side copy, delete, listing), every call timed
//!   into `scoremate_object_store_duration_seconds`; [`ObjectStoreError`] sorts failures
//!   into missing, try-again-later and refused.
//! - `keys`: the object keys, built from ids only ([`score_object_key`],
//!   [`thumbnail_object_key`], [`upload_staging_key`] under [`UPLOAD_STAGING_PREFIX`]).
//! - `disposition`: user-supplied file names made safe for a download's
//!   `Content-Disposition` ([`content_disposition_attachment`]).
//! - `embedded` (feature `embedded-server`): `EmbeddedS3`, an in-process S3 endpoint
//!   (`s3s-fs`) over a local folder for installs without an S3 service, its key pair
//!   (`load_or_generate_credentials`), and `AcceptLoop`, the seam through which the
//!   binary serves it under its own connection limits; `cors`: [`CorsOrigins`], the
//!   pages allowed to use its presigned URLs from a browser.
//!
//! Used by `processors` (PDF jobs, object cleanup, upload sweep; client only) and by `api`
//! (upload and download routes, readiness, startup wiring; with the embedded endpoint).

#[cfg(feature = "embedded-server")]
mod cors;
mod disposition;
#[cfg(feature = "embedded-server")]
mod embedded;
mod keys;
mod store;

#[cfg(feature = "embedded-server")]
pub use cors::CorsOrigins;
pub use disposition::{content_disposition_attachment, is_disguising_char};
#[cfg(feature = "embedded-server")]
pub use embedded::{
    AcceptLoop, EmbeddedS3, EmbeddedS3Error, S3Handler, load_or_generate_credentials,
};
pub use keys::{
    UPLOAD_STAGING_PREFIX, page_preview_key, page_previews_prefix, parse_upload_staging_key,
    score_object_key, thumbnail_object_key, upload_staging_key,
};
pub use store::{
    HashedObject, KeyPage, ObjectHead, ObjectStore, ObjectStoreConfig, ObjectStoreError,
    PresignedRequest,
};

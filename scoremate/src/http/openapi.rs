//! The OpenAPI vocabulary the routes share, declared once: the problem+json answer of each
//! error family that reads the same on every route, and the headers of conditional and
//! idempotent commands (`etag::IfMatch`, `idempotency::IdempotencyKey`, declared where they
//! are extracted). A route lists them by name, mostly as families, beside the answers that
//! are its own: `responses((status = 200, …), (status = 404, …), Authenticated, JsonBody)`,
//! `params(IfMatch)`.

use std::collections::BTreeMap;

use utoipa::IntoResponses;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};

/// The media type of every error answer.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error answer: `description`, with a `Problem` body.
pub fn problem_response(description: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            PROBLEM_JSON,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
        .into()
}

/// One unit type per shared error answer, each documenting one status.
macro_rules! problem_answers {
    ($($(#[$doc:meta])* $name:ident = $status:literal, $description:literal;)*) => {$(
        $(#[$doc])*
        pub struct $name;

        impl IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<Response>> {
                BTreeMap::from([($status.to_owned(), problem_response($description))])
            }
        }
    )*};
}

problem_answers! {
    /// Any route behind a bearer token.
    Unauthorized = "401", "Invalid token (E002)";
    /// Every route of `/api/v1`.
    Throttled = "429", "Throttled (E010)";
    /// Routes reading a JSON body.
    NotJson = "415", "Not JSON (E007)";
    /// Routes reading a CSV body.
    NotCsv = "415", "Not CSV: the body must be text/csv (E007)";
    /// Routes reading a body.
    BodyTooLarge = "413", "Body too large (E007)";
    /// Routes taking `If-Match`.
    VersionMismatch = "412", "If-Match does not match the current version (E011)";
    /// Commands that retry a bounded number of times on a concurrent change.
    ConcurrentChange = "409", "A concurrent change won (E008)";
    /// Routes reaching the object store.
    ObjectStoreFailed = "502", "Object store failed (E005)";
    /// Routes taking `Idempotency-Key`.
    IdempotencyKeyReused = "422", "Idempotency-Key reused with another body (E007)";
    /// Numbered pages past the last.
    PagePastEnd = "404", "Page past the end (E003)";
    /// Commands whose only 400 is a malformed `If-Match`.
    MalformedIfMatch = "400", "Malformed If-Match (E007)";
}

/// Several shared answers under one name, for the families routes list together.
macro_rules! problem_families {
    ($($(#[$doc:meta])* $name:ident = $($member:ident)+;)*) => {$(
        $(#[$doc])*
        pub struct $name;

        impl IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<Response>> {
                let mut answers = BTreeMap::new();
                $(answers.extend(<$member as IntoResponses>::responses());)+
                answers
            }
        }
    )*};
}

problem_families! {
    /// Every route behind a bearer token: 401 and 429.
    Authenticated = Unauthorized Throttled;
    /// Every route reading a JSON body: 413 and 415.
    JsonBody = BodyTooLarge NotJson;
    /// Every route reading a CSV body: 413 and 415.
    CsvBody = BodyTooLarge NotCsv;
    /// Every conditional command retried on a concurrent change: 409 and 412.
    Conditional = ConcurrentChange VersionMismatch;
}

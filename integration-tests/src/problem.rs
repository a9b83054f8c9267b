//! Checking error answers: RFC 9457 problem+json carrying the fields existing clients read.

use std::collections::BTreeSet;

use reqwest::header::HeaderMap;
use serde_json::Value;

/// The `error` name and HTTP status of each documented code (DESIGN.md §5). Some answers
/// use a code with another status (415, 413 and 405 carry E007), so the status is checked
/// against what the caller expects, the name against this table.
pub const ERROR_CODES: &[(&str, &str, u16)] = &[
    ("E001", "QUOTA_EXCEEDED", 413),
    ("E002", "INVALID_TOKEN", 401),
    ("E003", "NOT_FOUND", 404),
    ("E004", "INVALID_FILE_TYPE", 400),
    ("E005", "STORAGE_ERROR", 502),
    ("E006", "FORBIDDEN", 403),
    ("E007", "VALIDATION_ERROR", 400),
    ("E008", "CONFLICT", 409),
    ("E009", "INVALID_CREDENTIALS", 401),
    ("E010", "RATE_LIMITED", 429),
    ("E011", "PRECONDITION_FAILED", 412),
    ("E012", "UPLOAD_INCOMPLETE", 409),
    ("E013", "UPLOAD_EXPIRED", 410),
    ("E014", "FILE_TOO_LARGE", 413),
    ("E015", "DUPLICATE_UPLOAD", 409),
];

/// The `error` name documented for `code`.
pub fn error_name(code: &str) -> &'static str {
    ERROR_CODES
        .iter()
        .find(|(known, _, _)| *known == code)
        .map(|(_, name, _)| *name)
        .unwrap_or_else(|| panic!("{code} is not a documented error code"))
}

/// An error answer that passed the shape checks of [`expect_problem`].
#[derive(Debug)]
pub struct Problem {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Problem {
    pub fn request_id(&self) -> &str {
        self.body["request_id"].as_str().unwrap_or_default()
    }

    /// The names of the bad fields (empty when there is no `fields`).
    pub fn field_names(&self) -> BTreeSet<String> {
        self.body
            .get("fields")
            .and_then(Value::as_object)
            .map(|fields| fields.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Whether the body carries no `fields` (absent or `null`).
    pub fn has_no_fields(&self) -> bool {
        self.body.get("fields").is_none_or(Value::is_null)
    }

    /// The messages for one bad field; panics when the field is not named.
    pub fn field_messages(&self, field: &str) -> Vec<String> {
        let messages = self
            .body
            .get("fields")
            .and_then(|fields| fields.get(field))
            .unwrap_or_else(|| panic!("`fields.{field}` missing in {}", self.body));
        messages
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|message| message.as_str().map(str::to_owned))
            .collect()
    }

    /// The body without `request_id`, for comparing two answers that must not differ.
    pub fn body_without_request_id(&self) -> Value {
        let mut body = self.body.clone();
        if let Some(object) = body.as_object_mut() {
            object.remove("request_id");
        }
        body
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }
}

/// Reads `response` as a problem and checks everything every error answer must have:
/// the status, `Content-Type: application/problem+json`, `type`, `title`, `status` (the
/// same number), `detail`, `error` (the documented name of `code`), `message`, `code`,
/// a non-empty `request_id`, and `fields` only on validation errors, as an object
/// mapping field names to non-empty lists of strings.
pub async fn expect_problem(response: reqwest::Response, status: u16, code: &str) -> Problem {
    let actual_status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response
        .text()
        .await
        .unwrap_or_else(|error| panic!("reading the error body: {error}"));
    assert_eq!(
        actual_status, status,
        "expected a {status} {code} problem, got {actual_status}: {text}"
    );
    let content_type = headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    assert!(
        content_type.starts_with("application/problem+json"),
        "Content-Type of an error must be application/problem+json, got {content_type:?}: {text}"
    );
    let body: Value = serde_json::from_str(&text)
        .unwrap_or_else(|error| panic!("error body is not JSON ({error}): {text}"));
    assert_eq!(body["code"], code, "code in {body}");
    assert_eq!(body["error"], error_name(code), "error in {body}");
    assert_eq!(
        body["status"].as_u64(),
        Some(u64::from(status)),
        "status in {body}"
    );
    for member in ["type", "title", "detail", "message"] {
        assert!(
            body[member].is_string(),
            "`{member}` must be a string in {body}"
        );
    }
    assert!(
        body["request_id"].as_str().is_some_and(|id| !id.is_empty()),
        "`request_id` must be a non-empty string in {body}"
    );
    match body.get("fields") {
        None | Some(Value::Null) => {}
        Some(fields) => {
            assert_eq!(
                code, "E007",
                "only validation errors carry `fields`: {body}"
            );
            let fields = fields
                .as_object()
                .unwrap_or_else(|| panic!("`fields` must be an object in {body}"));
            for (field, messages) in fields {
                let messages = messages
                    .as_array()
                    .unwrap_or_else(|| panic!("`fields.{field}` must be an array in {body}"));
                assert!(
                    !messages.is_empty() && messages.iter().all(Value::is_string),
                    "`fields.{field}` must be a non-empty array of strings in {body}"
                );
            }
        }
    }
    Problem {
        status: actual_status,
        headers,
        body,
    }
}

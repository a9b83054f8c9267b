//! Request bodies: JSON only, size-capped, and read field by field so that a validation
//! error names every bad field at once.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use warp::Filter;
use warp::http::StatusCode;
use warp::reject::Rejection;

use crate::http::error::{ApiError, ErrorCode, FieldMessages};

/// Largest JSON body any API route accepts.
pub const MAX_JSON_BODY_BYTES: u64 = 64 * 1024;

/// A `Content-Type`'s media type, without parameters, lower-cased.
fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

fn is_json(content_type: &str) -> bool {
    let essence = essence(content_type);
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// The largest CSV body read (a songbook index of the most bookmarks a score holds, with
/// room to spare).
pub const MAX_CSV_BODY_BYTES: u64 = 1024 * 1024;

/// A CSV body, as bytes: 415 for another media type (`text/csv`, `application/csv` or
/// `text/plain` are taken), 413 over the cap. Its text is the reader's to check.
pub fn csv_body() -> impl Filter<Extract = (bytes::Bytes,), Error = Rejection> + Clone {
    warp::header::optional::<String>("content-type")
        .and(warp::body::content_length_limit(MAX_CSV_BODY_BYTES))
        .and(warp::body::bytes())
        .and_then(
            |content_type: Option<String>, body: bytes::Bytes| async move {
                let essence = essence(content_type.as_deref().unwrap_or_default());
                if matches!(
                    essence.as_str(),
                    "text/csv" | "application/csv" | "text/plain"
                ) {
                    Ok(body)
                } else {
                    Err(warp::reject::custom(
                        ApiError::new(ErrorCode::ValidationError, "The body must be text/csv.")
                            .with_status(StatusCode::UNSUPPORTED_MEDIA_TYPE),
                    ))
                }
            },
        )
}

/// A JSON object body: 415 for another media type, 413 over the cap, E007 when malformed.
pub fn json_body() -> impl Filter<Extract = (Map<String, Value>,), Error = Rejection> + Clone {
    warp::header::optional::<String>("content-type")
        .and(warp::body::content_length_limit(MAX_JSON_BODY_BYTES))
        .and(warp::body::bytes())
        .and_then(
            |content_type: Option<String>, body: bytes::Bytes| async move {
                if !content_type.as_deref().is_some_and(is_json) {
                    return Err(warp::reject::custom(
                        ApiError::new(
                            ErrorCode::ValidationError,
                            "The body must be application/json.",
                        )
                        .with_status(StatusCode::UNSUPPORTED_MEDIA_TYPE),
                    ));
                }
                match serde_json::from_slice::<Value>(&body) {
                    Ok(Value::Object(object)) => Ok(object),
                    Ok(_) => Err(warp::reject::custom(ApiError::new(
                        ErrorCode::ValidationError,
                        "The body must be a JSON object.",
                    ))),
                    Err(error) => Err(warp::reject::custom(ApiError::new(
                        ErrorCode::ValidationError,
                        format!("Malformed JSON: {error}."),
                    ))),
                }
            },
        )
}

/// No text the service keeps may hold a NUL character: PostgreSQL's `text` refuses it,
/// and no title, name or note needs it. Checked on the fields a route reads (others are
/// ignored), so the answer names them and both backends answer alike.
const NUL_MESSAGE: &str = "Must not contain NUL characters.";

fn contains_nul(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains('\0'),
        Value::Array(items) => items.iter().any(contains_nul),
        Value::Object(map) => map
            .iter()
            .any(|(key, value)| key.contains('\0') || contains_nul(value)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

/// Refuses a request whose query string has a NUL character in any parameter (400 E007
/// naming the parameters), before any route reads it.
pub fn query_without_nul() -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::query::raw()
        .or(warp::any().map(String::new))
        .unify()
        .and_then(|raw: String| async move {
            // A query that does not decode is left to the route's own parsing.
            let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&raw).unwrap_or_default();
            let mut errors = FieldMessages::new();
            for (name, value) in pairs {
                if name.contains('\0') || value.contains('\0') {
                    errors.insert(name.replace('\0', "\\u0000"), vec![NUL_MESSAGE.to_owned()]);
                }
            }
            if errors.is_empty() {
                Ok(())
            } else {
                Err(warp::reject::custom(ApiError::validation(errors)))
            }
        })
        .untuple_one()
}

/// Reads a type whose fields are all optional (a patch) with serde, naming every field
/// whose value has the wrong type or range, all at once: each field is tried on its own
/// first, so the first bad one does not hide the others.
pub fn patch_from<T: DeserializeOwned + Serialize>(
    object: Map<String, Value>,
) -> Result<T, ApiError> {
    let mut errors = FieldMessages::new();
    for (field, value) in &object {
        let mut alone = Map::new();
        alone.insert(field.clone(), value.clone());
        match serde_json::from_value::<T>(Value::Object(alone)) {
            Err(error) => {
                errors.insert(field.clone(), vec![format!("{}.", readable(&error))]);
            }
            // A field `T` does not know is ignored, NUL or not; one it reads may not hold
            // a NUL (a patch writes back exactly the fields it carries).
            Ok(read) if contains_nul(value) => {
                let known = serde_json::to_value(&read).is_ok_and(|read| read.get(field).is_some());
                if known {
                    errors.insert(field.clone(), vec![NUL_MESSAGE.to_owned()]);
                }
            }
            Ok(_) => {}
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    serde_json::from_value(Value::Object(object)).map_err(|error| {
        ApiError::new(ErrorCode::ValidationError, format!("{}.", readable(&error)))
    })
}

/// serde's message, as a sentence: "Invalid type: string "x", expected a sequence".
fn readable(error: &serde_json::Error) -> String {
    let message = error.to_string();
    let mut chars = message.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect::<String>()
    })
}

/// A JSON number that is a whole, non-negative value (`3` and `3.0` alike: JSON does not
/// tell them apart).
pub fn whole_number(number: &serde_json::Number) -> Option<u64> {
    number.as_u64().or_else(|| {
        number
            .as_f64()
            .filter(|value| {
                value.fract() == 0.0 && *value >= 0.0 && *value <= 9_007_199_254_740_992.0
            })
            .map(|value| value as u64)
    })
}

/// Rewrites whole-valued floats (`3.0`) as integers, for bodies read with serde.
pub fn normalize_whole_numbers(value: &mut Value) {
    match value {
        Value::Number(number) if number.as_u64().is_none() && number.as_i64().is_none() => {
            if let Some(whole) = whole_number(number) {
                *value = Value::from(whole);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalize_whole_numbers),
        Value::Object(map) => map.values_mut().for_each(normalize_whole_numbers),
        _ => {}
    }
}

/// Reads fields out of a JSON object, collecting every problem before answering.
#[derive(Debug)]
pub struct Fields {
    object: Map<String, Value>,
    errors: FieldMessages,
}

impl Fields {
    pub fn new(object: Map<String, Value>) -> Self {
        Self {
            object,
            errors: FieldMessages::new(),
        }
    }

    pub fn error(&mut self, field: &str, message: impl Into<String>) {
        self.errors
            .entry(field.to_owned())
            .or_default()
            .push(message.into());
    }

    /// Adds the domain's verdict on fields read so far, so one answer names them all.
    pub fn merge(&mut self, errors: aggregates::FieldErrors) {
        for (field, messages) in errors.into_inner() {
            self.errors.entry(field).or_default().extend(messages);
        }
    }

    /// The raw value of a field with rules of its own (absent → `None`; one holding a NUL
    /// character is an error, and `None` too).
    pub fn take(&mut self, field: &str) -> Option<Value> {
        let value = self.object.remove(field)?;
        if contains_nul(&value) {
            self.error(field, NUL_MESSAGE);
            return None;
        }
        Some(value)
    }

    /// A string field's value, or the error when it holds a NUL character.
    fn text(&mut self, field: &str, value: String) -> Option<String> {
        if value.contains('\0') {
            self.error(field, NUL_MESSAGE);
            return None;
        }
        Some(value)
    }

    /// A string that must be present.
    pub fn required_string(&mut self, field: &str) -> Option<String> {
        match self.object.remove(field) {
            Some(Value::String(value)) => self.text(field, value),
            None | Some(Value::Null) => {
                self.error(field, "This field is required.");
                None
            }
            Some(_) => {
                self.error(field, "Must be a string.");
                None
            }
        }
    }

    /// A string that may be absent or null.
    pub fn optional_string(&mut self, field: &str) -> Option<String> {
        match self.object.remove(field) {
            Some(Value::String(value)) => self.text(field, value),
            None | Some(Value::Null) => None,
            Some(_) => {
                self.error(field, "Must be a string.");
                None
            }
        }
    }

    /// A list of strings that may be absent or null (then empty).
    pub fn optional_string_list(&mut self, field: &str) -> Vec<String> {
        match self.object.remove(field) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => {
                let mut strings = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Value::String(text) if text.contains('\0') => {
                            self.error(field, NUL_MESSAGE);
                            return Vec::new();
                        }
                        Value::String(text) => strings.push(text),
                        _ => {
                            self.error(field, "Must be a list of strings.");
                            return Vec::new();
                        }
                    }
                }
                strings
            }
            Some(_) => {
                self.error(field, "Must be a list of strings.");
                Vec::new()
            }
        }
    }

    /// A whole number in `0..=max` that may be absent or null.
    pub fn optional_u64(&mut self, field: &str, max: u64) -> Option<u64> {
        match self.object.remove(field) {
            None | Some(Value::Null) => None,
            Some(Value::Number(number)) => match whole_number(&number) {
                Some(value) if value <= max => Some(value),
                _ => {
                    self.error(field, format!("Must be a whole number from 0 to {max}."));
                    None
                }
            },
            Some(_) => {
                self.error(field, format!("Must be a whole number from 0 to {max}."));
                None
            }
        }
    }

    /// Err with every collected message, or Ok when all fields were fine.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(self.errors))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_media_types_are_recognised_with_parameters() {
        assert!(is_json("application/json"));
        assert!(is_json("Application/JSON; charset=utf-8"));
        assert!(is_json("application/merge-patch+json"));
        assert!(!is_json("text/plain"));
        assert!(!is_json(""));
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let body = serde_json::json!({"email": 5, "display_name": null});
        let Value::Object(object) = body else {
            unreachable!()
        };
        let mut fields = Fields::new(object);
        assert_eq!(fields.required_string("email"), None);
        assert_eq!(fields.required_string("password"), None);
        assert_eq!(fields.optional_string("display_name"), None);
        let error = fields.finish().err().map(|error| error.fields);
        let fields = error.flatten().unwrap_or_default();
        assert_eq!(fields.keys().collect::<Vec<_>>(), ["email", "password"]);
    }
}

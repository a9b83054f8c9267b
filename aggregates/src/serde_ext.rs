//! Serde helpers for patches, where a field that is absent ("leave as is") must stay
//! distinguishable from a field set to `null` ("clear it").

use serde::{Deserialize, Deserializer};

/// Deserializes a present field into `Some(value)`, including `null` into `Some(None)`.
/// Pair it with `#[serde(default, skip_serializing_if = "Option::is_none")]` so an absent
/// field stays `None`:
///
/// ```
/// # use serde::{Deserialize, Serialize};
/// #[derive(Serialize, Deserialize)]
/// struct Patch {
///     #[serde(
///         default,
///         skip_serializing_if = "Option::is_none",
///         deserialize_with = "aggregates::serde_ext::double_option"
///     )]
///     composer: Option<Option<String>>,
/// }
/// let cleared: Patch = serde_json::from_str(r#"{"composer": null}"#).unwrap();
/// assert_eq!(cleared.composer, Some(None));
/// let untouched: Patch = serde_json::from_str("{}").unwrap();
/// assert_eq!(untouched.composer, None);
/// ```
///
/// # Errors
/// Whatever deserializing the inner value fails with.
pub fn double_option<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

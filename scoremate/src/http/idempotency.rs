//! `Idempotency-Key` on POST: a retry with the same key and body gets the first answer
//! again (status, body and headers), without running the command twice; the same key
//! with another body is refused (422). Only successful answers are kept: an error such
//! as "upload incomplete" must not stick to the key, the client is meant to retry it.

use std::future::Future;

use aggregates::UserId;
use eventstore::Database;
use http_body_util::BodyExt;
use serde_json::{Map, Value};
use utoipa::IntoParams;
use warp::http::{HeaderName, HeaderValue, Method, StatusCode};
use warp::{Filter, Rejection};

use crate::http::authenticate::{Authenticator, Principal, authenticated};
use crate::http::endpoint::endpoint;
use crate::http::error::{ApiError, ErrorCode};
use crate::http::extract::json_body;

const MAX_KEY_CHARS: usize = 255;

/// `Idempotency-Key` of a POST, as the filter [`idempotency_key`] extracts it (the
/// pattern's length is `MAX_KEY_CHARS`; a test holds them together).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IdempotencyKey {
    /// A retry with the same key and body gets the first answer again
    #[param(
        rename = "Idempotency-Key",
        nullable = false,
        pattern = "^[!-~]{1,255}$"
    )]
    pub idempotency_key: Option<String>,
}

/// The request's `Idempotency-Key`, if any (checked by [`parse_key`]).
pub fn idempotency_key() -> impl Filter<Extract = (IdempotencyKey,), Error = Rejection> + Clone {
    warp::header::optional::<String>("idempotency-key")
        .map(|idempotency_key| IdempotencyKey { idempotency_key })
}

struct Stored {
    request_body: String,
    status: i64,
    headers: String,
    body: Vec<u8>,
}

async fn lookup(
    database: &Database,
    user: &str,
    route: &str,
    key: &str,
) -> Result<Option<Stored>, sqlx::Error> {
    const QUERY: &str = "SELECT request_body, status, headers, body FROM idempotency_keys \
                         WHERE user_id = $1 AND route = $2 AND key = $3";
    let row: Option<(String, i64, String, Vec<u8>)> = match database {
        Database::Sqlite(pool) => {
            sqlx::query_as(QUERY)
                .bind(user)
                .bind(route)
                .bind(key)
                .fetch_optional(pool)
                .await?
        }
        Database::Postgres(pool) => {
            let row: Option<(String, i32, String, Vec<u8>)> = sqlx::query_as(QUERY)
                .bind(user)
                .bind(route)
                .bind(key)
                .fetch_optional(pool)
                .await?;
            row.map(|(request_body, status, headers, body)| {
                (request_body, i64::from(status), headers, body)
            })
        }
    };
    Ok(row.map(|(request_body, status, headers, body)| Stored {
        request_body,
        status,
        headers,
        body,
    }))
}

/// Keeps the first answer; answers false when another request stored one first.
async fn store(
    database: &Database,
    user: &str,
    route: &str,
    key: &str,
    stored: &Stored,
) -> Result<bool, sqlx::Error> {
    const INSERT: &str = "INSERT INTO idempotency_keys (user_id, route, key, request_body, status, headers, body) \
                          VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING";
    let inserted = match database {
        // Kept like the command it answers for: a retry after a power loss must still get
        // this answer, not run the command again.
        Database::Sqlite(pool) => {
            let insert = sqlx::query(INSERT)
                .bind(user)
                .bind(route)
                .bind(key)
                .bind(&stored.request_body)
                .bind(stored.status)
                .bind(&stored.headers)
                .bind(&stored.body)
                .execute(pool);
            eventstore::write_durably(pool, insert, sqlx::Error::Io)
                .await?
                .rows_affected()
        }
        Database::Postgres(pool) => sqlx::query(INSERT)
            .bind(user)
            .bind(route)
            .bind(key)
            .bind(&stored.request_body)
            .bind(i32::try_from(stored.status).unwrap_or(500))
            .bind(&stored.headers)
            .bind(&stored.body)
            .execute(pool)
            .await?
            .rows_affected(),
    };
    Ok(inserted == 1)
}

fn replay(stored: Stored) -> warp::reply::Response {
    let mut response = warp::reply::Response::new(stored.body.into());
    *response.status_mut() = u16::try_from(stored.status)
        .ok()
        .and_then(|status| StatusCode::from_u16(status).ok())
        .unwrap_or(StatusCode::OK);
    let headers: Vec<(String, String)> = serde_json::from_str(&stored.headers).unwrap_or_default();
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            response.headers_mut().insert(name, value);
        }
    }
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}

/// The key of the request, validated.
pub fn parse_key(raw: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(key) = raw else { return Ok(None) };
    let valid = !key.is_empty()
        && key.chars().count() <= MAX_KEY_CHARS
        && key.chars().all(|c| c.is_ascii_graphic());
    if valid {
        Ok(Some(key))
    } else {
        Err(ApiError::invalid_field(
            "Idempotency-Key",
            &format!("Must be 1 to {MAX_KEY_CHARS} visible ASCII characters."),
        ))
    }
}

/// Runs `handler` once per `(user, route, key)`; see the module docs.
pub async fn once<F>(
    database: &Database,
    user: UserId,
    route: &str,
    key: Option<String>,
    body: &Map<String, Value>,
    handler: F,
) -> Result<warp::reply::Response, ApiError>
where
    F: Future<Output = Result<warp::reply::Response, ApiError>>,
{
    let Some(key) = key else { return handler.await };
    let user = user.to_string();
    // serde_json's map is ordered by key, so equal bodies serialise equally.
    let request_body = serde_json::to_string(body).map_err(|error| ApiError::internal(&error))?;
    let mismatch = || {
        ApiError::new(
            ErrorCode::ValidationError,
            "This Idempotency-Key was used with another request body.",
        )
        .with_status(StatusCode::UNPROCESSABLE_ENTITY)
    };
    if let Some(stored) = lookup(database, &user, route, &key)
        .await
        .map_err(|error| ApiError::internal(&error))?
    {
        return if stored.request_body == request_body {
            Ok(replay(stored))
        } else {
            Err(mismatch())
        };
    }
    let response = handler.await?;
    if !response.status().is_success() {
        return Ok(response);
    }
    let (parts, body) = response.into_parts();
    let bytes = body
        .collect()
        .await
        .map_err(|error| {
            ApiError::internal(&*Box::<dyn std::error::Error + Send + Sync>::from(
                error.to_string(),
            ))
        })?
        .to_bytes();
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_owned())))
        .collect();
    let stored = Stored {
        request_body,
        status: i64::from(parts.status.as_u16()),
        headers: serde_json::to_string(&headers).unwrap_or_else(|_| "[]".to_owned()),
        body: bytes.to_vec(),
    };
    if !store(database, &user, route, &key, &stored)
        .await
        .map_err(|error| ApiError::internal(&error))?
    {
        // A concurrent retry with the same key stored its answer first: answer that one.
        if let Some(first) = lookup(database, &user, route, &key)
            .await
            .map_err(|error| ApiError::internal(&error))?
        {
            return if first.request_body == stored.request_body {
                Ok(replay(first))
            } else {
                Err(mismatch())
            };
        }
    }
    Ok(warp::reply::Response::from_parts(parts, bytes.into()))
}

/// `POST template` with a JSON body, authenticated, answered once per `Idempotency-Key`:
/// a retry with the same key and body gets the first answer. The keys are kept in
/// `database`; `state` is handed to `handler` as it is.
pub fn post<S, H, Fut>(
    state: S,
    database: Database,
    authenticator: Authenticator,
    template: &'static str,
    handler: H,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone
where
    S: Clone + Send + Sync + 'static,
    H: Fn(S, Principal, Map<String, Value>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<warp::reply::Response, ApiError>> + Send + 'static,
{
    endpoint(Method::POST, template)
        .and(warp::any().map(move || (state.clone(), database.clone())))
        .and(authenticated(authenticator))
        .and(idempotency_key())
        .and(json_body())
        .then(
            move |_,
                  (state, database): (S, Database),
                  principal: Principal,
                  IdempotencyKey {
                      idempotency_key: key,
                  }: IdempotencyKey,
                  body: Map<String, Value>| {
                let handler = handler.clone();
                async move {
                    let key = parse_key(key)?;
                    let user = principal.user_id;
                    let run = Box::pin(handler(state, principal, body.clone()));
                    once(
                        &database,
                        user,
                        &format!("POST {template}"),
                        key,
                        &body,
                        run,
                    )
                    .await
                }
            },
        )
        .map(crate::http::reply::into_reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The document promises what `parse_key` takes: the regression was a route declaring
    /// `{1,200}` while the code took 255.
    #[test]
    fn the_documented_key_pattern_is_what_parse_key_takes() {
        let params = serde_json::to_value(IdempotencyKey::into_params(|| None)).unwrap_or_default();
        let pattern = params[0]["schema"]["pattern"].as_str().unwrap_or_default();
        assert_eq!(pattern, format!("^[!-~]{{1,{MAX_KEY_CHARS}}}$"));
        let longest = "k".repeat(MAX_KEY_CHARS);
        assert!(parse_key(Some(longest.clone())).is_ok());
        assert!(parse_key(Some(longest + "k")).is_err());
        assert!(parse_key(Some("with space".to_owned())).is_err());
    }
}

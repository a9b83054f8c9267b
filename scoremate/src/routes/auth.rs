//! `/api/v1/auth/*`: registration and sessions.

use aggregates::{
    AccountCommand, Email, RevocationReason, SessionCommand, SessionEvent, SessionId, UserId,
};
use chrono::{DateTime, Utc};
use eventstore::{Actor, CommandError};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;
use warp::http::{Method, StatusCode};
use warp::{Filter, Rejection, Reply};

use crate::auth::passwords::{MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS};
use crate::auth::tokens::RefreshClaims;
use crate::http::context::command_metadata;
use crate::http::endpoint::endpoint;
use crate::http::error::{ApiError, ErrorCode, Problem};
use crate::http::extract::{Fields, json_body};
use crate::http::openapi::{Authenticated, JsonBody, Throttled};
use crate::http::reply::into_reply;
use crate::settings::Secret;
use crate::state::{AppState, Services};
use crate::users::find_user_by_email;

/// A new account.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountCreated {
    pub id: Uuid,
    pub email: String,
    pub display_name: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A fresh token pair.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    pub access: String,
    pub refresh: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
}

/// A rotated token pair.
#[derive(Debug, Serialize, ToSchema)]
pub struct RefreshResponse {
    pub access: String,
    pub refresh: String,
}

#[derive(Debug, ToSchema)]
pub struct RegisterRequest {
    /// Unique up to case and Unicode compatibility; stored in NFKC, trimmed and
    /// lower-cased. Characters whose compatibility form holds a space or an `@` (such as
    /// `¨` or `＠`) are refused.
    #[schema(
        value_type = String,
        min_length = 3,
        max_length = 254,
        pattern = "^[^@\\s\\x00-\\x1f\\x7f-\\x9f\\u00A8\\u00AF\\u00B4\\u00B8\\u02D8-\\u02DD\\u037A\\u0384-\\u0385\\u1FBD\\u1FBF-\\u1FC1\\u1FCD-\\u1FCF\\u1FDD-\\u1FDF\\u1FED-\\u1FEE\\u1FFD-\\u1FFE\\u2017\\u203E\\u309B-\\u309C\\uFC5E-\\uFC63\\uFDFA-\\uFDFB\\uFE49-\\uFE4C\\uFE6B\\uFE70\\uFE72\\uFE74\\uFE76\\uFE78\\uFE7A\\uFE7C\\uFE7E\\uFF20\\uFFE3]+@[^@\\s\\x00-\\x1f\\x7f-\\x9f\\u00A8\\u00AF\\u00B4\\u00B8\\u02D8-\\u02DD\\u037A\\u0384-\\u0385\\u1FBD\\u1FBF-\\u1FC1\\u1FCD-\\u1FCF\\u1FDD-\\u1FDF\\u1FED-\\u1FEE\\u1FFD-\\u1FFE\\u2017\\u203E\\u309B-\\u309C\\uFC5E-\\uFC63\\uFDFA-\\uFDFB\\uFE49-\\uFE4C\\uFE6B\\uFE70\\uFE72\\uFE74\\uFE76\\uFE78\\uFE7A\\uFE7C\\uFE7E\\uFF20\\uFFE3]+$"
    )]
    email: Email,
    /// 10 to 1024 characters.
    #[schema(value_type = String, min_length = 10, max_length = 1024)]
    password: Secret,
    /// 1 to 100 characters, not only spaces.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\x00]*[^\\s\\x00][^\\x00]*$"
    )]
    // Trimmed.
    display_name: Option<String>,
}

#[derive(Debug, ToSchema)]
pub struct LoginRequest {
    // Not parsed: an address that is not one answers like a wrong password.
    email: String,
    #[schema(value_type = String)]
    password: Secret,
}

#[derive(Debug, ToSchema)]
pub struct RefreshRequest {
    refresh: String,
}

impl RegisterRequest {
    /// Every invalid field at once (E007).
    fn read(body: Map<String, Value>) -> Result<Self, ApiError> {
        let mut fields = Fields::new(body);
        let email = fields.required_string("email");
        let password = fields.required_string("password");
        let display_name = fields.optional_string("display_name");
        let email = match email.map(|raw| (raw.chars().any(char::is_control), Email::parse(&raw))) {
            Some((true, _)) => {
                fields.error("email", "Must not contain control characters.");
                None
            }
            Some((false, Ok(email))) => Some(email),
            Some((false, Err(error))) => {
                fields.error("email", format!("Not a valid email address: {error}."));
                None
            }
            None => None,
        };
        if let Some(password) = &password {
            let length = password.chars().count();
            if length < MIN_PASSWORD_CHARS {
                fields.error(
                    "password",
                    format!("Must be at least {MIN_PASSWORD_CHARS} characters."),
                );
            } else if length > MAX_PASSWORD_CHARS {
                fields.error(
                    "password",
                    format!("Must be at most {MAX_PASSWORD_CHARS} characters."),
                );
            }
        }
        if let Some(name) = &display_name {
            let length = name.trim().chars().count();
            if !(1..=100).contains(&length) {
                fields.error("display_name", "Must be between 1 and 100 characters.");
            }
        }
        fields.finish()?;
        let (Some(email), Some(password)) = (email, password) else {
            return Err(ApiError::new(
                ErrorCode::ValidationError,
                "Some fields are invalid.",
            ));
        };
        Ok(Self {
            email,
            password: Secret::new(password),
            display_name: display_name.map(|name| name.trim().to_owned()),
        })
    }
}

impl LoginRequest {
    /// E007 naming the missing fields.
    fn read(body: Map<String, Value>) -> Result<Self, ApiError> {
        let mut fields = Fields::new(body);
        let email = fields.required_string("email");
        let password = fields.required_string("password");
        fields.finish()?;
        let (Some(email), Some(password)) = (email, password) else {
            return Err(invalid_credentials());
        };
        Ok(Self {
            email,
            password: Secret::new(password),
        })
    }
}

impl RefreshRequest {
    /// E007 when the token is missing or not a string.
    fn read(body: Map<String, Value>) -> Result<Self, ApiError> {
        let mut fields = Fields::new(body);
        let refresh = fields.required_string("refresh");
        fields.finish()?;
        let Some(refresh) = refresh else {
            return Err(ApiError::invalid_token());
        };
        Ok(Self { refresh })
    }
}

pub fn routes(state: AppState) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let with_state = warp::any().map(move || state.clone());
    let register = endpoint(Method::POST, "/api/v1/auth/register")
        .and(with_state.clone())
        .and(json_body())
        .then(|_, state, body| register(state, body))
        .map(into_reply);
    let login = endpoint(Method::POST, "/api/v1/auth/login")
        .and(with_state.clone())
        .and(json_body())
        .then(|_, state, body| login(state, body))
        .map(into_reply);
    let refresh = endpoint(Method::POST, "/api/v1/auth/refresh")
        .and(with_state.clone())
        .and(json_body())
        .then(|_, state, body| refresh(state, body))
        .map(into_reply);
    let logout = endpoint(Method::POST, "/api/v1/auth/logout")
        .and(with_state)
        .and(json_body())
        .then(|_, state, body| logout(state, body))
        .map(into_reply);
    register
        .or(login)
        .unify()
        .or(refresh)
        .unify()
        .or(logout)
        .unify()
}

/// The claims of the body's valid refresh token (its user recorded for the request's log).
fn presented_refresh(
    services: &Services,
    body: Map<String, Value>,
) -> Result<RefreshClaims, ApiError> {
    let RefreshRequest { refresh: token } = RefreshRequest::read(body)?;
    let claims = services
        .tokens
        .verify_refresh(&token)
        .map_err(|_| ApiError::invalid_token())?;
    crate::http::context::RequestContext::record_user(claims.sub);
    Ok(claims)
}

fn invalid_credentials() -> ApiError {
    ApiError::new(ErrorCode::InvalidCredentials, "Wrong email or password.")
}

#[utoipa::path(
    post, path = "/api/v1/auth/register", tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Registered", body = AccountCreated),
        (status = 400, description = "Invalid fields or malformed JSON (E007)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Email already registered (E008)", body = Problem, content_type = "application/problem+json"),
        JsonBody,
        Throttled,
    )
)]
pub async fn register(
    state: AppState,
    body: Map<String, Value>,
) -> Result<warp::reply::Response, ApiError> {
    let RegisterRequest {
        email,
        password,
        display_name,
    } = RegisterRequest::read(body)?;

    let services = &state.services;
    if find_user_by_email(&state.database, &email).await?.is_some() {
        return Err(email_taken());
    }
    let password_hash = services
        .passwords
        .hash(password)
        .await
        .map_err(|error| ApiError::internal(&error))?;
    let user_id = UserId::from_uuid(Uuid::now_v7());
    let metadata = command_metadata(Actor::User(user_id.into_uuid()));
    let register = AccountCommand::RegisterAccount {
        user_id,
        email: email.clone(),
        password_hash,
        display_name,
    };
    let committed = match services
        .accounts
        .execute_once(&user_id.to_string(), register, &metadata)
        .await
    {
        Ok(committed) => committed,
        // A fresh account id cannot be taken: the append lost to the unique email index.
        Err(CommandError::Conflict { .. }) => return Err(email_taken()),
        Err(other) => return Err(other.into()),
    };
    // Not atomic with the registration: an account whose limit was never set gets it the
    // first time its quota is read (`me::quota_of`).
    let set_limit = aggregates::QuotaCommand::SetQuotaLimit {
        limit: aggregates::Bytes(state.settings.default_quota_bytes),
    };
    if let Err(error) = services
        .quotas
        .execute(&user_id.to_string(), set_limit, &metadata)
        .await
    {
        tracing::warn!(error = %error, "setting the new account's quota failed; it heals on first read");
    }
    let display_name = committed
        .events
        .first()
        .and_then(|event| match &event.payload {
            aggregates::AccountEvent::AccountRegistered { display_name, .. } => {
                display_name.clone()
            }
            _ => None,
        });
    let created = AccountCreated {
        id: user_id.into_uuid(),
        email: email.into_string(),
        display_name,
        created_at: metadata.occurred_at,
    };
    Ok(warp::reply::with_status(warp::reply::json(&created), StatusCode::CREATED).into_response())
}

fn email_taken() -> ApiError {
    ApiError::new(
        ErrorCode::Conflict,
        "An account with this email already exists.",
    )
}

#[utoipa::path(
    post, path = "/api/v1/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = LoginResponse),
        (status = 400, description = "Missing fields or malformed JSON (E007)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Wrong email or password (E009)", body = Problem, content_type = "application/problem+json"),
        JsonBody,
        Throttled,
    )
)]
pub async fn login(
    state: AppState,
    body: Map<String, Value>,
) -> Result<warp::reply::Response, ApiError> {
    let LoginRequest { email, password } = LoginRequest::read(body)?;
    let services = &state.services;

    let user_id = match Email::parse(&email) {
        Ok(email) => find_user_by_email(&state.database, &email).await?,
        Err(_) => None,
    };
    let account = match user_id {
        Some(user_id) => Some((
            user_id,
            services
                .accounts
                .load(&user_id.to_string())
                .await?
                .aggregate,
        )),
        None => None,
    };
    let Some((user_id, account)) = account.filter(|(_, account)| account.is_registered()) else {
        services.passwords.verify_nobody(password).await;
        return Err(invalid_credentials());
    };
    let hash = account.password_hash().unwrap_or_default().to_owned();
    if !services.passwords.verify(password, hash).await {
        return Err(invalid_credentials());
    }

    let now = Utc::now();
    let session_id = SessionId::from_uuid(Uuid::now_v7());
    let refresh_token_id = Uuid::new_v4();
    let expires_at = now + services.tokens.refresh_ttl;
    let start = SessionCommand::StartSession {
        session_id,
        user_id,
        refresh_token_id,
        expires_at,
    };
    let metadata = command_metadata(Actor::User(user_id.into_uuid()));
    services
        .sessions
        .execute_new(&session_id.to_string(), start, &metadata)
        .await?;

    let roles = account
        .roles()
        .iter()
        .map(|role| role.as_str().to_owned())
        .collect();
    let tokens = &services.tokens;
    let (access, refresh) = tokens
        .issue_pair(
            user_id.into_uuid(),
            session_id.into_uuid(),
            roles,
            refresh_token_id,
            now,
            expires_at,
        )
        .map_err(|error| ApiError::internal(&error))?;
    let response = LoginResponse {
        access,
        refresh,
        token_type: "Bearer",
        expires_in: tokens.access_ttl.num_seconds(),
    };
    Ok(warp::reply::json(&response).into_response())
}

#[utoipa::path(
    post, path = "/api/v1/auth/refresh", tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "Rotated: the old refresh token stops working", body = RefreshResponse),
        (status = 400, description = "Missing field or malformed JSON (E007)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Invalid, expired, revoked or reused token (E002); reuse revokes the session", body = Problem, content_type = "application/problem+json"),
        JsonBody,
        Throttled,
    )
)]
pub async fn refresh(
    state: AppState,
    body: Map<String, Value>,
) -> Result<warp::reply::Response, ApiError> {
    let services = &state.services;
    let claims = presented_refresh(services, body)?;

    let now = Utc::now();
    let next_token_id = Uuid::new_v4();
    let expires_at = now + services.tokens.refresh_ttl;
    let rotate = SessionCommand::RotateRefreshToken {
        presented_token_id: claims.jti,
        next_token_id,
        now,
        expires_at,
    };
    let metadata = command_metadata(Actor::User(claims.sub));
    let committed = services
        .sessions
        .execute(&claims.sid.to_string(), rotate, &metadata)
        .await?;
    let rotated = committed.events.iter().any(|event| {
        matches!(event.payload, SessionEvent::RefreshTokenRotated { next_token_id: next, .. } if next == next_token_id)
    });
    if !rotated {
        // The presented token was rotated before: the session is now revoked (theft).
        tracing::warn!(session_id = %claims.sid, "refresh token reuse: session revoked");
        return Err(ApiError::invalid_token());
    }

    let account = services
        .accounts
        .load(&claims.sub.to_string())
        .await?
        .aggregate;
    if !account.is_registered() {
        return Err(ApiError::invalid_token());
    }
    let roles = account
        .roles()
        .iter()
        .map(|role| role.as_str().to_owned())
        .collect();
    let (access, refresh) = services
        .tokens
        .issue_pair(
            claims.sub,
            claims.sid,
            roles,
            next_token_id,
            now,
            expires_at,
        )
        .map_err(|error| ApiError::internal(&error))?;
    let response = RefreshResponse { access, refresh };
    Ok(warp::reply::json(&response).into_response())
}

#[utoipa::path(
    post, path = "/api/v1/auth/logout", tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 204, description = "The session is revoked: its access and refresh tokens stop working"),
        (status = 400, description = "Missing field or malformed JSON (E007)", body = Problem, content_type = "application/problem+json"),
        Authenticated,
        JsonBody,
    )
)]
pub async fn logout(
    state: AppState,
    body: Map<String, Value>,
) -> Result<warp::reply::Response, ApiError> {
    let services = &state.services;
    let claims = presented_refresh(services, body)?;
    let revoke = SessionCommand::RevokeSession {
        reason: RevocationReason::Logout,
    };
    let metadata = command_metadata(Actor::User(claims.sub));
    services
        .sessions
        .execute(&claims.sid.to_string(), revoke, &metadata)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

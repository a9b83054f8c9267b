//! Accounts, logins and JWT sessions, seen from an HTTP client.
//!
//! The `roles` claim after `scoremate admin grant-role` needs the binary and is left to a
//! child-process test; here roles are only seen empty.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use integration_tests::jwt::{self, Jwt};
use integration_tests::{
    PASSWORD, TestApp, expect_json, expect_problem, spawn_app, spawn_app_with, unique_email,
};
use serde_json::json;
use testkit::TestDatabase;

const DEFAULT_QUOTA_BYTES: u64 = 1_073_741_824;
const DEFAULT_ACCESS_TOKEN_TTL_SECS: u64 = 3600;

async fn app() -> TestApp {
    spawn_app(TestDatabase::sqlite().await).await
}

// --- registration ---------------------------------------------------------------------

#[tokio::test]
async fn registering_answers_201_with_the_new_account() {
    let app = app().await;
    let email = unique_email();

    let response = app
        .post_json(
            "/api/v1/auth/register",
            &json!({"email": email, "password": PASSWORD, "display_name": "김연아"}),
        )
        .await;

    let account = expect_json(response, 201).await;
    assert!(
        uuid::Uuid::parse_str(account["id"].as_str().unwrap_or_default()).is_ok(),
        "id is a UUID: {account}"
    );
    assert_eq!(account["email"], email);
    assert_eq!(account["display_name"], "김연아");
    assert!(
        chrono::DateTime::parse_from_rfc3339(account["created_at"].as_str().unwrap_or_default())
            .is_ok(),
        "created_at is RFC 3339: {account}"
    );
    assert!(account.get("password").is_none() && account.get("password_hash").is_none());
    app.stop().await;
}

#[tokio::test]
async fn registering_trims_and_lower_cases_the_email() {
    let app = app().await;
    let local = format!("Alice.{}", uuid::Uuid::new_v4().simple());

    let account = app
        .register(&format!("  {local}@Example.COM  "), PASSWORD)
        .await;

    assert_eq!(
        account["email"],
        format!("{}@example.com", local.to_lowercase())
    );
    app.stop().await;
}

#[tokio::test]
async fn registering_an_address_again_in_another_case_is_a_conflict() {
    let app = app().await;
    app.register("Alice@Example.com", PASSWORD).await;

    let response = app.register_response("alice@example.COM", PASSWORD).await;

    expect_problem(response, 409, "E008").await;
    app.stop().await;
}

#[tokio::test]
async fn a_password_of_nine_characters_is_refused() {
    let app = app().await;

    let response = app.register_response(&unique_email(), "123456789").await;

    let problem = expect_problem(response, 400, "E007").await;
    assert_eq!(
        problem.field_names(),
        BTreeSet::from(["password".to_owned()])
    );
    app.stop().await;
}

#[tokio::test]
async fn a_password_of_ten_characters_is_accepted() {
    let app = app().await;

    let response = app.register_response(&unique_email(), "1234567890").await;

    expect_json(response, 201).await;
    app.stop().await;
}

#[tokio::test]
async fn password_length_is_counted_in_characters_not_bytes() {
    let app = app().await;
    // Nine characters, eighteen bytes in UTF-8.
    let password = "é".repeat(9);

    let response = app.register_response(&unique_email(), &password).await;

    let problem = expect_problem(response, 400, "E007").await;
    assert_eq!(
        problem.field_names(),
        BTreeSet::from(["password".to_owned()])
    );
    app.stop().await;
}

#[tokio::test]
async fn a_password_of_1024_characters_is_accepted() {
    let app = app().await;

    let response = app
        .register_response(&unique_email(), &"p".repeat(1024))
        .await;

    expect_json(response, 201).await;
    app.stop().await;
}

#[tokio::test]
async fn a_password_of_1025_characters_is_refused() {
    let app = app().await;

    let response = app
        .register_response(&unique_email(), &"p".repeat(1025))
        .await;

    let problem = expect_problem(response, 400, "E007").await;
    assert_eq!(
        problem.field_names(),
        BTreeSet::from(["password".to_owned()])
    );
    app.stop().await;
}

#[tokio::test]
async fn an_invalid_email_is_refused() {
    let app = app().await;

    for email in [
        "not-an-email",
        "alice@",
        "@example.com",
        "alice smith@example.com",
        "",
    ] {
        let response = app.register_response(email, PASSWORD).await;

        assert_eq!(response.status(), 400, "{email:?}");
        let problem = expect_problem(response, 400, "E007").await;
        assert_eq!(
            problem.field_names(),
            BTreeSet::from(["email".to_owned()]),
            "{email:?}: {}",
            problem.body
        );
    }
    app.stop().await;
}

async fn one_of_twenty_concurrent_registrations_wins(database: TestDatabase) {
    let app = spawn_app(database).await;
    let address = format!("race-{}@example.com", uuid::Uuid::new_v4().simple());
    let mut attempts = tokio::task::JoinSet::new();
    for attempt in 0..20_u32 {
        let client = app.client.clone();
        let url = app.url("/api/v1/auth/register");
        let email = vary_case(&address, attempt);
        let password = format!("password-of-attempt-{attempt:02}");
        attempts.spawn(async move {
            let response = client
                .post(url)
                .json(&json!({"email": email, "password": password}))
                .send()
                .await
                .unwrap();
            (password, response)
        });
    }

    let mut created = Vec::new();
    let mut conflicts = 0;
    while let Some(joined) = attempts.join_next().await {
        let (password, response) = joined.unwrap();
        if response.status() == 201 {
            created.push(password);
        } else {
            expect_problem(response, 409, "E008").await;
            conflicts += 1;
        }
    }

    assert_eq!(created.len(), 1, "exactly one registration succeeds");
    assert_eq!(conflicts, 19);
    // The one account is the winner's.
    app.login(&address, &created[0]).await;
    app.stop().await;
}

/// `address` with the letters upper-cased by the bits of `variant`.
fn vary_case(address: &str, variant: u32) -> String {
    address
        .chars()
        .enumerate()
        .map(|(index, character)| {
            if (variant >> (index % 5)) & 1 == 1 {
                character.to_ascii_uppercase()
            } else {
                character
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_of_twenty_concurrent_registrations_of_an_address_wins_on_sqlite() {
    one_of_twenty_concurrent_registrations_wins(TestDatabase::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_of_twenty_concurrent_registrations_of_an_address_wins_on_postgres() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    one_of_twenty_concurrent_registrations_wins(database).await;
}

// --- login ----------------------------------------------------------------------------

#[tokio::test]
async fn logging_in_answers_a_bearer_token_pair() {
    let app = app().await;
    let email = unique_email();
    app.register(&email, PASSWORD).await;

    let response = app.login_response(&email, PASSWORD).await;

    let body = expect_json(response, 200).await;
    assert!(
        body["access"]
            .as_str()
            .is_some_and(|token| !token.is_empty())
    );
    assert!(
        body["refresh"]
            .as_str()
            .is_some_and(|token| !token.is_empty())
    );
    assert_ne!(body["access"], body["refresh"]);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], DEFAULT_ACCESS_TOKEN_TTL_SECS);
    app.stop().await;
}

#[tokio::test]
async fn logging_in_accepts_the_email_in_any_case() {
    let app = app().await;
    let email = unique_email();
    app.register(&email, PASSWORD).await;

    let response = app
        .login_response(&format!(" {} ", email.to_uppercase()), PASSWORD)
        .await;

    expect_json(response, 200).await;
    app.stop().await;
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_get_the_same_answer() {
    let app = app().await;
    let email = unique_email();
    app.register(&email, PASSWORD).await;

    let wrong_password = app.login_response(&email, "not the right password").await;
    let unknown_email = app.login_response(&unique_email(), PASSWORD).await;

    let wrong_password = expect_problem(wrong_password, 401, "E009").await;
    let unknown_email = expect_problem(unknown_email, 401, "E009").await;
    assert_eq!(
        wrong_password.body_without_request_id(),
        unknown_email.body_without_request_id()
    );
    app.stop().await;
}

// --- access tokens --------------------------------------------------------------------

#[tokio::test]
async fn an_access_token_is_an_hs256_jwt_with_the_documented_claims() {
    let app = app().await;

    let user = app.signed_in_user().await;

    let token = Jwt::parse(&user.tokens.access);
    assert_eq!(token.header_json()["alg"], "HS256");
    let claims = token.claims();
    assert_eq!(claims["sub"], user.id);
    assert!(
        claims["sid"].as_str().is_some_and(|sid| !sid.is_empty()),
        "{claims}"
    );
    assert!(
        claims["jti"].as_str().is_some_and(|jti| !jti.is_empty()),
        "{claims}"
    );
    assert_eq!(claims["roles"], json!([]));
    let iat = claims["iat"].as_u64().expect("iat is a number of seconds");
    let exp = claims["exp"].as_u64().expect("exp is a number of seconds");
    assert_eq!(exp - iat, DEFAULT_ACCESS_TOKEN_TTL_SECS);
    app.stop().await;
}

#[tokio::test]
async fn each_login_starts_a_session_of_its_own() {
    let app = app().await;
    let user = app.signed_in_user().await;

    let second = app.login(&user.email, PASSWORD).await;

    let first = jwt::claims(&user.tokens.access);
    let second = jwt::claims(&second.access);
    assert_ne!(first["sid"], second["sid"]);
    assert_ne!(first["jti"], second["jti"]);
    app.stop().await;
}

#[tokio::test]
async fn me_shows_the_account_without_roles_and_with_the_default_quota() {
    let app = app().await;
    let email = unique_email();
    let account = expect_json(
        app.post_json(
            "/api/v1/auth/register",
            &json!({"email": email, "password": PASSWORD, "display_name": "Alice"}),
        )
        .await,
        201,
    )
    .await;
    let tokens = app.login(&email, PASSWORD).await;

    let response = app.me(&tokens.access).await;

    let me = expect_json(response, 200).await;
    assert_eq!(me["id"], account["id"]);
    assert_eq!(me["email"], email);
    assert_eq!(me["display_name"], "Alice");
    assert_eq!(me["roles"], json!([]));
    let quota = &me["quota"];
    assert_eq!(quota["limit_bytes"], DEFAULT_QUOTA_BYTES, "{me}");
    assert_eq!(quota["used_bytes"], 0, "{me}");
    assert_eq!(quota["reserved_bytes"], 0, "{me}");
    assert_eq!(quota["available_bytes"], DEFAULT_QUOTA_BYTES, "{me}");
    app.stop().await;
}

#[tokio::test]
async fn me_without_an_authorization_header_is_refused() {
    let app = app().await;

    let response = app.get("/api/v1/me").await;

    expect_problem(response, 401, "E002").await;
    app.stop().await;
}

#[tokio::test]
async fn a_malformed_authorization_header_is_refused() {
    let app = app().await;
    let user = app.signed_in_user().await;

    for authorization in [
        "Bearer abc".to_owned(),
        "Bearer a.b.c".to_owned(),
        "Bearer ".to_owned(),
        "Basic dXNlcjpwYXNzd29yZA==".to_owned(),
        // A real token without its scheme.
        user.tokens.access.clone(),
    ] {
        let response = app
            .get_with_authorization("/api/v1/me", &authorization)
            .await;

        assert_eq!(response.status(), 401, "{authorization:?}");
        expect_problem(response, 401, "E002").await;
    }
    app.stop().await;
}

#[tokio::test]
async fn a_token_claiming_alg_none_is_refused() {
    let app = app().await;
    let user = app.signed_in_user().await;
    let unsigned = Jwt::parse(&user.tokens.access)
        .with_header(&json!({"alg": "none", "typ": "JWT"}))
        .with_signature("")
        .encode();

    let response = app.me(&unsigned).await;

    expect_problem(response, 401, "E002").await;
    app.stop().await;
}

#[tokio::test]
async fn a_token_whose_payload_was_altered_is_refused() {
    let app = app().await;
    let mallory = app.signed_in_user().await;
    let alice = app.signed_in_user().await;
    let real = Jwt::parse(&mallory.tokens.access);
    let mut claims = real.claims();
    claims["sub"] = json!(alice.id);
    let altered = real.with_claims(&claims).encode();

    let response = app.me(&altered).await;

    expect_problem(response, 401, "E002").await;
    app.stop().await;
}

#[tokio::test]
async fn a_token_signed_with_another_secret_is_refused() {
    let secret_a = "a".repeat(64);
    let secret_b = "b".repeat(64);
    let app = spawn_app_with(TestDatabase::sqlite().await, &["--jwt-secret", &secret_a]).await;
    let other = spawn_app_with(TestDatabase::sqlite().await, &["--jwt-secret", &secret_b]).await;
    let user = app.signed_in_user().await;
    let stranger = other.signed_in_user().await;
    // This server's claims under the other server's signature.
    let foreign_signature = Jwt::parse(&stranger.tokens.access).signature;
    let forged = Jwt::parse(&user.tokens.access)
        .with_signature(&foreign_signature)
        .encode();

    let forged_response = app.me(&forged).await;
    let foreign_response = app.me(&stranger.tokens.access).await;

    expect_problem(forged_response, 401, "E002").await;
    expect_problem(foreign_response, 401, "E002").await;
    other.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn an_expired_access_token_is_refused() {
    // Two seconds rather than one so that the token is certainly still valid when it is
    // first used, whichever way the server compares `exp` with the clock.
    let app = spawn_app_with(
        TestDatabase::sqlite().await,
        &["--access-token-ttl-secs", "2"],
    )
    .await;
    let user = app.signed_in_user().await;
    expect_json(app.me(&user.tokens.access).await, 200).await;

    // The one sleep of the suite: expiry is wall-clock time in whole seconds, so wait
    // until the clock is a full second past `exp` (at most about three seconds).
    let exp = jwt::claims(&user.tokens.access)["exp"].as_u64().unwrap();
    let expired_at = UNIX_EPOCH + Duration::from_secs(exp + 1) + Duration::from_millis(100);
    if let Ok(wait) = expired_at.duration_since(SystemTime::now()) {
        tokio::time::sleep(wait).await;
    }
    let response = app.me(&user.tokens.access).await;

    expect_problem(response, 401, "E002").await;
    app.stop().await;
}

#[tokio::test]
async fn a_refresh_token_is_not_accepted_as_an_access_token() {
    let app = app().await;
    let user = app.signed_in_user().await;

    let response = app.me(&user.tokens.refresh).await;

    expect_problem(response, 401, "E002").await;
    app.stop().await;
}

#[tokio::test]
async fn an_access_token_is_not_accepted_as_a_refresh_token() {
    let app = app().await;
    let user = app.signed_in_user().await;

    let response = app.refresh_response(&user.tokens.access).await;

    expect_problem(response, 401, "E002").await;
    app.stop().await;
}

// --- refresh --------------------------------------------------------------------------

#[tokio::test]
async fn refreshing_answers_a_new_working_token_pair() {
    let app = app().await;
    let user = app.signed_in_user().await;

    let response = app.refresh_response(&user.tokens.refresh).await;

    let body = expect_json(response, 200).await;
    let access = body["access"].as_str().expect("a new access token");
    let refresh = body["refresh"].as_str().expect("a new refresh token");
    assert_ne!(access, user.tokens.access);
    assert_ne!(refresh, user.tokens.refresh);
    assert_eq!(
        jwt::claims(access)["sid"],
        jwt::claims(&user.tokens.access)["sid"],
        "a refresh continues the session"
    );
    expect_json(app.me(access).await, 200).await;
    app.stop().await;
}

#[tokio::test]
async fn a_refresh_token_stops_working_once_rotated() {
    let app = app().await;
    let user = app.signed_in_user().await;
    app.refresh(&user.tokens.refresh).await;

    let response = app.refresh_response(&user.tokens.refresh).await;

    expect_problem(response, 401, "E002").await;
    app.stop().await;
}

#[tokio::test]
async fn a_rotated_refresh_token_presented_again_revokes_the_session() {
    let app = app().await;
    let user = app.signed_in_user().await;
    let second = app.refresh(&user.tokens.refresh).await;
    let newest = app.refresh(&second.refresh).await;

    let reuse = app.refresh_response(&user.tokens.refresh).await;

    expect_problem(reuse, 401, "E002").await;
    expect_problem(app.refresh_response(&newest.refresh).await, 401, "E002").await;
    expect_problem(app.me(&newest.access).await, 401, "E002").await;
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_refresh_token_is_refused() {
    let app = app().await;

    let response = app
        .refresh_response(&uuid::Uuid::new_v4().simple().to_string())
        .await;

    expect_problem(response, 401, "E002").await;
    app.stop().await;
}

// --- logout ---------------------------------------------------------------------------

#[tokio::test]
async fn logging_out_answers_204() {
    let app = app().await;
    let user = app.signed_in_user().await;

    let response = app.logout_response(&user.tokens.refresh).await;

    assert_eq!(response.status(), 204);
    assert!(response.bytes().await.unwrap().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn logging_out_refuses_the_sessions_access_token_at_once() {
    let app = app().await;
    let user = app.signed_in_user().await;
    app.logout(&user.tokens.refresh).await;

    let response = app.me(&user.tokens.access).await;

    expect_problem(response, 401, "E002").await;
    app.stop().await;
}

#[tokio::test]
async fn logging_out_refuses_the_sessions_refresh_token() {
    let app = app().await;
    let user = app.signed_in_user().await;
    app.logout(&user.tokens.refresh).await;

    let response = app.refresh_response(&user.tokens.refresh).await;

    expect_problem(response, 401, "E002").await;
    app.stop().await;
}

#[tokio::test]
async fn logging_out_leaves_the_users_other_sessions_working() {
    let app = app().await;
    let user = app.signed_in_user().await;
    let other_device = app.login(&user.email, PASSWORD).await;
    app.logout(&user.tokens.refresh).await;

    let response = app.me(&other_device.access).await;

    expect_json(response, 200).await;
    app.stop().await;
}

// --- addresses stored before NFKC normalisation ---------------------------------------

/// An account registered when addresses were only lower-cased (its event holds the
/// decomposed `cafe\u{301}`) is found under every form of its address once the one-time
/// alias step ran, and nobody can register a look-alike of it. The old registration is
/// a copy of a fresh one's event (same password hash) with the old form of the address.
async fn an_account_stored_before_normalisation_keeps_working(database: TestDatabase) {
    use eventstore::Database;
    const COPY_SQLITE: &str = "INSERT INTO events \
        (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
        SELECT aggregate_type, $1, 1, event_type, event_version, \
               json_set(payload, '$.AccountRegistered.email', $2, '$.AccountRegistered.user_id', $1), \
               metadata \
          FROM events WHERE aggregate_id = $3 AND event_type = 'AccountRegistered'";
    const COPY_POSTGRES: &str = "INSERT INTO events \
        (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
        SELECT aggregate_type, $1, 1, event_type, event_version, \
               jsonb_set(jsonb_set(payload, '{AccountRegistered,email}', to_jsonb($2::text)), \
                         '{AccountRegistered,user_id}', to_jsonb($1::text)), \
               metadata \
          FROM events WHERE aggregate_id = $3 AND event_type = 'AccountRegistered'";
    let app = spawn_app(database).await;
    let template = app.register("legacy-template@example.com", PASSWORD).await;
    let template = template["id"].as_str().unwrap().to_owned();
    let id = uuid::Uuid::new_v4().to_string();
    let legacy = "cafe\u{301}@example.com";
    match &app.database.database {
        Database::Sqlite(pool) => {
            sqlx::query(COPY_SQLITE)
                .bind(&id)
                .bind(legacy)
                .bind(&template)
                .execute(pool)
                .await
                .unwrap();
            sqlx::query("DELETE FROM data_backfills")
                .execute(pool)
                .await
                .unwrap();
        }
        Database::Postgres(pool) => {
            sqlx::query(COPY_POSTGRES)
                .bind(&id)
                .bind(legacy)
                .bind(&template)
                .execute(pool)
                .await
                .unwrap();
            sqlx::query("DELETE FROM data_backfills")
                .execute(pool)
                .await
                .unwrap();
        }
    }
    app.run_processors_until_idle().await;
    // Before the step: the stored form is all there is, and the composed form misses it.
    let missed = app.login_response("caf\u{e9}@example.com", PASSWORD).await;
    assert_eq!(missed.status(), 401);

    app.database.database.migrate().await.unwrap();

    for form in ["caf\u{e9}@example.com", legacy, "CAF\u{c9}@EXAMPLE.COM"] {
        let tokens = app.login(form, PASSWORD).await;
        let me = expect_json(app.me(&tokens.access).await, 200).await;
        assert_eq!(me["id"], id.as_str(), "{form}");
    }
    let lookalike = app
        .register_response("caf\u{e9}@example.com", PASSWORD)
        .await;
    expect_problem(lookalike, 409, "E008").await;
    // The step runs once: a second migration finds it done and changes nothing.
    app.database.database.migrate().await.unwrap();
    let again = app.login("caf\u{e9}@example.com", PASSWORD).await;
    assert!(!again.access.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn an_account_stored_before_normalisation_keeps_working_on_sqlite() {
    an_account_stored_before_normalisation_keeps_working(TestDatabase::sqlite().await).await;
}

#[tokio::test]
async fn an_account_stored_before_normalisation_keeps_working_on_postgres() {
    if let Some(database) = TestDatabase::postgres().await {
        an_account_stored_before_normalisation_keeps_working(database).await;
    }
}

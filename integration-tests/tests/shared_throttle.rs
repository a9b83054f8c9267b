//! On PostgreSQL the rate limits are shared by every instance on the database: two
//! `Throttle`s over two pools (two server processes, as far as the database can tell)
//! admit a client's hourly limit once between them, not once each.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use eventstore::Database;
use scoremate::http::throttle::{Client, Throttle};
use testkit::TestDatabase;
use warp::Reply;

fn pool(database: Database) -> sqlx::PgPool {
    match database {
        Database::Postgres(pool) => pool,
        Database::Sqlite(_) => panic!("a PostgreSQL test database"),
    }
}

/// The `r=` of the `RateLimit` header of an admitted request.
fn remaining(
    outcome: Option<Result<Vec<(http::HeaderName, http::HeaderValue)>, impl Reply>>,
) -> u32 {
    let Ok(headers) = outcome.expect("the throttle is on") else {
        panic!("refused too early");
    };
    let (_, status) = headers
        .iter()
        .find(|(name, _)| name == "ratelimit")
        .expect("a RateLimit header");
    let status = status.to_str().unwrap();
    status
        .split(';')
        .find_map(|part| part.strip_prefix("r="))
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no r= in {status}"))
}

#[tokio::test]
async fn instances_on_one_database_share_each_clients_budget() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    let first = Throttle::shared(pool(database.database.clone()), 3, 2);
    let second = Throttle::shared(pool(database.connect_again().await), 3, 2);
    let visitor = Client::Anonymous("198.51.100.7".parse().unwrap());

    // Requests alternate between the instances, as behind a round-robin proxy.
    assert_eq!(remaining(first.check(visitor).await), 2);
    assert_eq!(remaining(second.check(visitor).await), 1);
    assert_eq!(remaining(first.check(visitor).await), 0);
    for throttle in [&second, &first] {
        let refused = match throttle.check(visitor).await.expect("the throttle is on") {
            Ok(_) => panic!("the fourth request of the hour was admitted"),
            Err(error) => error.into_response(),
        };
        assert_eq!(refused.status(), 429);
        let retry_after: u64 = refused.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        // One request's worth of the hour (3,600 s / 3) at the most, less what has passed.
        assert!(
            (1..=1200).contains(&retry_after),
            "Retry-After: {retry_after}"
        );
    }

    // Other clients have budgets of their own, users apart from addresses.
    let neighbour = Client::Anonymous("198.51.100.8".parse().unwrap());
    assert_eq!(remaining(second.check(neighbour).await), 2);
    let user = Client::User(uuid::Uuid::new_v4());
    assert_eq!(remaining(second.check(user).await), 1);
    assert_eq!(remaining(first.check(user).await), 0);
    assert!(matches!(first.check(user).await, Some(Err(_))));

    // A throttle that is off counts nothing, shared or not.
    let off = Throttle::shared(pool(database.connect_again().await), 0, 0);
    assert!(off.check(visitor).await.is_none());

    // Full buckets are forgotten; the exhausted ones stay until they refill.
    first.forget_idle().await;
    assert!(matches!(second.check(visitor).await, Some(Err(_))));
    database.cleanup().await;
}

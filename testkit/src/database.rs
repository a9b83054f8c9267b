//! A fresh, migrated database per test, on either backend.
//!
//! PostgreSQL tests connect to `SCOREMATE_TEST_DATABASE_URL` (default: the local
//! `postgres` database over TCP) to create a database of their own and drop it at the
//! end. Where PostgreSQL is unreachable they are skipped with a printed notice — except
//! when `CI` or `SCOREMATE_REQUIRE_POSTGRES=1` is set, where that is a failure.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use eventstore::{Database, DatabaseOptions};
use sqlx::Connection;
use sqlx::postgres::PgConnection;

const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const NAME_PREFIX: &str = "scoremate_test_";

static NEXT: AtomicU32 = AtomicU32::new(0);

enum Location {
    Sqlite { dir: PathBuf },
    Postgres { admin_url: String, name: String },
}

/// A database that exists for one test.
pub struct TestDatabase {
    pub url: String,
    pub database: Database,
    location: Location,
}

fn postgres_required() -> bool {
    let set = |name: &str| {
        std::env::var(name).is_ok_and(|value| !value.is_empty() && value != "0" && value != "false")
    };
    set("CI") || set("SCOREMATE_REQUIRE_POSTGRES")
}

fn admin_url() -> String {
    std::env::var("SCOREMATE_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned())
}

/// The URL of database `name` on the server of `admin_url`.
fn url_for(admin_url: &str, name: &str) -> String {
    let (base, query) = admin_url
        .split_once('?')
        .map_or((admin_url, None), |(base, query)| (base, Some(query)));
    let server = base.rsplit_once('/').map_or(base, |(server, _)| server);
    match query {
        Some(query) => format!("{server}/{name}?{query}"),
        None => format!("{server}/{name}"),
    }
}

fn unique_suffix() -> String {
    let simple = uuid::Uuid::new_v4().simple().to_string();
    format!(
        "{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        &simple[..8]
    )
}

impl TestDatabase {
    /// A fresh SQLite file in a temporary folder, migrated.
    pub async fn sqlite() -> Self {
        let dir = std::env::temp_dir().join(format!("scoremate-test-{}", unique_suffix()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|error| panic!("creating {dir:?}: {error}"));
        let url = format!("sqlite://{}", dir.join("scoremate.db").display());
        let database = connect(&url).await;
        Self {
            url,
            database,
            location: Location::Sqlite { dir },
        }
    }

    /// A fresh PostgreSQL database, migrated; `None` (after a notice) when PostgreSQL is
    /// unreachable and not required.
    pub async fn postgres() -> Option<Self> {
        let admin_url = admin_url();
        let mut admin = match PgConnection::connect(&admin_url).await {
            Ok(connection) => connection,
            Err(error) if !postgres_required() => {
                eprintln!(
                    "NOTICE: PostgreSQL unreachable ({error}); skipping this PostgreSQL test. \
                     Set SCOREMATE_TEST_DATABASE_URL, or CI=1 to make this a failure."
                );
                return None;
            }
            Err(error) => panic!("PostgreSQL is required here but unreachable: {error}"),
        };
        sweep_abandoned(&mut admin).await;
        let name = format!("{NAME_PREFIX}{}", unique_suffix());
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|error| panic!("creating database {name}: {error}"));
        let _ = admin.close().await;
        let url = url_for(&admin_url, &name);
        let database = connect(&url).await;
        Some(Self {
            url,
            database,
            location: Location::Postgres { admin_url, name },
        })
    }

    /// Another pool onto the same database (a second server instance, say).
    pub async fn connect_again(&self) -> Database {
        connect(&self.url).await
    }

    /// Drops a PostgreSQL database under its users' feet, terminating their connections:
    /// what a lost database server looks like to the application.
    pub async fn sabotage(&self) {
        let Location::Postgres { admin_url, name } = &self.location else {
            panic!("sabotage is only implemented for PostgreSQL");
        };
        let mut admin = PgConnection::connect(admin_url)
            .await
            .unwrap_or_else(|error| panic!("connecting to PostgreSQL: {error}"));
        sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|error| panic!("dropping {name}: {error}"));
        let _ = admin.close().await;
    }

    /// Closes the pool and removes the database.
    pub async fn cleanup(self) {
        self.database.close().await;
        match self.location {
            Location::Sqlite { dir } => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Location::Postgres { admin_url, name } => {
                if let Ok(mut admin) = PgConnection::connect(&admin_url).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut admin)
                        .await;
                    let _ = admin.close().await;
                }
            }
        }
    }
}

async fn connect(url: &str) -> Database {
    let options = DatabaseOptions {
        max_connections: 20,
        ..DatabaseOptions::default()
    };
    let database = Database::connect(url, &options)
        .await
        .unwrap_or_else(|error| panic!("connecting to the test database: {error}"));
    database
        .migrate()
        .await
        .unwrap_or_else(|error| panic!("migrating the test database: {error:?}"));
    database
}

/// Drops test databases left behind by test processes that no longer run (a test that
/// panicked never reaches its cleanup).
async fn sweep_abandoned(admin: &mut PgConnection) {
    let Ok(names) = sqlx::query_scalar::<_, String>(
        "SELECT datname FROM pg_database WHERE datname LIKE 'scoremate\\_test\\_%'",
    )
    .fetch_all(&mut *admin)
    .await
    else {
        return;
    };
    for name in names {
        let pid = name
            .strip_prefix(NAME_PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|pid| pid.parse::<u32>().ok());
        let abandoned = pid.is_some_and(|pid| !PathBuf::from(format!("/proc/{pid}")).exists());
        if abandoned {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut *admin)
                .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::url_for;

    #[test]
    fn the_test_database_replaces_the_admin_database_in_the_url() {
        assert_eq!(
            url_for("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            url_for("postgres://u@h/postgres?sslmode=disable", "t1"),
            "postgres://u@h/t1?sslmode=disable"
        );
    }
}

//! What every request handler shares: the database, the settings, the command side.
//!
//! Built once by `app`; handlers receive a clone per request (everything in it is shared).

use std::sync::Arc;

use aggregates::{Account, Quota, Score, Session, Setlist};
use cqrs_es::Aggregate;
use eventstore::{AggregateStore, Committed, Database};
use objectstore::ObjectStore;
use processors::PdfJobs;
use projections::{OwnerChanges, ProjectionRunner, Scores, Setlists};
use tokio::sync::Notify;
use warp::Filter;

use crate::auth::{Passwords, Tokens};
use crate::http::authenticate::Authenticator;
use crate::http::read_your_writes;
use crate::http::throttle::Throttle;
use crate::settings::Settings;
use crate::sync_token::SyncTokenKey;
use crate::upload_locks::UploadLocks;
use crate::web::WebPage;

/// What request handlers share.
#[derive(Debug, Clone)]
pub struct AppState {
    pub database: Database,
    pub settings: Arc<Settings>,
    pub services: Arc<Services>,
    /// Base of the absolute links in answers: `SCOREMATE_PUBLIC_URL`, else this
    /// process's bound API address.
    pub public_url: Arc<str>,
    /// The web page's security headers.
    pub web_page: Arc<WebPage>,
}

/// The command side and the security machinery, built once at start.
pub struct Services {
    pub accounts: AggregateStore<Account>,
    pub sessions: Arc<AggregateStore<Session>>,
    pub quotas: Arc<AggregateStore<Quota>>,
    pub scores: Arc<AggregateStore<Score>>,
    pub objects: ObjectStore,
    /// One confirmation per upload at a time (`POST /scores`).
    pub upload_locks: UploadLocks,
    /// The score read model, kept at the log head by its own loop; commands wait for it
    /// to reach their change before they answer (read-your-writes).
    pub scores_view: Arc<ProjectionRunner<Scores>>,
    /// The setlist read model, likewise.
    pub setlists_view: Arc<ProjectionRunner<Setlists>>,
    pub setlists: Arc<AggregateStore<Setlist>>,
    /// Signalled after every append by this process: wakes the background followers.
    pub appended: Arc<Notify>,
    /// The child process every PDF job runs in.
    pub pdf_sandbox: Arc<score_pdf::Sandbox>,
    /// The PDF jobs this process claims and runs.
    pub pdf_jobs: Arc<PdfJobs>,
    /// Signalled when PDF jobs are enqueued: wakes the claim loop.
    pub jobs_ready: Arc<Notify>,
    pub passwords: Passwords,
    pub tokens: Arc<Tokens>,
    pub throttle: Arc<Throttle>,
    /// Seals and opens the change feed's tokens.
    pub sync_tokens: SyncTokenKey,
    /// The change feed's long-polls, woken by the projections the feed reads.
    pub changes: Arc<OwnerChanges>,
    /// The bounds on rendering page previews on demand.
    pub previews: Arc<crate::preview_renders::PreviewRenders>,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services")
            .field("tokens", &self.tokens)
            .field("throttle", &self.throttle)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// A filter handing every request its own clone of the state (all of it shared).
    pub fn each_request(
        &self,
    ) -> impl Filter<Extract = (Self,), Error = std::convert::Infallible> + Clone + use<> {
        let state = self.clone();
        warp::any().map(move || state.clone())
    }

    /// What checking a bearer token needs.
    pub fn authenticator(&self) -> Authenticator {
        Authenticator::new(
            Arc::clone(&self.services.tokens),
            Arc::clone(&self.services.sessions),
        )
    }

    /// Answers once the score read model has applied `change` (read-your-writes).
    pub async fn after_score_change<A: Aggregate>(
        &self,
        change: &Committed<A>,
        response: warp::reply::Response,
    ) -> warp::reply::Response {
        read_your_writes::after_change(&self.database, &self.services.scores_view, change, response)
            .await
    }

    /// Answers once the setlist read model has applied `change` (read-your-writes).
    pub async fn after_setlist_change<A: Aggregate>(
        &self,
        change: &Committed<A>,
        response: warp::reply::Response,
    ) -> warp::reply::Response {
        read_your_writes::after_change(
            &self.database,
            &self.services.setlists_view,
            change,
            response,
        )
        .await
    }
}

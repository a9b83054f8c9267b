//! `GET /metrics`: Prometheus text. Counters and histograms are recorded where things
//! happen (requests in the server, commands in the event store, PDF jobs in the
//! processors); lags are measured from the checkpoints, and the PDF job queue's depth from
//! its table, when scraped.

use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use eventstore::{Database, EventLog};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use warp::Filter;
use warp::http::header;

/// The processors' checkpoint names, whose lag is reported beside the projections'.
pub const PROCESSOR_NAMES: [&str; 6] = [
    "quota",
    "object_cleanup",
    "setlist_cleanup",
    "file_hash",
    "pdf_info",
    "thumbnail",
];

/// The process's recorder, installed on first use. Several servers in one process (tests)
/// share it; should another recorder already be installed, metrics render empty.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets(&[
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ])
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("another metrics recorder is installed; /metrics stays empty");
        }
        handle
    })
}

/// Every follower's lag (committed events it has not handled): projections by name, then
/// processors.
pub async fn lags(database: &Database) -> Result<Vec<Lag>, projections::ProjectionError> {
    let mut lags: Vec<Lag> = projections::status(database)
        .await?
        .into_iter()
        .map(|status| Lag {
            kind: "projection",
            name: status.name,
            events: status.lag,
            seconds: seconds_since(status.behind_since),
        })
        .collect();
    let log = EventLog::new(database.clone());
    for name in PROCESSOR_NAMES {
        let checkpoint = projections::checkpoint_of(database, name).await?;
        lags.push(Lag {
            kind: "processor",
            name,
            events: log.count_after(checkpoint).await?,
            seconds: seconds_since(projections::oldest_after(&log, checkpoint).await?),
        });
    }
    Ok(lags)
}

fn seconds_since(recorded_at: Option<DateTime<Utc>>) -> f64 {
    recorded_at.map_or(0.0, |recorded_at| {
        (Utc::now() - recorded_at)
            .to_std()
            .unwrap_or_default()
            .as_secs_f64()
    })
}

/// One follower's lag.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lag {
    /// `projection` or `processor`.
    pub kind: &'static str,
    pub name: &'static str,
    pub events: i64,
    /// How long the oldest event it has not applied has been committed (0: none).
    pub seconds: f64,
}

/// Sets the lag gauges of every follower.
async fn measure_lags(database: &Database) {
    match lags(database).await {
        Ok(lags) => {
            for lag in lags {
                let events = lag.events as f64;
                match lag.kind {
                    "projection" => {
                        metrics::gauge!("scoremate_projection_lag_events", "projection" => lag.name)
                            .set(events);
                        metrics::gauge!("scoremate_projection_lag_seconds", "projection" => lag.name)
                            .set(lag.seconds);
                    }
                    _ => {
                        metrics::gauge!("scoremate_processor_lag_events", "processor" => lag.name)
                            .set(events);
                        metrics::gauge!("scoremate_processor_lag_seconds", "processor" => lag.name)
                            .set(lag.seconds);
                    }
                }
            }
        }
        Err(error) => tracing::warn!(%error, "measuring lags failed"),
    }
}

/// Sets the gauge of unfinished PDF jobs by stage and state (`queued`, `running`); a pair
/// with no job reads 0.
async fn measure_job_queue(database: &Database) {
    match processors::jobs::queue_depth(database).await {
        Ok(depths) => {
            for stage in ["pdf_info", "thumbnail"] {
                for job_state in ["queued", "running"] {
                    let jobs = depths
                        .iter()
                        .find(|depth| depth.stage == stage && depth.state == job_state)
                        .map_or(0, |depth| depth.jobs);
                    metrics::gauge!("scoremate_pdf_jobs_unfinished", "stage" => stage, "state" => job_state)
                        .set(jobs as f64);
                }
            }
        }
        Err(error) => tracing::warn!(%error, "measuring the PDF job queue failed"),
    }
}

/// `GET /metrics`.
pub fn route(
    database: Database,
) -> impl Filter<Extract = (impl warp::Reply,), Error = warp::Rejection> + Clone {
    warp::path!("metrics")
        .and(warp::get())
        .map(move || database.clone())
        .then(|database: Database| async move {
            measure_lags(&database).await;
            measure_job_queue(&database).await;
            let mut response = warp::reply::Response::new(handle().render().into());
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            response
        })
}

/// One request's figures, by route template (never the raw path) and status.
pub fn record_request(method: &str, route: Option<&str>, status: u16, seconds: f64) {
    let route = route.unwrap_or("unmatched").to_owned();
    let method = method.to_owned();
    metrics::counter!(
        "scoremate_http_requests_total",
        "method" => method.clone(),
        "route" => route.clone(),
        "status" => status.to_string()
    )
    .increment(1);
    metrics::histogram!(
        "scoremate_http_request_duration_seconds",
        "method" => method,
        "route" => route
    )
    .record(seconds);
}

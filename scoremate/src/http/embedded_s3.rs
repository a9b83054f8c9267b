//! The embedded S3 endpoint (`objectstore::EmbeddedS3`) served under the same connection
//! limits and watchdog as the API (`connections`), so a silent or stalled client can hold
//! neither listener's connections for ever.

use std::future::Future;
use std::net::SocketAddr;

use objectstore::{AcceptLoop, S3Handler};
use tokio::net::TcpListener;

use crate::http::connections::{self, BodyDeadline, ConnectionLimits, ConnectionPolicy};

impl AcceptLoop for ConnectionLimits {
    async fn serve(
        self,
        listener: TcpListener,
        handler: S3Handler,
        stop: impl Future<Output = ()> + Send + 'static,
    ) {
        // Uploads of up to 100 MiB on slow links: a gap between two chunks is timed, not
        // the whole body.
        let policy = ConnectionPolicy {
            name: "embedded_s3",
            limits: self,
            body_deadline: BodyDeadline::Inactivity,
        };
        let make_service = move |_remote: SocketAddr| handler.clone();
        connections::serve(listener, policy, make_service, stop).await;
    }
}

//! Why the service could not start.

use std::net::SocketAddr;

use eventstore::StoreError;
use objectstore::EmbeddedS3Error;
use objectstore::ObjectStoreError;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("could not create the data directory {path}")]
    DataDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("could not prepare the PDF sandbox: {0}")]
    PdfSandbox(String),
    #[error("could not prepare password hashing: {0}")]
    Passwords(String),
    #[error("could not start the embedded S3 endpoint")]
    EmbeddedS3(#[from] EmbeddedS3Error),
    #[error("the object store is not usable")]
    ObjectStore(#[from] ObjectStoreError),
    #[error(
        "SCOREMATE_S3_ENDPOINT is set but SCOREMATE_S3_ACCESS_KEY_ID or SCOREMATE_S3_SECRET_ACCESS_KEY is not"
    )]
    MissingS3Credentials,
    #[error("could not open the database")]
    Database(#[from] StoreError),
    #[error("could not bind the HTTP listener to {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

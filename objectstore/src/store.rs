//! Object storage (PDFs, thumbnails) over any S3-compatible store.
//!
//! One adapter for every deployment: AWS S3, MinIO, Garage, R2, and the embedded
//! `s3s-fs` endpoint all go through `aws-sdk-s3` and SigV4, so presigned URLs behave the
//! same in tests and production. The keys it is handed come from [`crate::keys`].
//!
//! Every public call is timed into `scoremate_object_store_duration_seconds{operation,
//! outcome}` by [`timed`], so `/metrics` shows a slow or failing store whoever called it.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
    timeout::TimeoutConfig,
};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use chrono::{DateTime, Utc};

/// A boxed error source, kept for logs; never shown to API clients.
type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Connecting to a healthy store takes milliseconds; a dead one should fail fast.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Readiness probes must answer quickly even when the store hangs mid-request.
const PING_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the objects live and how to sign for them.
#[derive(Clone)]
pub struct ObjectStoreConfig {
    /// Custom endpoint (MinIO, Garage, R2, the embedded one); `None` means AWS S3.
    pub endpoint: Option<String>,
    /// The one bucket holding every object.
    pub bucket: String,
    /// Signing region; `us-east-1` for most S3-compatible stores.
    pub region: String,
    /// Access key id of the static credentials.
    pub access_key_id: String,
    /// Secret access key of the static credentials.
    pub secret_access_key: String,
    /// Address buckets as `endpoint/bucket/key` instead of `bucket.endpoint/key`; custom
    /// endpoints usually need it.
    pub force_path_style: bool,
}

impl fmt::Debug for ObjectStoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectStoreConfig")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"[redacted]")
            .field("force_path_style", &self.force_path_style)
            .finish()
    }
}

/// Why an object-store call failed.
#[derive(Debug, thiserror::Error)]
pub enum ObjectStoreError {
    /// The object does not exist (never uploaded, or already deleted).
    #[error("object {key:?} not found")]
    NotFound {
        /// The missing key.
        key: String,
    },
    /// The object is bigger than the caller is willing to hold in memory.
    #[error("object {key:?} is larger than {max_bytes} bytes")]
    TooLarge {
        /// The oversized key.
        key: String,
        /// The size the store reported, when it reported one.
        size: Option<u64>,
        /// The limit the caller set.
        max_bytes: u64,
    },
    /// The store could not be reached, timed out, throttled us or failed on its side;
    /// the same call may succeed later.
    #[error("object store unavailable during {operation}")]
    Unavailable {
        /// The S3 operation that failed, e.g. `GetObject`.
        operation: &'static str,
        /// What went wrong underneath.
        #[source]
        source: BoxError,
    },
    /// The store refused the request or the request could not be built (wrong
    /// credentials, missing bucket, bad configuration); retrying will not help.
    #[error("object store rejected {operation} (status {status:?}, code {code:?})")]
    Rejected {
        /// The S3 operation that failed, e.g. `PutObject`.
        operation: &'static str,
        /// HTTP status of the store's answer, when there was one.
        status: Option<u16>,
        /// S3 error code, e.g. `AccessDenied`, `NoSuchBucket`.
        code: Option<String>,
        /// What went wrong underneath.
        #[source]
        source: BoxError,
    },
    /// The arguments cannot form a valid request (an expiry beyond what SigV4 allows, a
    /// size that does not fit the protocol).
    #[error("invalid object store request: {0}")]
    InvalidRequest(String),
}

impl ObjectStoreError {
    /// Whether retrying the same call later may succeed.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }
}

/// A request the client performs itself, directly against the object store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresignedRequest {
    /// The full URL, signature included in the query string.
    pub url: String,
    /// The HTTP method the signature is valid for.
    pub method: String,
    /// Headers the client must send exactly as given: they are part of the signature.
    pub headers: BTreeMap<String, String>,
    /// When the signature stops being accepted.
    pub expires_at: DateTime<Utc>,
}

/// What [`ObjectStore::read_hashed`] learnt from reading an object once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashedObject {
    pub head: ObjectHead,
    /// The first bytes, as many as asked for (fewer if the object is shorter).
    pub prefix: Vec<u8>,
    /// SHA-256 of the whole object, lowercase hex.
    pub sha256: String,
}

/// What the store knows about an object without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectHead {
    /// Size in bytes.
    pub size: u64,
    /// The store's entity tag, without the surrounding quotes.
    pub etag: String,
    /// The `Content-Type` stored with the object, if any.
    pub content_type: Option<String>,
}

impl ObjectHead {
    /// From a HEAD's or a GET's answer: the entity tag loses its quotes.
    fn of(size: u64, etag: Option<&str>, content_type: Option<&str>) -> Self {
        Self {
            size,
            etag: etag
                .map(|etag| etag.trim_matches('"').to_owned())
                .unwrap_or_default(),
            content_type: content_type.map(str::to_owned),
        }
    }
}

/// A handle on one bucket of an S3-compatible store; cheap to clone.
#[derive(Debug, Clone)]
pub struct ObjectStore {
    client: Client,
    bucket: String,
}

impl ObjectStore {
    /// Builds the client by hand (no environment or profile lookup): static credentials,
    /// the given region and endpoint.
    #[must_use]
    pub fn new(config: ObjectStoreConfig) -> Self {
        let credentials = Credentials::new(
            config.access_key_id,
            config.secret_access_key,
            None,
            None,
            "scoremate-settings",
        );
        let mut builder = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(config.region))
            .credentials_provider(credentials)
            .force_path_style(config.force_path_style)
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .build(),
            )
            // Checksums only where S3 demands them: a default-on CRC header would become
            // part of a presigned PUT that a plain HTTP client cannot reproduce.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        if let Some(endpoint) = config.endpoint {
            builder = builder.endpoint_url(endpoint);
        }
        Self {
            client: Client::from_conf(builder.build()),
            bucket: config.bucket,
        }
    }

    /// The bucket this store writes to.
    #[must_use]
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Creates the bucket unless it already exists.
    pub async fn ensure_bucket(&self) -> Result<(), ObjectStoreError> {
        timed("ensure_bucket", async {
            if self.bucket_exists().await? {
                return Ok(());
            }
            match self
                .client
                .create_bucket()
                .bucket(&self.bucket)
                .send()
                .await
            {
                Ok(_) => Ok(()),
                Err(error) => match error.code() {
                    Some("BucketAlreadyOwnedByYou") => Ok(()),
                    // Lost a creation race, or a store (s3s-fs) that says "exists" for our own
                    // bucket: it is fine if we can now see it.
                    Some("BucketAlreadyExists") if self.bucket_exists().await? => Ok(()),
                    _ => Err(classify("CreateBucket", None, error)),
                },
            }
        })
        .await
    }

    async fn bucket_exists(&self) -> Result<bool, ObjectStoreError> {
        match self.client.head_bucket().bucket(&self.bucket).send().await {
            Ok(_) => Ok(true),
            Err(error) if status_of(&error) == Some(404) => Ok(false),
            Err(error) => Err(classify("HeadBucket", None, error)),
        }
    }

    /// Checks that the store answers and the bucket is there, within a few seconds.
    pub async fn ping(&self) -> Result<(), ObjectStoreError> {
        timed("ping", async {
            let head = self.client.head_bucket().bucket(&self.bucket).send();
            match tokio::time::timeout(PING_TIMEOUT, head).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(error)) => Err(classify("HeadBucket", None, error)),
                Err(elapsed) => Err(ObjectStoreError::Unavailable {
                    operation: "HeadBucket",
                    source: Box::new(elapsed),
                }),
            }
        })
        .await
    }

    /// A URL the client can PUT exactly `content_length` bytes of `content_type` to.
    ///
    /// Both headers are signed, so the store itself refuses another type or size; the
    /// client must send `headers` unchanged.
    pub async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        content_length: u64,
        expires_in: Duration,
    ) -> Result<PresignedRequest, ObjectStoreError> {
        timed("presign_put", async {
            let length = i64::try_from(content_length).map_err(|_| {
                ObjectStoreError::InvalidRequest(format!(
                    "content length {content_length} too large"
                ))
            })?;
            let (config, expires_at) = presigning(expires_in)?;
            let presigned = self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .content_type(content_type)
                .content_length(length)
                .presigned(config)
                .await
                .map_err(|error| classify("PutObject", Some(key), error))?;
            Ok(into_presigned_request(&presigned, expires_at))
        })
        .await
    }

    /// A URL the client can GET the object from; `content_disposition` (see
    /// [`content_disposition_attachment`]) is echoed back by the store as the response's
    /// `Content-Disposition`.
    pub async fn presign_get(
        &self,
        key: &str,
        expires_in: Duration,
        content_disposition: Option<String>,
    ) -> Result<PresignedRequest, ObjectStoreError> {
        self.presign_get_with(key, presigning(expires_in), content_disposition)
            .await
    }

    /// A presigned GET that stays the same URL for a whole `window` and is valid for at
    /// least `window` after it is made: a browser caches the object under it (thumbnails in
    /// a grid) instead of fetching it again for every fresh signature.
    pub async fn presign_get_cacheable(
        &self,
        key: &str,
        window: Duration,
    ) -> Result<PresignedRequest, ObjectStoreError> {
        self.presign_get_with(key, presigning_in_window(window * 2, window), None)
            .await
    }

    async fn presign_get_with(
        &self,
        key: &str,
        presigning: Result<(PresigningConfig, DateTime<Utc>), ObjectStoreError>,
        content_disposition: Option<String>,
    ) -> Result<PresignedRequest, ObjectStoreError> {
        timed("presign_get", async {
            let (config, expires_at) = presigning?;
            let presigned = self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .set_response_content_disposition(content_disposition)
                .presigned(config)
                .await
                .map_err(|error| classify("GetObject", Some(key), error))?;
            Ok(into_presigned_request(&presigned, expires_at))
        })
        .await
    }

    /// Size, entity tag and type of an object; `None` when it does not exist.
    pub async fn head(&self, key: &str) -> Result<Option<ObjectHead>, ObjectStoreError> {
        timed("head", async {
            let output = match self
                .client
                .head_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await
            {
                Ok(output) => output,
                Err(error) => {
                    return match classify("HeadObject", Some(key), error) {
                        ObjectStoreError::NotFound { .. } => Ok(None),
                        other => Err(other),
                    };
                }
            };
            let size = output
                .content_length()
                .and_then(|length| u64::try_from(length).ok())
                .ok_or_else(|| ObjectStoreError::Rejected {
                    operation: "HeadObject",
                    status: None,
                    code: None,
                    source: "the store sent no usable Content-Length".into(),
                })?;
            Ok(Some(ObjectHead::of(
                size,
                output.e_tag(),
                output.content_type(),
            )))
        })
        .await
    }

    /// The whole object streamed through SHA-256, in one request: its size, entity tag,
    /// first `prefix_bytes` bytes and hash, holding no more than the prefix and one chunk
    /// in memory. `None` when the object is missing; [`ObjectStoreError::TooLarge`] past
    /// `max_bytes` (checked before and while reading).
    pub async fn read_hashed(
        &self,
        key: &str,
        prefix_bytes: u64,
        max_bytes: u64,
    ) -> Result<Option<HashedObject>, ObjectStoreError> {
        use sha2::Digest;
        timed("read_hashed", async {
            let output = match self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await
            {
                Ok(output) => output,
                Err(error) => {
                    return match classify("GetObject", Some(key), error) {
                        ObjectStoreError::NotFound { .. } => Ok(None),
                        other => Err(other),
                    };
                }
            };
            let too_large = |size| ObjectStoreError::TooLarge {
                key: key.to_owned(),
                size,
                max_bytes,
            };
            let declared = output
                .content_length
                .and_then(|length| u64::try_from(length).ok());
            if let Some(size) = declared.filter(|size| *size > max_bytes) {
                return Err(too_large(Some(size)));
            }
            let etag = output.e_tag().map(str::to_owned);
            let content_type = output.content_type().map(str::to_owned);
            let prefix_limit = usize::try_from(prefix_bytes).unwrap_or(usize::MAX);
            let mut prefix = Vec::new();
            let mut hasher = sha2::Sha256::new();
            let mut size: u64 = 0;
            let mut body = output.body;
            while let Some(chunk) = body.try_next().await.map_err(body_error)? {
                size += chunk.len() as u64;
                if size > max_bytes {
                    return Err(too_large(declared));
                }
                let room = prefix_limit.saturating_sub(prefix.len());
                prefix.extend_from_slice(&chunk[..room.min(chunk.len())]);
                hasher.update(&chunk);
            }
            let sha256 = hasher
                .finalize()
                .iter()
                .map(|byte| format!("{byte:02x}"))
                .collect();
            Ok(Some(HashedObject {
                head: ObjectHead::of(size, etag.as_deref(), content_type.as_deref()),
                prefix,
                sha256,
            }))
        })
        .await
    }

    /// The whole object, refused with [`ObjectStoreError::TooLarge`] when it holds more
    /// than `max_bytes` bytes (checked before and while reading).
    pub async fn get(&self, key: &str, max_bytes: u64) -> Result<Vec<u8>, ObjectStoreError> {
        timed("get", async {
            let output = self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await
                .map_err(|error| classify("GetObject", Some(key), error))?;
            let declared = output
                .content_length
                .and_then(|length| u64::try_from(length).ok());
            if let Some(size) = declared.filter(|size| *size > max_bytes) {
                return Err(ObjectStoreError::TooLarge {
                    key: key.to_owned(),
                    size: Some(size),
                    max_bytes,
                });
            }
            let (bytes, complete) = collect_at_most(output.body, max_bytes, output.content_length)
                .await
                .map_err(body_error)?;
            if !complete {
                return Err(ObjectStoreError::TooLarge {
                    key: key.to_owned(),
                    size: declared,
                    max_bytes,
                });
            }
            Ok(bytes)
        })
        .await
    }

    /// Stores `bytes` under `key`, replacing any previous object.
    pub async fn put(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<(), ObjectStoreError> {
        timed("put", async {
            let length = i64::try_from(bytes.len()).map_err(|_| {
                ObjectStoreError::InvalidRequest(format!(
                    "object of {} bytes too large",
                    bytes.len()
                ))
            })?;
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .content_type(content_type)
                .content_length(length)
                .body(ByteStream::from(bytes))
                .send()
                .await
                .map_err(|error| classify("PutObject", Some(key), error))?;
            Ok(())
        })
        .await
    }

    /// Removes an object; removing one that does not exist succeeds, so cleanups can be
    /// retried.
    pub async fn delete(&self, key: &str) -> Result<(), ObjectStoreError> {
        timed("delete", async {
            match self
                .client
                .delete_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await
            {
                Ok(_) => Ok(()),
                Err(error) => match classify("DeleteObject", Some(key), error) {
                    ObjectStoreError::NotFound { .. } => Ok(()),
                    other => Err(other),
                },
            }
        })
        .await
    }

    /// Copies `source` to `destination` inside the bucket, on the store's side
    /// (CopyObject: no byte passes through this process), replacing any object there;
    /// [`ObjectStoreError::NotFound`] when `source` does not exist. A PUT racing the copy
    /// leaves either the old or the new bytes in `destination`, never a mix.
    pub async fn copy(&self, source: &str, destination: &str) -> Result<(), ObjectStoreError> {
        timed("copy", async {
            self.client
                .copy_object()
                .bucket(&self.bucket)
                .key(destination)
                .copy_source(copy_source(&self.bucket, source))
                .send()
                .await
                .map_err(|error| classify("CopyObject", Some(source), error))?;
            Ok(())
        })
        .await
    }

    /// One page (up to 1,000) of the keys under `prefix`, in key order, and the token that
    /// asks for the next page when there is one (ListObjectsV2).
    pub async fn list_page(
        &self,
        prefix: &str,
        continuation: Option<String>,
    ) -> Result<KeyPage, ObjectStoreError> {
        timed("list", async {
            let output = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(continuation)
                .send()
                .await
                .map_err(|error| classify("ListObjectsV2", None, error))?;
            let keys = output
                .contents()
                .iter()
                .filter_map(|object| object.key().map(str::to_owned))
                .collect();
            let next = output
                .is_truncated()
                .unwrap_or(false)
                .then(|| output.next_continuation_token().map(str::to_owned))
                .flatten();
            Ok(KeyPage { keys, next })
        })
        .await
    }
}

/// A page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPage {
    /// The keys of this page, in key order.
    pub keys: Vec<String>,
    /// Pass it to [`ObjectStore::list_page`] for the next page; `None` on the last one.
    pub next: Option<String>,
}

/// The `x-amz-copy-source` value of `key` in `bucket`: `bucket/key`, the key
/// percent-encoded except for its slashes.
fn copy_source(bucket: &str, key: &str) -> String {
    let mut encoded = String::with_capacity(bucket.len() + 1 + key.len());
    encoded.push_str(bucket);
    encoded.push('/');
    for byte in key.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// Runs one object-store call and records its wall-clock time, body transfer included, as
/// `scoremate_object_store_duration_seconds{operation, outcome}`.
///
/// `operation` is the [`ObjectStore`] method (`head`, `get`, `presign_put`, …); `outcome`
/// is `ok`, `not_found` (a missing object the caller is told about) or `error` (anything
/// else that failed: the store unreachable or refusing, an object too large, a request
/// that could not be built). Labels stay a small fixed set: never a key or a bucket.
async fn timed<T>(
    operation: &'static str,
    call: impl Future<Output = Result<T, ObjectStoreError>>,
) -> Result<T, ObjectStoreError> {
    let started = Instant::now();
    let result = call.await;
    let outcome = match &result {
        Ok(_) => "ok",
        Err(ObjectStoreError::NotFound { .. }) => "not_found",
        Err(_) => "error",
    };
    metrics::histogram!(
        "scoremate_object_store_duration_seconds",
        "operation" => operation,
        "outcome" => outcome
    )
    .record(started.elapsed().as_secs_f64());
    result
}

/// A presigning config starting at the current whole second, and the matching expiry.
///
/// SigV4 dates have one-second resolution; pinning the start to a whole second makes
/// the reported `expires_at` exactly the instant the store stops accepting the URL.
fn presigning(expires_in: Duration) -> Result<(PresigningConfig, DateTime<Utc>), ObjectStoreError> {
    presigning_in_window(expires_in, Duration::from_secs(1))
}

/// A signature valid from the start of the current `window` (whole seconds since the
/// epoch), so every signing within one window yields the same URL.
fn presigning_in_window(
    expires_in: Duration,
    window: Duration,
) -> Result<(PresigningConfig, DateTime<Utc>), ObjectStoreError> {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|error| ObjectStoreError::InvalidRequest(format!("system clock: {error}")))?;
    let window = window.as_secs().max(1);
    let start = UNIX_EPOCH + Duration::from_secs(since_epoch.as_secs() / window * window);
    let config = PresigningConfig::builder()
        .start_time(start)
        .expires_in(expires_in)
        .build()
        .map_err(|error| ObjectStoreError::InvalidRequest(error.to_string()))?;
    Ok((config, DateTime::<Utc>::from(start + expires_in)))
}

fn into_presigned_request(
    presigned: &aws_sdk_s3::presigning::PresignedRequest,
    expires_at: DateTime<Utc>,
) -> PresignedRequest {
    PresignedRequest {
        url: presigned.uri().to_owned(),
        method: presigned.method().to_owned(),
        headers: presigned
            .headers()
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect(),
        expires_at,
    }
}

/// Reads at most `limit` bytes of `body`. The flag is `true` when the body ended within
/// the limit, `false` when more bytes were on their way (the rest is not read).
async fn collect_at_most(
    mut body: ByteStream,
    limit: u64,
    declared_length: Option<i64>,
) -> Result<(Vec<u8>, bool), aws_sdk_s3::primitives::ByteStreamError> {
    let limit_usize = usize::try_from(limit).unwrap_or(usize::MAX);
    // Trust the declared length only up to the caller's limit.
    let capacity = declared_length
        .and_then(|length| usize::try_from(length).ok())
        .unwrap_or(0)
        .min(limit_usize);
    let mut bytes = Vec::with_capacity(capacity);
    while let Some(chunk) = body.try_next().await? {
        let room = limit_usize - bytes.len();
        if chunk.len() > room {
            bytes.extend_from_slice(&chunk[..room]);
            return Ok((bytes, false));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok((bytes, true))
}

fn body_error(source: aws_sdk_s3::primitives::ByteStreamError) -> ObjectStoreError {
    // The store answered and then the body broke off: a network problem.
    ObjectStoreError::Unavailable {
        operation: "GetObject",
        source: Box::new(source),
    }
}

fn status_of<E>(error: &SdkError<E, HttpResponse>) -> Option<u16> {
    error
        .raw_response()
        .map(|response| response.status().as_u16())
}

/// Sorts an SDK failure into "missing", "try again later" and "refused".
///
/// `key` is `None` for bucket-level calls, where a 404 means a missing bucket: a
/// configuration problem, not a missing object.
fn classify<E>(
    operation: &'static str,
    key: Option<&str>,
    error: SdkError<E, HttpResponse>,
) -> ObjectStoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = status_of(&error);
    let code = error.code().map(str::to_owned);
    match &error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => {
            return ObjectStoreError::Unavailable {
                operation,
                source: Box::new(error),
            };
        }
        SdkError::ConstructionFailure(_) => {
            return ObjectStoreError::Rejected {
                operation,
                status,
                code,
                source: DisplayErrorContext(&error).to_string().into(),
            };
        }
        _ => {}
    }
    if let Some(key) = key
        && status == Some(404)
        && code.as_deref() != Some("NoSuchBucket")
    {
        return ObjectStoreError::NotFound {
            key: key.to_owned(),
        };
    }
    let transient = matches!(status, Some(408 | 429 | 500..=599))
        || matches!(code.as_deref(), Some("SlowDown" | "RequestTimeout"));
    if transient {
        ObjectStoreError::Unavailable {
            operation,
            source: Box::new(error),
        }
    } else {
        ObjectStoreError::Rejected {
            operation,
            status,
            code,
            source: Box::new(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_copy_source_names_the_bucket_and_encodes_the_key_but_its_slashes() {
        assert_eq!(copy_source("b", "uploads/u/1"), "b/uploads/u/1");
        assert_eq!(copy_source("b", "a b/ü?.pdf"), "b/a%20b/%C3%BC%3F.pdf");
    }

    #[test]
    fn the_secret_key_is_not_printed_in_debug_output() {
        let config = ObjectStoreConfig {
            endpoint: None,
            bucket: "b".to_owned(),
            region: "us-east-1".to_owned(),
            access_key_id: "AKID".to_owned(),
            secret_access_key: "hunter2".to_owned(),
            force_path_style: true,
        };
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    #[test]
    fn an_expiry_beyond_a_week_is_an_invalid_request() {
        let result = presigning(Duration::from_secs(8 * 24 * 3600));
        assert!(matches!(result, Err(ObjectStoreError::InvalidRequest(_))));
    }

    #[test]
    fn the_reported_expiry_is_a_whole_second_after_now() {
        let before = Utc::now();
        let (_, expires_at) =
            presigning(Duration::from_secs(300)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(expires_at.timestamp_subsec_nanos(), 0);
        let delta = expires_at - before;
        assert!(
            delta <= chrono::TimeDelta::seconds(300) && delta > chrono::TimeDelta::seconds(298)
        );
    }
}

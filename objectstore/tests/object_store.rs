//! The object store against the embedded S3 endpoint, driven the way clients drive it:
//! presigned URLs used with a plain HTTP client, and the store's own SigV4 checks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use objectstore::{
    EmbeddedS3, ObjectStore, ObjectStoreConfig, ObjectStoreError, PresignedRequest,
    content_disposition_attachment, load_or_generate_credentials,
};

const BUCKET: &str = "scores";
const PDF: &str = "application/pdf";
const TTL: Duration = Duration::from_secs(300);

/// An embedded endpoint over a fresh folder with fresh credentials, and a store on it.
struct Fixture {
    s3: EmbeddedS3,
    store: ObjectStore,
    root: PathBuf,
    access_key: String,
    secret_key: String,
    http: reqwest::Client,
}

impl Fixture {
    async fn start() -> Self {
        let root = std::env::temp_dir().join(format!("scoremate-objects-{}", uuid::Uuid::new_v4()));
        let (access_key, secret_key) = load_or_generate_credentials(&root).unwrap();
        Self::start_at(root, access_key, secret_key, "127.0.0.1:0".parse().unwrap()).await
    }

    async fn start_at(
        root: PathBuf,
        access_key: String,
        secret_key: String,
        bind: SocketAddr,
    ) -> Self {
        let s3 = EmbeddedS3::start(bind, &root.join("objects"), &access_key, &secret_key)
            .await
            .unwrap();
        let store = store_for(&s3, &access_key, &secret_key);
        store.ensure_bucket().await.unwrap();
        Self {
            s3,
            store,
            root,
            access_key,
            secret_key,
            http: reqwest::Client::new(),
        }
    }

    /// PUTs `body` to a presigned URL with the given headers, as a client app would.
    async fn put(
        &self,
        presigned: &PresignedRequest,
        headers: &BTreeMap<String, String>,
        body: Vec<u8>,
    ) -> reqwest::Response {
        assert_eq!(presigned.method, "PUT");
        let mut request = self.http.put(&presigned.url).body(body);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        request.send().await.unwrap()
    }

    async fn upload(&self, key: &str, body: &[u8]) {
        let presigned = self
            .store
            .presign_put(key, PDF, body.len() as u64, TTL)
            .await
            .unwrap();
        let response = self
            .put(&presigned, &presigned.headers, body.to_vec())
            .await;
        assert_eq!(response.status(), 200);
    }

    async fn stop(self) {
        self.s3.shutdown().await;
        std::fs::remove_dir_all(&self.root).unwrap();
    }
}

fn store_for(s3: &EmbeddedS3, access_key: &str, secret_key: &str) -> ObjectStore {
    ObjectStore::new(ObjectStoreConfig {
        endpoint: Some(s3.endpoint_url()),
        bucket: BUCKET.to_owned(),
        region: "us-east-1".to_owned(),
        access_key_id: access_key.to_owned(),
        secret_access_key: secret_key.to_owned(),
        force_path_style: true,
    })
}

/// A PDF-looking body of `len` bytes with varied content (not one repeated byte, so a
/// truncated or shifted copy cannot compare equal).
fn pdf_bytes(len: usize) -> Vec<u8> {
    let mut bytes = b"%PDF-1.7\n".to_vec();
    let mut state: u32 = 0x9E37_79B9;
    while bytes.len() < len {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        bytes.push(state.to_le_bytes()[0]);
    }
    bytes.truncate(len);
    bytes
}

fn key() -> String {
    objectstore::score_object_key(uuid::Uuid::new_v4(), uuid::Uuid::now_v7())
}

#[tokio::test]
async fn a_presigned_put_with_exactly_the_returned_headers_stores_the_object() {
    let fixture = Fixture::start().await;
    let key = key();
    let body = pdf_bytes(1_048_579);

    let presigned = fixture
        .store
        .presign_put(&key, PDF, body.len() as u64, TTL)
        .await
        .unwrap();
    let response = fixture
        .put(&presigned, &presigned.headers, body.clone())
        .await;

    assert_eq!(response.status(), 200);
    // Type and length are signed headers the client must send; no checksum header sneaks
    // in that a plain HTTP client could not compute.
    assert_eq!(presigned.headers.get("content-type").unwrap(), PDF);
    assert_eq!(
        presigned.headers.get("content-length").unwrap(),
        &body.len().to_string()
    );
    assert!(
        presigned
            .headers
            .keys()
            .all(|name| !name.contains("checksum"))
    );
    assert!(
        presigned
            .url
            .contains("X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost")
    );
    let head = fixture.store.head(&key).await.unwrap().unwrap();
    assert_eq!(head.size, body.len() as u64);
    assert!(!head.etag.is_empty() && !head.etag.contains('"'));
    assert_eq!(head.content_type.as_deref(), Some(PDF));
    fixture.stop().await;
}

#[tokio::test]
async fn read_hashed_tells_what_head_tells_the_first_bytes_and_the_hash_in_one_read() {
    use sha2::Digest;
    let fixture = Fixture::start().await;
    let key = key();
    let body = pdf_bytes(70_000);
    fixture.upload(&key, &body).await;
    let hash: String = sha2::Sha256::digest(&body)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();

    let head = fixture.store.head(&key).await.unwrap().unwrap();
    let read = fixture
        .store
        .read_hashed(&key, 5, 1 << 20)
        .await
        .unwrap()
        .unwrap();
    let whole = fixture
        .store
        .read_hashed(&key, 1 << 20, 1 << 20)
        .await
        .unwrap()
        .unwrap();
    let no_prefix = fixture
        .store
        .read_hashed(&key, 0, 1 << 20)
        .await
        .unwrap()
        .unwrap();
    let too_large = fixture.store.read_hashed(&key, 5, 1_000).await;
    let missing = fixture
        .store
        .read_hashed("never/existed.pdf", 5, 1 << 20)
        .await;

    assert_eq!(read.head, head);
    assert_eq!(read.prefix, b"%PDF-");
    assert_eq!(read.sha256, hash);
    assert_eq!((whole.prefix, whole.sha256), (body, hash.clone()));
    assert!(no_prefix.prefix.is_empty());
    assert_eq!(no_prefix.sha256, hash);
    assert!(
        matches!(
            too_large,
            Err(ObjectStoreError::TooLarge {
                max_bytes: 1_000,
                ..
            })
        ),
        "{too_large:?}"
    );
    assert!(matches!(missing, Ok(None)), "{missing:?}");
    fixture.stop().await;
}

#[tokio::test]
async fn a_presigned_get_returns_the_same_bytes_with_the_requested_content_disposition() {
    let fixture = Fixture::start().await;
    let key = key();
    let body = pdf_bytes(300_001);
    fixture.upload(&key, &body).await;
    let disposition = content_disposition_attachment("바흐 \"Partita\".pdf");

    let presigned = fixture
        .store
        .presign_get(&key, TTL, Some(disposition.clone()))
        .await
        .unwrap();
    let response = fixture.http.get(&presigned.url).send().await.unwrap();

    assert_eq!(presigned.method, "GET");
    assert!(presigned.headers.is_empty(), "{:?}", presigned.headers);
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-disposition"].to_str().unwrap(),
        disposition
    );
    assert_eq!(response.headers()["content-type"], PDF);
    assert_eq!(response.bytes().await.unwrap(), body);
    fixture.stop().await;
}

#[tokio::test]
async fn get_returns_an_object_within_the_limit_and_refuses_a_larger_one() {
    let fixture = Fixture::start().await;
    let key = key();
    let body = pdf_bytes(10_000);
    fixture.upload(&key, &body).await;

    let within = fixture.store.get(&key, 10_000).await.unwrap();
    let over = fixture.store.get(&key, 9_999).await;

    assert_eq!(within, body);
    assert!(
        matches!(
            over,
            Err(ObjectStoreError::TooLarge {
                size: Some(10_000),
                max_bytes: 9_999,
                ..
            })
        ),
        "{over:?}"
    );
    fixture.stop().await;
}

#[tokio::test]
async fn put_stores_bytes_that_get_and_head_read_back() {
    let fixture = Fixture::start().await;
    let key = objectstore::thumbnail_object_key(uuid::Uuid::new_v4(), uuid::Uuid::new_v4());

    fixture
        .store
        .put(&key, b"\x89PNG fake".to_vec(), "image/png")
        .await
        .unwrap();
    fixture
        .store
        .put(&format!("{key}.empty"), Vec::new(), "image/png")
        .await
        .unwrap();

    assert_eq!(fixture.store.get(&key, 100).await.unwrap(), b"\x89PNG fake");
    let head = fixture.store.head(&key).await.unwrap().unwrap();
    assert_eq!(
        (head.size, head.content_type.as_deref()),
        (9, Some("image/png"))
    );
    // An empty object reads as no bytes, with the hash of nothing.
    let empty = fixture
        .store
        .read_hashed(&format!("{key}.empty"), 5, 100)
        .await
        .unwrap()
        .unwrap();
    assert!(empty.prefix.is_empty());
    assert_eq!(
        empty.sha256,
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    fixture.stop().await;
}

#[tokio::test]
async fn a_presigned_put_with_a_tampered_signature_is_refused() {
    let fixture = Fixture::start().await;
    let key = key();
    let body = pdf_bytes(1_000);
    let mut presigned = fixture
        .store
        .presign_put(&key, PDF, body.len() as u64, TTL)
        .await
        .unwrap();
    let last = presigned.url.pop().unwrap();
    presigned.url.push(if last == '0' { '1' } else { '0' });

    let response = fixture.put(&presigned, &presigned.headers, body).await;

    assert_eq!(response.status(), 403);
    assert_eq!(fixture.store.head(&key).await.unwrap(), None);
    fixture.stop().await;
}

#[tokio::test]
async fn a_presigned_put_redirected_to_another_key_is_refused() {
    let fixture = Fixture::start().await;
    let (key, other) = (key(), key());
    let body = pdf_bytes(1_000);
    let mut presigned = fixture
        .store
        .presign_put(&key, PDF, body.len() as u64, TTL)
        .await
        .unwrap();
    assert!(presigned.url.contains(&key));
    presigned.url = presigned.url.replace(&key, &other);

    let response = fixture.put(&presigned, &presigned.headers, body).await;

    assert_eq!(response.status(), 403);
    assert_eq!(fixture.store.head(&other).await.unwrap(), None);
    assert_eq!(fixture.store.head(&key).await.unwrap(), None);
    fixture.stop().await;
}

#[tokio::test]
async fn a_presigned_put_with_another_content_type_is_refused() {
    let fixture = Fixture::start().await;
    let key = key();
    let body = pdf_bytes(1_000);
    let presigned = fixture
        .store
        .presign_put(&key, PDF, body.len() as u64, TTL)
        .await
        .unwrap();
    let mut headers = presigned.headers.clone();
    headers.insert("content-type".to_owned(), "text/html".to_owned());

    let response = fixture.put(&presigned, &headers, body).await;

    assert_eq!(response.status(), 403);
    assert_eq!(fixture.store.head(&key).await.unwrap(), None);
    fixture.stop().await;
}

#[tokio::test]
async fn a_presigned_put_declaring_more_bytes_than_signed_is_refused() {
    let fixture = Fixture::start().await;
    let key = key();
    let presigned = fixture
        .store
        .presign_put(&key, PDF, 1_000, TTL)
        .await
        .unwrap();
    let mut headers = presigned.headers.clone();
    headers.insert("content-length".to_owned(), "1010".to_owned());

    // An honest client sending 1010 bytes says so in Content-Length, which no longer
    // matches the signed value: the signature check fails before any byte is stored.
    let response = fixture.put(&presigned, &headers, pdf_bytes(1_010)).await;

    assert_eq!(response.status(), 403);
    assert_eq!(fixture.store.head(&key).await.unwrap(), None);
    fixture.stop().await;
}

#[tokio::test]
async fn bytes_beyond_the_signed_content_length_never_become_part_of_the_object() {
    let fixture = Fixture::start().await;
    let key = key();
    let body = pdf_bytes(1_010);
    let presigned = fixture
        .store
        .presign_put(&key, PDF, 1_000, TTL)
        .await
        .unwrap();

    // A dishonest client keeps the signed `Content-Length: 1000` and writes 1010 bytes.
    // HTTP framing ends the body after 1000 bytes: those are stored (200); the 10 extra
    // bytes are never read as part of the object (this request asked to close the
    // connection after the answer). The object cannot exceed the signed size. reqwest
    // cannot even send this: given `Content-Length: 1000`, it cuts the body at 1000 bytes.
    let answer = raw_put(&fixture, &presigned, &body).await;

    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let stored = fixture.store.get(&key, 2_000).await.unwrap();
    assert_eq!(stored, body[..1_000]);
    fixture.stop().await;
}

#[tokio::test]
async fn a_body_shorter_than_the_signed_content_length_stores_nothing() {
    let fixture = Fixture::start().await;
    let key = key();
    let presigned = fixture
        .store
        .presign_put(&key, PDF, 1_000, TTL)
        .await
        .unwrap();

    // The client gives up after 990 of the 1000 signed bytes and closes its side. s3s-fs
    // writes to a temporary file and only renames it into place once the body is
    // complete; the early end of the body surfaces as a 500 InternalError.
    let answer = raw_put(&fixture, &presigned, &pdf_bytes(990)).await;

    assert!(answer.starts_with("HTTP/1.1 500"), "{answer}");
    assert_eq!(fixture.store.head(&key).await.unwrap(), None);
    fixture.stop().await;
}

#[tokio::test]
async fn an_expired_presigned_url_is_refused() {
    let fixture = Fixture::start().await;
    let key = key();
    let body = pdf_bytes(1_000);
    let presigned = fixture
        .store
        .presign_put(&key, PDF, body.len() as u64, Duration::from_secs(1))
        .await
        .unwrap();

    // The one sleep in this suite: expiry is judged by the store's own clock.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let response = fixture.put(&presigned, &presigned.headers, body).await;

    assert!(presigned.expires_at < chrono::Utc::now());
    assert_eq!(response.status(), 403);
    assert_eq!(fixture.store.head(&key).await.unwrap(), None);
    fixture.stop().await;
}

#[tokio::test]
async fn requests_signed_with_wrong_credentials_are_refused() {
    let fixture = Fixture::start().await;
    let key = key();
    let body = pdf_bytes(1_000);
    let wrong_secret = store_for(&fixture.s3, &fixture.access_key, "not-the-secret");
    let unknown_key = store_for(&fixture.s3, "AKUNKNOWN", &fixture.secret_key);

    let presigned = wrong_secret
        .presign_put(&key, PDF, body.len() as u64, TTL)
        .await
        .unwrap();
    let response = fixture
        .put(&presigned, &presigned.headers, body.clone())
        .await;
    let direct = wrong_secret.put(&key, body.clone(), PDF).await;
    let unknown = unknown_key.put(&key, body, PDF).await;
    let ping = wrong_secret.ping().await;

    assert_eq!(response.status(), 403);
    for result in [direct, unknown, ping] {
        assert!(
            matches!(
                &result,
                Err(error @ ObjectStoreError::Rejected { status: Some(403), .. })
                    if !error.is_transient()
            ),
            "{result:?}"
        );
    }
    assert_eq!(fixture.store.head(&key).await.unwrap(), None);
    fixture.stop().await;
}

#[tokio::test]
async fn an_unsigned_request_is_refused() {
    let fixture = Fixture::start().await;
    let key = key();
    fixture.upload(&key, b"%PDF-1.7").await;

    let url = format!("{}/{BUCKET}/{key}", fixture.s3.endpoint_url());
    let response = fixture.http.get(&url).send().await.unwrap();

    assert_eq!(response.status(), 403);
    fixture.stop().await;
}

#[tokio::test]
async fn a_deleted_object_is_gone_and_deleting_it_again_still_succeeds() {
    let fixture = Fixture::start().await;
    let key = key();
    fixture.upload(&key, &pdf_bytes(2_000)).await;

    fixture.store.delete(&key).await.unwrap();

    assert_eq!(fixture.store.head(&key).await.unwrap(), None);
    fixture.store.delete(&key).await.unwrap();
    fixture.store.delete("never/existed.pdf").await.unwrap();
    fixture.stop().await;
}

#[tokio::test]
async fn reading_a_missing_object_answers_not_found() {
    let fixture = Fixture::start().await;
    let key = key();

    let head = fixture.store.head(&key).await;
    let hashed = fixture.store.read_hashed(&key, 5, 100).await;
    let whole = fixture.store.get(&key, 100).await;

    assert!(matches!(head, Ok(None)), "{head:?}");
    assert!(matches!(hashed, Ok(None)), "{hashed:?}");
    assert!(
        matches!(&whole, Err(ObjectStoreError::NotFound { key: missing }) if *missing == key),
        "{whole:?}"
    );
    fixture.stop().await;
}

#[tokio::test]
async fn ensure_bucket_is_idempotent_and_ping_sees_the_bucket() {
    let fixture = Fixture::start().await;

    fixture.store.ensure_bucket().await.unwrap();
    fixture.store.ensure_bucket().await.unwrap();

    fixture.store.ping().await.unwrap();
    let other = ObjectStore::new(ObjectStoreConfig {
        endpoint: Some(fixture.s3.endpoint_url()),
        bucket: "not-created".to_owned(),
        region: "us-east-1".to_owned(),
        access_key_id: fixture.access_key.clone(),
        secret_access_key: fixture.secret_key.clone(),
        force_path_style: true,
    });
    let missing_bucket = other.ping().await;
    assert!(
        matches!(
            &missing_bucket,
            Err(ObjectStoreError::Rejected {
                status: Some(404),
                ..
            })
        ),
        "{missing_bucket:?}"
    );
    fixture.stop().await;
}

#[tokio::test]
async fn a_stopped_endpoint_is_reported_unavailable() {
    let fixture = Fixture::start().await;
    let store = fixture.store.clone();
    let root = fixture.root.clone();
    fixture.s3.shutdown().await;

    let ping = store.ping().await;

    assert!(
        matches!(&ping, Err(error @ ObjectStoreError::Unavailable { .. }) if error.is_transient()),
        "{ping:?}"
    );
    std::fs::remove_dir_all(root).unwrap();
}

#[tokio::test]
async fn presigned_urls_and_objects_survive_a_restart_of_the_embedded_endpoint() {
    let fixture = Fixture::start().await;
    let key = key();
    let body = pdf_bytes(5_000);
    fixture.upload(&key, &body).await;
    let presigned = fixture.store.presign_get(&key, TTL, None).await.unwrap();
    let (root, addr) = (fixture.root.clone(), fixture.s3.local_addr());
    fixture.s3.shutdown().await;

    // Same data folder, same port, credentials read back from the data folder.
    let (access_key, secret_key) = load_or_generate_credentials(&root).unwrap();
    let restarted = Fixture::start_at(root, access_key, secret_key, addr).await;
    let response = restarted.http.get(&presigned.url).send().await.unwrap();

    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.unwrap(), body);
    restarted.stop().await;
}

#[tokio::test]
async fn a_server_side_copy_keeps_the_bytes_a_later_put_to_the_source_cannot_reach() {
    let fixture = Fixture::start().await;
    let (user, upload) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    let staged = objectstore::upload_staging_key(user, upload);
    let kept = objectstore::score_object_key(user, upload);
    let body = pdf_bytes(200_003);
    let presigned = fixture
        .store
        .presign_put(&staged, PDF, body.len() as u64, TTL)
        .await
        .unwrap();
    assert_eq!(
        fixture
            .put(&presigned, &presigned.headers, body.clone())
            .await
            .status(),
        200
    );

    fixture.store.copy(&staged, &kept).await.unwrap();
    let mut other = body.clone();
    other[..6].copy_from_slice(b"<html>");
    assert_eq!(
        fixture
            .put(&presigned, &presigned.headers, other.clone())
            .await
            .status(),
        200
    );

    assert_eq!(fixture.store.get(&kept, 1 << 20).await.unwrap(), body);
    assert_eq!(fixture.store.get(&staged, 1 << 20).await.unwrap(), other);
    let head = fixture.store.head(&kept).await.unwrap().unwrap();
    assert_eq!(head.size, body.len() as u64);
    let missing = fixture.store.copy(&key(), &kept).await;
    assert!(
        matches!(missing, Err(ObjectStoreError::NotFound { .. })),
        "{missing:?}"
    );
    fixture.stop().await;
}

#[tokio::test]
async fn a_listing_walks_every_key_under_a_prefix_page_by_page() {
    let fixture = Fixture::start().await;
    // Written straight into the store's folder: 1,001 PUTs would take a while.
    let bucket = fixture.root.join("objects").join(BUCKET);
    let user = uuid::Uuid::now_v7();
    let mut expected: Vec<String> = (0..1_001)
        .map(|_| objectstore::upload_staging_key(user, uuid::Uuid::new_v4()))
        .collect();
    expected.sort();
    for key in &expected {
        let path = bucket.join(key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"x").unwrap();
    }
    fixture.upload(&key(), b"%PDF- not under the prefix").await;

    let first = fixture.store.list_page("uploads/", None).await.unwrap();
    let second = fixture
        .store
        .list_page("uploads/", first.next.clone())
        .await
        .unwrap();

    assert_eq!(first.keys.len(), 1_000);
    assert!(first.next.is_some());
    assert_eq!(second.keys.len(), 1);
    assert_eq!(second.next, None);
    assert_eq!([first.keys, second.keys].concat(), expected);
    let empty = fixture.store.list_page("nothing/", None).await.unwrap();
    assert_eq!((empty.keys.len(), empty.next), (0, None));
    fixture.stop().await;
}

/// Sends a presigned PUT over a bare socket with the signed headers and exactly `body`,
/// whatever the headers say, then half-closes and returns the server's whole answer.
async fn raw_put(fixture: &Fixture, presigned: &PresignedRequest, body: &[u8]) -> String {
    use std::io::{Read, Write};

    let addr = fixture.s3.local_addr();
    let url = reqwest::Url::parse(&presigned.url).unwrap();
    let mut request = format!(
        "PUT {}?{} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n",
        url.path(),
        url.query().unwrap()
    );
    for (name, value) in &presigned.headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(body);
    // A blocking socket keeps the exchange byte-exact (no HTTP client to "fix" it).
    tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        // The server may answer and close before reading everything; that is its right.
        let _ = stream.write_all(&bytes);
        let _ = stream.shutdown(std::net::Shutdown::Write);
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    })
    .await
    .unwrap()
}

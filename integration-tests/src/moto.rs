//! A second, independent S3 implementation for end-to-end tests: `moto_server` (PyPI
//! `moto[server]`) as a child process on a free port, killed when the handle drops (also
//! when the test panics).
//!
//! Where moto is not installed the tests that need it are skipped with a printed notice —
//! except when `CI` or `SCOREMATE_REQUIRE_MOTO=1` is set, where that is a failure.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a freshly started `moto_server` may take to answer HTTP (Python imports).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// The access key and secret moto accepts (it does not check them by default).
pub const MOTO_ACCESS_KEY_ID: &str = "testing";
pub const MOTO_SECRET_ACCESS_KEY: &str = "testing";

fn moto_required() -> bool {
    let set = |name: &str| {
        std::env::var(name).is_ok_and(|value| !value.is_empty() && value != "0" && value != "false")
    };
    set("CI") || set("SCOREMATE_REQUIRE_MOTO")
}

/// Whether `program args…` runs and exits 0 (output discarded).
fn runs(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// The command that starts moto: the `moto_server` console script, or the module through
/// `python3` when only the package is importable.
fn moto_command() -> Option<(String, Vec<String>)> {
    if runs("moto_server", &["--help"]) {
        return Some(("moto_server".to_owned(), Vec::new()));
    }
    if runs("python3", &["-c", "import moto.server"]) {
        return Some((
            "python3".to_owned(),
            vec!["-m".to_owned(), "moto.server".to_owned()],
        ));
    }
    None
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0")
        .unwrap_or_else(|error| panic!("finding a free port: {error}"));
    listener
        .local_addr()
        .unwrap_or_else(|error| panic!("finding a free port: {error}"))
        .port()
}

/// A running `moto_server`; dropping it kills the process.
pub struct MotoServer {
    pub port: u16,
    child: Child,
    log: PathBuf,
}

impl MotoServer {
    /// Starts moto on `127.0.0.1` and a free port and waits until it answers HTTP; `None`
    /// (after a notice) when moto is not installed and not required.
    pub async fn start() -> Option<Self> {
        let Some((program, mut args)) = moto_command() else {
            assert!(
                !moto_required(),
                "moto_server is required here (CI or SCOREMATE_REQUIRE_MOTO=1) but not \
                 installed: python3 -m pip install 'moto[server]'"
            );
            eprintln!(
                "NOTICE: moto_server not installed; skipping. Install it with \
                 `python3 -m pip install 'moto[server]'`, or set SCOREMATE_REQUIRE_MOTO=1 \
                 to make this a failure."
            );
            return None;
        };
        let port = free_port();
        args.extend(["-H".to_owned(), "127.0.0.1".to_owned()]);
        args.extend(["-p".to_owned(), port.to_string()]);
        let log = std::env::temp_dir().join(format!("scoremate-moto-{}.log", uuid::Uuid::new_v4()));
        let log_file = std::fs::File::create(&log)
            .unwrap_or_else(|error| panic!("creating {}: {error}", log.display()));
        let log_file_err = log_file
            .try_clone()
            .unwrap_or_else(|error| panic!("opening {}: {error}", log.display()));
        let child = Command::new(&program)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(log_file_err)
            .spawn()
            .unwrap_or_else(|error| panic!("starting {program} {args:?}: {error}"));
        let mut server = Self { port, child, log };
        server.wait_until_answering().await;
        Some(server)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The app with its objects in `bucket` on this moto (created by the app at start),
    /// on the embedded SQLite default otherwise.
    pub async fn spawn_app(&self, bucket: &str) -> crate::app::TestApp {
        let endpoint = self.endpoint();
        crate::app::spawn_app_with(
            testkit::TestDatabase::sqlite().await,
            &[
                "--s3-endpoint",
                &endpoint,
                "--s3-access-key-id",
                MOTO_ACCESS_KEY_ID,
                "--s3-secret-access-key",
                MOTO_SECRET_ACCESS_KEY,
                "--s3-bucket",
                bucket,
                "--s3-region",
                "us-east-1",
            ],
        )
        .await
    }

    /// What moto printed so far (its request log), for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn wait_until_answering(&mut self) {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap_or_else(|error| panic!("building an HTTP client: {error}"));
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "moto_server exited ({status}) before answering:\n{}",
                    self.log()
                );
            }
            if client.get(self.endpoint()).send().await.is_ok() {
                return;
            }
            assert!(
                started.elapsed() < STARTUP_TIMEOUT,
                "moto_server did not answer on {} within {STARTUP_TIMEOUT:?}:\n{}",
                self.endpoint(),
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The keys in `bucket` under `prefix`, read through moto's own S3 API (ListObjectsV2,
    /// unsigned: moto does not check signatures unless told to).
    pub async fn list_keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let response = reqwest::Client::new()
            .get(format!("{}/{bucket}", self.endpoint()))
            .query(&[("list-type", "2"), ("prefix", prefix)])
            .send()
            .await
            .unwrap_or_else(|error| panic!("listing {bucket} on moto: {error}"));
        let status = response.status().as_u16();
        let body = response
            .text()
            .await
            .unwrap_or_else(|error| panic!("reading the listing of {bucket}: {error}"));
        assert_eq!(
            status, 200,
            "listing {bucket} on moto answered {status}: {body}"
        );
        xml_values(&body, "Key")
    }

    /// Status and body of an unsigned `GET /bucket/key` straight to moto (the object, or
    /// an S3 error document such as `NoSuchKey`).
    pub async fn get_object(&self, bucket: &str, key: &str) -> (u16, String) {
        let response = reqwest::Client::new()
            .get(format!("{}/{bucket}/{key}", self.endpoint()))
            .send()
            .await
            .unwrap_or_else(|error| panic!("GET {bucket}/{key} on moto: {error}"));
        let status = response.status().as_u16();
        let body = response
            .text()
            .await
            .unwrap_or_else(|error| panic!("reading {bucket}/{key} from moto: {error}"));
        (status, body)
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// The text of every `<tag>…</tag>` in `xml`, entities `&amp; &lt; &gt; &quot; &apos;`
/// decoded (enough for S3 listings, which hold no nested markup in these elements).
fn xml_values(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut values = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else {
            break;
        };
        values.push(
            after[..end]
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&apos;", "'")
                .replace("&amp;", "&"),
        );
        rest = &after[end + close.len()..];
    }
    values
}

#[cfg(test)]
mod tests {
    use super::xml_values;

    #[test]
    fn keys_are_read_from_a_listing_in_order_and_decoded() {
        let xml = "<ListBucketResult><Contents><Key>a/b.pdf</Key></Contents>\
                   <Contents><Key>c&amp;d.pdf</Key></Contents></ListBucketResult>";
        assert_eq!(xml_values(xml, "Key"), ["a/b.pdf", "c&d.pdf"]);
    }

    #[test]
    fn an_empty_listing_has_no_keys() {
        assert!(
            xml_values(
                "<ListBucketResult><KeyCount>0</KeyCount></ListBucketResult>",
                "Key"
            )
            .is_empty()
        );
    }
}

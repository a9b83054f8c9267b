//! Clients that hold connections without making progress (issue 15, item 3), against a
//! real `scoremate serve` on real sockets: silent, trickling and stalled clients are cut
//! within their timeout, an idle kept-alive connection is closed after the idle timeout,
//! and /healthz answers with many idle sockets open, at the connection cap too. Timeouts
//! are shortened through the settings; every time bound is an upper bound with
//! [`MARGIN`] of slack (a bound on correctness, not a timing assertion).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod support;

use support::{KillOnDrop, login, register, start, temp_dir, wait_for};

const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(2);
const IDLE_TIMEOUT: Duration = Duration::from_secs(6);
const BODY_TIMEOUT: Duration = Duration::from_secs(2);
/// Slack on every "closed within" bound.
const MARGIN: Duration = Duration::from_secs(5);

/// A running server; dropping it kills the process.
struct Running {
    /// `127.0.0.1:PORT` of the API.
    address: String,
    /// `http://127.0.0.1:PORT/api/v1`
    base: String,
    lines: mpsc::Receiver<String>,
    _guard: KillOnDrop,
}

/// A server with the short timeouts above and `extra` settings.
fn serve(label: &str, extra: &[(&str, &str)]) -> Running {
    let header = HEADER_READ_TIMEOUT.as_secs().to_string();
    let idle = IDLE_TIMEOUT.as_secs().to_string();
    let body = BODY_TIMEOUT.as_secs().to_string();
    let mut settings = vec![
        ("SCOREMATE_HEADER_READ_TIMEOUT_SECS", header.as_str()),
        ("SCOREMATE_IDLE_TIMEOUT_SECS", idle.as_str()),
        ("SCOREMATE_BODY_TIMEOUT_SECS", body.as_str()),
    ];
    settings.extend_from_slice(extra);
    let server = start(&temp_dir(label), &settings);
    Running {
        address: host_of(&server.base),
        base: server.base,
        lines: server.lines,
        _guard: KillOnDrop(Some(server.child)),
    }
}

/// `127.0.0.1:PORT` of an `http://127.0.0.1:PORT/…` URL.
fn host_of(url: &str) -> String {
    url.trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_owned()
}

/// Waits for the server to close `stream` (EOF or reset), at most `bound` after `since`;
/// what it sent before closing. Panics when the connection is still open by then.
fn closed_within(stream: &mut TcpStream, since: Instant, bound: Duration) -> Vec<u8> {
    let mut received = Vec::new();
    let mut buffer = [0_u8; 4096];
    loop {
        let left = bound.saturating_sub(since.elapsed());
        assert!(!left.is_zero(), "still open after {bound:?}");
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buffer) {
            Ok(0) => return received,
            Ok(read) => received.extend_from_slice(&buffer[..read]),
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("still open after {bound:?}")
            }
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            // Reset: the server closed with bytes of ours unread.
            Err(_) => return received,
        }
    }
}

/// Reads one response (head, then a `Content-Length` body); its status line.
fn read_response(stream: &mut TcpStream) -> String {
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut received = Vec::new();
    let mut byte = [0_u8; 1];
    while !received.ends_with(b"\r\n\r\n") {
        assert_eq!(
            stream.read(&mut byte).unwrap(),
            1,
            "connection closed early"
        );
        received.push(byte[0]);
    }
    let head = String::from_utf8(received).unwrap();
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0_u8; length];
    stream.read_exact(&mut body).unwrap();
    head.lines().next().unwrap().to_owned()
}

fn healthz_request(address: &str) -> String {
    format!("GET /healthz HTTP/1.1\r\nHost: {address}\r\n\r\n")
}

/// `GET /healthz` on a new connection; its status line.
fn healthz(address: &str) -> String {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .write_all(healthz_request(address).as_bytes())
        .unwrap();
    read_response(&mut stream)
}

#[test]
fn a_silent_connection_is_closed_within_the_header_timeout() {
    let server = serve("silent", &[]);
    let address = &server.address;
    let opened = Instant::now();
    let mut silent = TcpStream::connect(address).unwrap();
    let received = closed_within(&mut silent, opened, HEADER_READ_TIMEOUT + MARGIN);
    assert!(received.is_empty(), "no answer to nothing");
}

#[test]
fn a_client_trickling_its_headers_is_cut_at_the_header_timeout() {
    let server = serve("trickle", &[]);
    let address = &server.address;
    let head = format!(
        "GET /healthz HTTP/1.1\r\nHost: {address}\r\nX-Padding: {}\r\n\r\n",
        "a".repeat(200)
    );
    let opened = Instant::now();
    let mut stream = TcpStream::connect(address).unwrap();
    let mut writer = stream.try_clone().unwrap();
    // One byte every 300 ms: each arrives well within any per-read timeout.
    let trickler = std::thread::spawn(move || {
        let mut sent = 0;
        for byte in head.bytes() {
            if writer.write_all(&[byte]).is_err() {
                break;
            }
            sent += 1;
            std::thread::sleep(Duration::from_millis(300));
        }
        sent
    });
    let received = closed_within(&mut stream, opened, HEADER_READ_TIMEOUT + MARGIN);
    assert!(
        received.is_empty(),
        "{}",
        String::from_utf8_lossy(&received)
    );
    drop(stream);
    let sent = trickler.join().unwrap();
    assert!(sent >= 2, "the client was trickling ({sent} bytes sent)");
}

#[test]
fn a_client_stalling_halfway_through_its_body_is_cut_without_an_answer() {
    let server = serve("half-body", &[]);
    let address = &server.address;
    let mut stream = TcpStream::connect(address).unwrap();
    let body = format!(
        r#"{{"email": "stall@example.com", "password": "{}"#,
        "x".repeat(460)
    );
    stream
        .write_all(
            format!(
                "POST /api/v1/auth/login HTTP/1.1\r\nHost: {address}\r\n\
                 Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{body}"
            )
            .as_bytes(),
        )
        .unwrap();
    let stalled = Instant::now();
    let received = closed_within(&mut stream, stalled, BODY_TIMEOUT + MARGIN);
    assert!(
        received.is_empty(),
        "{}",
        String::from_utf8_lossy(&received)
    );
}

#[test]
fn an_idle_kept_alive_connection_outlives_the_header_timeout_and_closes_after_the_idle_one() {
    let server = serve("idle", &[]);
    let address = &server.address;
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .write_all(healthz_request(address).as_bytes())
        .unwrap();
    assert!(read_response(&mut stream).contains(" 200 "));

    // Idle for longer than the header timeout (a head not begun is not late).
    std::thread::sleep(HEADER_READ_TIMEOUT + Duration::from_secs(1));
    stream
        .write_all(healthz_request(address).as_bytes())
        .unwrap();
    assert!(read_response(&mut stream).contains(" 200 "));

    let answered = Instant::now();
    let received = closed_within(&mut stream, answered, IDLE_TIMEOUT + MARGIN);
    assert!(
        received.is_empty(),
        "{}",
        String::from_utf8_lossy(&received)
    );
}

#[test]
fn healthz_answers_with_two_hundred_idle_connections_open() {
    // A header timeout long enough that none of them is cut during the test.
    let server = serve("many-idle", &[("SCOREMATE_HEADER_READ_TIMEOUT_SECS", "60")]);
    let address = &server.address;
    let idle: Vec<TcpStream> = (0..200)
        .map(|_| TcpStream::connect(address).unwrap())
        .collect();
    let asked = Instant::now();
    assert!(healthz(address).contains(" 200 "));
    assert!(asked.elapsed() < MARGIN, "took {:?}", asked.elapsed());
    drop(idle);
}

#[test]
fn at_the_connection_limit_clients_wait_until_timeouts_free_slots() {
    let server = serve("limit", &[("SCOREMATE_MAX_CONNECTIONS", "20")]);
    let address = &server.address;
    let opened = Instant::now();
    let idle: Vec<TcpStream> = (0..25)
        .map(|_| TcpStream::connect(address).unwrap())
        .collect();
    let reached = wait_for(&server.lines, "connection limit reached");
    assert_eq!(reached["limit"], 20);
    assert_eq!(reached["listener"], "api");

    // Queued behind the silent ones, answered once their header timeout frees the slots.
    assert!(healthz(address).contains(" 200 "));
    assert!(
        opened.elapsed() < HEADER_READ_TIMEOUT * 2 + MARGIN,
        "took {:?}",
        opened.elapsed()
    );
    let cleared = wait_for(&server.lines, "connection limit cleared");
    assert_eq!(cleared["limit"], 20);
    drop(idle);
}

/// Registers, signs in and asks for an upload URL of `size` bytes: the ticket.
fn upload_ticket(base: &str, size: usize) -> Value {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::new();
        register(&client, base, "s3-stall@example.com").await;
        let access = login(&client, base, "s3-stall@example.com").await;
        let ticket = client
            .post(format!("{base}/files/upload-url"))
            .bearer_auth(&access)
            .json(&json!({"filename": "stall.pdf", "size": size, "mime_type": "application/pdf"}))
            .send()
            .await
            .unwrap();
        assert_eq!(ticket.status(), 201);
        ticket.json().await.unwrap()
    })
}

#[test]
fn the_embedded_s3_listener_cuts_silent_and_stalled_clients() {
    let server = serve("s3", &[]);
    let ticket = upload_ticket(&server.base, 1000);
    let upload_url = ticket["upload_url"].as_str().unwrap();
    let s3 = host_of(upload_url);
    let path_and_query = &upload_url[upload_url.find(&s3).unwrap() + s3.len()..];

    let opened = Instant::now();
    let mut silent = TcpStream::connect(&s3).unwrap();

    // A validly signed PUT whose body stops halfway.
    let mut stalled = TcpStream::connect(&s3).unwrap();
    let mut head = format!("PUT {path_and_query} HTTP/1.1\r\nHost: {s3}\r\n");
    for (name, value) in ticket["headers"].as_object().unwrap() {
        if !name.eq_ignore_ascii_case("content-length") {
            head.push_str(&format!("{name}: {}\r\n", value.as_str().unwrap()));
        }
    }
    head.push_str("Content-Length: 1000\r\n\r\n");
    stalled.write_all(head.as_bytes()).unwrap();
    stalled.write_all(&[b'%'; 500]).unwrap();
    let stalled_at = Instant::now();

    let received = closed_within(&mut silent, opened, HEADER_READ_TIMEOUT + MARGIN);
    assert!(received.is_empty(), "no answer to nothing");
    let received = closed_within(&mut stalled, stalled_at, BODY_TIMEOUT + MARGIN);
    assert!(
        received.is_empty(),
        "{}",
        String::from_utf8_lossy(&received)
    );
}

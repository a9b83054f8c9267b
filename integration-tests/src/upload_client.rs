//! The upload and quota calls of one signed-in client, answering what the server said
//! (status, error code, body) instead of failing on an error status: for tests that decide
//! afterwards whether an answer was right.

use serde_json::{Value, json};

use crate::app::TestApp;

/// What the server answered: its status, the `code` of an error body, the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub code: Option<String>,
    pub body: Value,
}

impl Answer {
    async fn read(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .unwrap_or_else(|error| panic!("reading an answer: {error}"));
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        let code = body.get("code").and_then(Value::as_str).map(str::to_owned);
        Self { status, code, body }
    }

    /// `201`, `409 E008`: the status and code, as the tests print them.
    pub fn short(&self) -> String {
        match &self.code {
            Some(code) => format!("{} {code}", self.status),
            None => self.status.to_string(),
        }
    }

    fn field(&self, name: &str) -> String {
        self.body[name]
            .as_str()
            .unwrap_or_else(|| panic!("`{name}` missing in {}", self.body))
            .to_owned()
    }
}

/// What `POST /files/upload-url` hands out: where and how to PUT the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub upload_id: String,
    pub upload_url: String,
    pub headers: Vec<(String, String)>,
}

impl Ticket {
    /// The ticket of a `201` answer; panics on a malformed one.
    pub fn from_answer(answer: &Answer) -> Self {
        let headers = answer.body["headers"]
            .as_object()
            .unwrap_or_else(|| panic!("`headers` missing in {}", answer.body))
            .iter()
            .map(|(name, value)| {
                let value = value
                    .as_str()
                    .unwrap_or_else(|| panic!("header {name} is not a string"));
                (name.clone(), value.to_owned())
            })
            .collect();
        Self {
            upload_id: answer.field("upload_id"),
            upload_url: answer.field("upload_url"),
            headers,
        }
    }
}

/// `size` bytes that the server takes for a PDF (they start with `%PDF-`), or the start of
/// that header when `size` is too small to hold it (which the server refuses as not a PDF).
pub fn pdf_bytes_of_size(size: usize) -> Vec<u8> {
    let mut bytes = b"%PDF-1.4\n%".to_vec();
    bytes.resize(size.max(bytes.len()), b'-');
    bytes.truncate(size);
    bytes
}

/// A small but well-formed one-page PDF whose bytes differ with `label`.
pub fn labelled_pdf(label: &str) -> Vec<u8> {
    format!(
        "%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n\
         2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n\
         3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >> endobj\n\
         % {label}\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    )
    .into_bytes()
}

/// `size` bytes that are not a PDF.
pub fn junk_bytes_of_size(size: usize) -> Vec<u8> {
    vec![b'x'; size]
}

/// The balance of `GET /quota`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaBalance {
    pub limit: u64,
    pub used: u64,
    pub reserved: u64,
    pub available: u64,
}

/// Why the quota history could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistoryError {
    /// The server has no such route (yet).
    NoRoute,
    /// Any other answer that is not a page of the ledger.
    Unexpected { page: u32, answer: Answer },
}

/// A signed-in client of one user: one session, its access token.
#[derive(Clone, Copy)]
pub struct UploadClient<'a> {
    pub app: &'a TestApp,
    pub access: &'a str,
}

impl UploadClient<'_> {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> Answer {
        let mut request = self.app.request(method, path).bearer_auth(self.access);
        if let Some(body) = body {
            request = request.json(body);
        }
        Answer::read(self.app.send(request).await).await
    }

    /// `POST /api/v1/files/upload-url` for a PDF of `size` bytes.
    pub async fn request_upload(&self, filename: &str, size: u64) -> Answer {
        let body = json!({"filename": filename, "size": size, "mime_type": "application/pdf"});
        self.call(
            reqwest::Method::POST,
            "/api/v1/files/upload-url",
            Some(&body),
        )
        .await
    }

    /// PUTs `bytes` the way a client does: to the ticket's URL with its signed headers.
    /// Answers the object store's status.
    pub async fn put_object(&self, ticket: &Ticket, bytes: Vec<u8>) -> u16 {
        let mut request = self.app.client.put(&ticket.upload_url);
        for (name, value) in &ticket.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let response = request
            .body(bytes)
            .send()
            .await
            .unwrap_or_else(|error| panic!("PUT {}: {error}", ticket.upload_url));
        response.status().as_u16()
    }

    /// `POST /api/v1/scores`: confirms the upload as a score titled `title`.
    pub async fn confirm(&self, upload_id: &str, title: &str) -> Answer {
        let body = json!({"upload_id": upload_id, "title": title});
        self.call(reqwest::Method::POST, "/api/v1/scores", Some(&body))
            .await
    }

    /// `DELETE /api/v1/files/uploads/{upload_id}`: cancels an unconfirmed upload.
    pub async fn cancel(&self, upload_id: &str) -> Answer {
        let path = format!("/api/v1/files/uploads/{upload_id}");
        self.call(reqwest::Method::DELETE, &path, None).await
    }

    /// `DELETE /api/v1/scores/{score_id}`.
    pub async fn delete_score(&self, score_id: &str) -> Answer {
        let path = format!("/api/v1/scores/{score_id}");
        self.call(reqwest::Method::DELETE, &path, None).await
    }

    /// `GET /api/v1/quota`; anything but a 200 with the four numbers fails the test.
    pub async fn quota(&self) -> QuotaBalance {
        let answer = self.call(reqwest::Method::GET, "/api/v1/quota", None).await;
        assert_eq!(answer.status, 200, "GET /quota answered {answer:?}");
        let number = |name: &str| {
            answer.body[name]
                .as_u64()
                .unwrap_or_else(|| panic!("`{name}` missing in {}", answer.body))
        };
        QuotaBalance {
            limit: number("limit_bytes"),
            used: number("used_bytes"),
            reserved: number("reserved_bytes"),
            available: number("available_bytes"),
        }
    }

    /// Every row of `GET /api/v1/quota/history`, oldest first, walking its pages of
    /// `page_size` rows; also checks that `count` is the number of rows served.
    pub async fn quota_history(&self, page_size: u32) -> Result<Vec<Value>, HistoryError> {
        let mut rows = Vec::new();
        for page in 1.. {
            let path = format!("/api/v1/quota/history?page={page}&page_size={page_size}");
            let answer = self.call(reqwest::Method::GET, &path, None).await;
            if answer.status == 404 && answer.body["message"] == "No such route." {
                return Err(HistoryError::NoRoute);
            }
            let (Some(results), 200) = (answer.body["results"].as_array(), answer.status) else {
                return Err(HistoryError::Unexpected { page, answer });
            };
            rows.extend(results.iter().cloned());
            if answer.body["next"].is_null() {
                if answer.body["count"].as_u64() != Some(rows.len() as u64) {
                    return Err(HistoryError::Unexpected { page, answer });
                }
                break;
            }
        }
        Ok(rows)
    }
}

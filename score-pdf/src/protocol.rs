//! The framing between a [`crate::Sandbox`] and its child ([`crate::child`]).
//!
//! Request on the child's stdin: one JSON line naming the operation, e.g.
//! `{"op":"both","width":300}`, then the PDF bytes up to end of input.
//!
//! Response on the child's stdout: one JSON line, then for a thumbnail exactly
//! `png_bytes` bytes of PNG:
//! `{"status":"ok","info":{…}|null,"thumbnail":{"width":300,"height":424,"png_bytes":5120}|null}`
//! or `{"status":"failed","error":{"kind":"password_protected"}}` (a [`PdfError`]).
//! The child exits 0 after writing either; any other end is a crash or a kill.

use std::io::{BufRead, Read, Write};

use serde::{Deserialize, Serialize};

use crate::{Limits, PdfError, PdfInfo, Thumbnail};

/// What to do with one PDF.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Operation {
    /// [`crate::inspect`] only.
    Info,
    /// [`crate::thumbnail`] only, `width` pixels wide.
    Thumbnail { width: u32 },
    /// Both, reading the file once.
    Both { width: u32 },
    /// [`crate::page_thumbnail`]: page `page` (1-based), `width` pixels wide.
    Page { page: u32, width: u32 },
}

/// The result of an [`Operation`]: the parts it asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub info: Option<PdfInfo>,
    pub thumbnail: Option<Thumbnail>,
}

/// Longest request or response header line.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

#[derive(Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
enum ResponseHeader {
    Ok {
        info: Option<PdfInfo>,
        thumbnail: Option<ThumbnailHeader>,
    },
    Failed {
        error: PdfError,
    },
}

#[derive(Serialize, Deserialize)]
struct ThumbnailHeader {
    width: u32,
    height: u32,
    png_bytes: u64,
}

/// The most a well-behaved child can write: a header and a PNG of the largest allowed
/// thumbnail (PNG never needs much more than the raw 3 bytes per pixel).
pub(crate) fn max_response_bytes(limits: &Limits) -> u64 {
    (MAX_HEADER_BYTES as u64)
        .saturating_add(limits.max_rendered_pixels.saturating_mul(4))
        .saturating_add(1024 * 1024)
}

pub(crate) fn request_header(op: Operation) -> Vec<u8> {
    let mut line = serde_json::to_vec(&op).unwrap_or_default();
    line.push(b'\n');
    line
}

/// Reads the request: the header line, then at most `max_input_bytes` of PDF.
pub(crate) fn read_request(
    input: &mut impl BufRead,
    limits: &Limits,
) -> Result<(Operation, Vec<u8>), RequestError> {
    let mut line = Vec::new();
    input
        .by_ref()
        .take(MAX_HEADER_BYTES as u64)
        .read_until(b'\n', &mut line)
        .map_err(|error| RequestError::Protocol(format!("reading the request: {error}")))?;
    if line.last() != Some(&b'\n') {
        return Err(RequestError::Protocol(
            "the request has no complete header line".to_owned(),
        ));
    }
    let op: Operation = serde_json::from_slice(&line)
        .map_err(|error| RequestError::Protocol(format!("bad request header: {error}")))?;
    let mut bytes = Vec::new();
    input
        .by_ref()
        .take(limits.max_input_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|error| RequestError::Protocol(format!("reading the PDF: {error}")))?;
    if bytes.len() as u64 > limits.max_input_bytes {
        return Err(RequestError::Pdf(PdfError::TooLarge {
            size: bytes.len() as u64,
            limit: limits.max_input_bytes,
        }));
    }
    Ok((op, bytes))
}

pub(crate) enum RequestError {
    /// The request itself broke the protocol: a bug or a wrong program, not the file.
    Protocol(String),
    /// The request was fine and the file is refused.
    Pdf(PdfError),
}

pub(crate) fn write_response(
    output: &mut impl Write,
    result: &Result<Outcome, PdfError>,
) -> std::io::Result<()> {
    let (header, png) = match result {
        Ok(outcome) => (
            ResponseHeader::Ok {
                info: outcome.info.clone(),
                thumbnail: outcome.thumbnail.as_ref().map(|thumbnail| ThumbnailHeader {
                    width: thumbnail.width,
                    height: thumbnail.height,
                    png_bytes: thumbnail.png.len() as u64,
                }),
            },
            outcome
                .thumbnail
                .as_ref()
                .map(|thumbnail| thumbnail.png.as_slice()),
        ),
        Err(error) => (
            ResponseHeader::Failed {
                error: error.clone(),
            },
            None,
        ),
    };
    let mut line = serde_json::to_vec(&header)?;
    line.push(b'\n');
    output.write_all(&line)?;
    if let Some(png) = png {
        output.write_all(png)?;
    }
    output.flush()
}

/// Parses a complete response; `Err` is a protocol violation (the child misbehaved).
pub(crate) fn parse_response(output: &[u8]) -> Result<Result<Outcome, PdfError>, String> {
    let window = &output[..output.len().min(MAX_HEADER_BYTES)];
    let end = window
        .iter()
        .position(|&byte| byte == b'\n')
        .ok_or_else(|| "the child wrote no response header".to_owned())?;
    let header: ResponseHeader = serde_json::from_slice(&output[..end])
        .map_err(|error| format!("the child wrote a bad response header: {error}"))?;
    let body = &output[end + 1..];
    match header {
        ResponseHeader::Failed { error } => Ok(Err(error)),
        ResponseHeader::Ok { info, thumbnail } => {
            let thumbnail = match thumbnail {
                None if body.is_empty() => None,
                None => return Err("the child wrote bytes after its response".to_owned()),
                Some(header) if header.png_bytes == body.len() as u64 => Some(Thumbnail {
                    png: body.to_vec(),
                    width: header.width,
                    height: header.height,
                }),
                Some(header) => {
                    return Err(format!(
                        "the child announced {} PNG bytes and wrote {}",
                        header.png_bytes,
                        body.len()
                    ));
                }
            };
            Ok(Ok(Outcome { info, thumbnail }))
        }
    }
}

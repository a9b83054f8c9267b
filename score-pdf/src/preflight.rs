//! Before hayro renders a page: every stream the page can reach must decompress within
//! the limit and every image must stay within the pixel limit. hayro itself decodes
//! without bounds, so this check is what turns a decompression bomb on the page into a
//! [`PdfError`] instead of an allocation that only the sandbox's memory limit would stop.

use std::collections::HashSet;

use lopdf::{DecompressError, Document, Object, ObjectId, Stream};

use crate::inspect::TreePage;
use crate::{Limits, PdfError};

pub(crate) fn check_page(doc: &Document, page: &TreePage, limits: &Limits) -> Result<(), PdfError> {
    let mut seen = HashSet::<ObjectId>::new();
    let mut pending: Vec<&Object> = page
        .dict
        .iter()
        .filter(|(key, _)| key.as_slice() != b"Parent")
        .map(|(_, value)| value)
        .collect();
    pending.extend(&page.inherited_resources);
    while let Some(object) = pending.pop() {
        match object {
            Object::Reference(id) => {
                if seen.insert(*id)
                    && let Ok(target) = doc.get_object(*id)
                {
                    pending.push(target);
                }
            }
            Object::Array(items) => pending.extend(items),
            Object::Dictionary(dict) => pending.extend(
                dict.iter()
                    .filter(|(key, _)| key.as_slice() != b"Parent")
                    .map(|(_, value)| value),
            ),
            Object::Stream(stream) => {
                check_stream(doc, stream, limits)?;
                pending.extend(
                    stream
                        .dict
                        .iter()
                        .filter(|(key, _)| key.as_slice() != b"Parent")
                        .map(|(_, value)| value),
                );
            }
            _ => {}
        }
    }
    Ok(())
}

fn check_stream(doc: &Document, stream: &Stream, limits: &Limits) -> Result<(), PdfError> {
    let is_image = stream
        .dict
        .get(b"Subtype")
        .and_then(Object::as_name)
        .is_ok_and(|name| name == b"Image");
    if is_image {
        let dimension = |key: &[u8]| {
            stream
                .dict
                .get(key)
                .ok()
                .and_then(|value| doc.dereference(value).ok())
                .and_then(|(_, value)| value.as_i64().ok())
                .map_or(0, |value| value.max(0).unsigned_abs())
        };
        let declared = dimension(b"Width").saturating_mul(dimension(b"Height"));
        let is_jpeg = stream
            .dict
            .get(b"Filter")
            .and_then(Object::as_name)
            .is_ok_and(|name| name == b"DCTDecode");
        let framed = if is_jpeg {
            jpeg_frame_pixels(&stream.content).unwrap_or(0)
        } else {
            0
        };
        let pixels = declared.max(framed);
        if pixels > limits.max_image_pixels {
            return Err(PdfError::limit(format!(
                "an image on page 1 has {pixels} pixels, more than the limit of {}",
                limits.max_image_pixels
            )));
        }
    }
    match stream.decompressed_content_with_limit(limits.max_decompressed()) {
        Err(lopdf::Error::Decompress(
            DecompressError::MemoryLimitExceeded { .. } | DecompressError::TooManyFilters { .. },
        )) => Err(PdfError::limit(format!(
            "a stream on page 1 decompresses to more than {} bytes",
            limits.max_decompressed_stream_bytes
        ))),
        // Filters lopdf cannot decode (DCT, JPX, CCITT, JBIG2) are image codecs whose
        // output the pixel check above bounds.
        _ => Ok(()),
    }
}

/// The frame size a JPEG declares in its SOF marker: what the decoder will allocate,
/// whatever the image dictionary says.
pub(crate) fn jpeg_frame_pixels(data: &[u8]) -> Option<u64> {
    let mut index = 2;
    if data.get(..2)? != [0xFF, 0xD8] {
        return None;
    }
    while index + 4 <= data.len() {
        if data[index] != 0xFF {
            return None;
        }
        let marker = data[index + 1];
        if marker == 0xFF {
            index += 1;
            continue;
        }
        let length = usize::from(u16::from_be_bytes([data[index + 2], data[index + 3]]));
        let is_frame = matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
        if is_frame {
            let header = data.get(index + 5..index + 9)?;
            let height = u64::from(u16::from_be_bytes([header[0], header[1]]));
            let width = u64::from(u16::from_be_bytes([header[2], header[3]]));
            return Some(width * height);
        }
        index += 2 + length;
    }
    None
}

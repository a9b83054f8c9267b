//! PDF facts with lopdf: page count, page-1 size as a viewer shows it, Info and XMP,
//! encryption.

use std::collections::HashSet;

use lopdf::{Dictionary, Document, LoadOptions, Object, ObjectId};
use serde::{Deserialize, Serialize};

use crate::error::from_lopdf;
use crate::text::{clean, decode_text_string};
use crate::{Limits, PdfError};

/// What a viewer would tell about a PDF: the `pdf` object of a score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PdfInfo {
    /// Number of pages found by walking the page tree (`/Count` is not trusted).
    pub page_count: u32,
    /// Width of page 1 in points as displayed: crop box ∩ media box, after `/Rotate`,
    /// rounded to 2 decimals.
    pub page_width_pt: f64,
    /// Height of page 1 in points as displayed, rounded to 2 decimals.
    pub page_height_pt: f64,
    pub title: Option<String>,
    pub author: Option<String>,
    pub subject: Option<String>,
    pub keywords: Option<String>,
    /// The file is encrypted (it opened with the empty user password).
    pub encrypted: bool,
    /// What the XMP metadata packet says, when there is one that says anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xmp: Option<crate::Xmp>,
}

/// Reads the facts of a PDF, inside `limits`.
///
/// # Errors
/// A typed [`PdfError`] for anything that is not a readable PDF within the limits; a
/// damaged cross-reference table is repaired as a viewer would, not refused.
pub fn inspect(bytes: &[u8], limits: &Limits) -> Result<PdfInfo, PdfError> {
    crate::guarded(|| Ok(open(bytes, limits)?.info()))
}

/// A PDF loaded by lopdf and checked against the limits, with its page tree walked.
pub(crate) struct Opened {
    pub(crate) doc: Document,
    pub(crate) encrypted: bool,
    pub(crate) page_count: u32,
    pub(crate) first_page: TreePage,
    /// The page asked for when opening (page 1 unless [`open_at`] named another), when
    /// the document has it.
    pub(crate) chosen_page: Option<TreePage>,
}

/// One page and what it inherits from the page tree (page 1 for the facts).
pub(crate) struct TreePage {
    pub(crate) dict: Dictionary,
    pub(crate) inherited_resources: Option<Object>,
    pub(crate) width: f64,
    pub(crate) height: f64,
}

/// Where the `%PDF-` header may start: viewers accept up to 1024 bytes of junk before it.
const HEADER_WINDOW: usize = 1024;

/// The A4 size hayro (and so the thumbnail) assumes for a page without a usable box.
const A4: Rect = Rect {
    x0: 0.0,
    y0: 0.0,
    x1: 210.0 / 25.4 * 72.0,
    y1: 297.0 / 25.4 * 72.0,
};

pub(crate) fn open(bytes: &[u8], limits: &Limits) -> Result<Opened, PdfError> {
    open_at(bytes, limits, 1)
}

/// [`open`], keeping page `page` (1-based) as well as page 1.
pub(crate) fn open_at(bytes: &[u8], limits: &Limits, page: u32) -> Result<Opened, PdfError> {
    let size = bytes.len() as u64;
    if size > limits.max_input_bytes {
        return Err(PdfError::TooLarge {
            size,
            limit: limits.max_input_bytes,
        });
    }
    let window = &bytes[..bytes.len().min(HEADER_WINDOW)];
    if !window.windows(5).any(|w| w == b"%PDF-") {
        return Err(PdfError::NotPdf {
            reason: "the file does not start with a %PDF- header".to_owned(),
        });
    }
    // Counting `obj` keywords first keeps a file of millions of tiny objects from being
    // parsed at all; objects inside object streams are counted after loading.
    let declared = count_object_keywords(bytes);
    if declared > limits.max_objects {
        return Err(too_many_objects(limits));
    }
    let options = LoadOptions {
        max_decompressed_size: Some(limits.max_decompressed()),
        ..LoadOptions::default()
    };
    let doc = Document::load_mem_with_options(bytes, options)
        .map_err(|error| from_lopdf(&error, limits.max_decompressed_stream_bytes))?;
    if doc.objects.len() as u64 > limits.max_objects {
        return Err(too_many_objects(limits));
    }
    // lopdf opens with the empty user password by itself; a file it could not open that
    // way still carries /Encrypt in its trailer and has no objects loaded.
    if doc.trailer.has(b"Encrypt") {
        return Err(locked(&doc));
    }
    let encrypted = doc.was_encrypted();
    let (page_count, first_page, chosen_page) = walk_page_tree(&doc, limits, page)?;
    let first_page = first_page.ok_or_else(|| PdfError::malformed("the document has no pages"))?;
    Ok(Opened {
        doc,
        encrypted,
        page_count,
        first_page,
        chosen_page,
    })
}

impl Opened {
    pub(crate) fn info(&self) -> PdfInfo {
        let info = self
            .doc
            .trailer
            .get(b"Info")
            .ok()
            .and_then(|info| self.doc.dereference(info).ok())
            .and_then(|(_, info)| info.as_dict().ok());
        let field = |key: &[u8]| {
            info.and_then(|info| info.get(key).ok())
                .and_then(|value| self.doc.dereference(value).ok())
                .and_then(|(_, value)| match value {
                    Object::String(bytes, _) => clean(&decode_text_string(bytes)),
                    _ => None,
                })
        };
        PdfInfo {
            page_count: self.page_count,
            page_width_pt: round2(self.first_page.width),
            page_height_pt: round2(self.first_page.height),
            title: field(b"Title"),
            author: field(b"Author"),
            subject: field(b"Subject"),
            keywords: field(b"Keywords"),
            encrypted: self.encrypted,
            xmp: crate::xmp::read(&self.doc),
        }
    }
}

fn too_many_objects(limits: &Limits) -> PdfError {
    PdfError::limit(format!(
        "the file has more than {} objects",
        limits.max_objects
    ))
}

fn locked(doc: &Document) -> PdfError {
    let handler = doc
        .get_encrypted()
        .ok()
        .and_then(|encrypt| encrypt.get(b"Filter").ok())
        .and_then(|filter| filter.as_name().ok())
        .map(|name| String::from_utf8_lossy(name).into_owned());
    match handler {
        Some(name) if name != "Standard" => PdfError::Unsupported {
            reason: format!("encryption with the {name} security handler"),
        },
        _ => PdfError::PasswordProtected,
    }
}

/// Occurrences of the `obj` keyword (`12 0 obj`), not counting `endobj`.
fn count_object_keywords(bytes: &[u8]) -> u64 {
    let mut count = 0;
    let mut index = 1;
    while index + 3 <= bytes.len() {
        if &bytes[index..index + 3] == b"obj"
            && is_pdf_space(bytes[index - 1])
            && bytes
                .get(index + 3)
                .is_none_or(|&next| !next.is_ascii_alphanumeric())
        {
            count += 1;
            index += 3;
        } else {
            index += 1;
        }
    }
    count
}

fn is_pdf_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\r' | b'\n' | b'\x0C' | b'\0')
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// Attributes a page inherits from its ancestors in the page tree.
#[derive(Clone, Default)]
struct Inherited<'a> {
    media_box: Option<Rect>,
    crop_box: Option<Rect>,
    rotate: Option<i64>,
    resources: Option<&'a Object>,
}

impl<'a> Inherited<'a> {
    fn merged(&self, doc: &'a Document, node: &'a Dictionary) -> Self {
        Self {
            media_box: rect(doc, node, b"MediaBox").or(self.media_box),
            crop_box: rect(doc, node, b"CropBox").or(self.crop_box),
            rotate: rotate(doc, node).or(self.rotate),
            resources: node.get(b"Resources").ok().or(self.resources),
        }
    }
}

struct Frame<'a> {
    kids: &'a [Object],
    next: usize,
    inherited: Inherited<'a>,
    depth: u32,
}

/// Walks the page tree from the catalog down, carrying inherited attributes along (so a
/// `/Parent` chain is never followed and cannot loop). Returns the number of pages and
/// page 1. A node met twice (a `/Kids` loop) is refused; so is a tree deeper than the limit.
/// The page count, page 1 and page `wanted` (1-based; `None` past the last).
fn walk_page_tree(
    doc: &Document,
    limits: &Limits,
    wanted: u32,
) -> Result<(u32, Option<TreePage>, Option<TreePage>), PdfError> {
    let catalog = doc
        .catalog()
        .map_err(|_| PdfError::malformed("the document catalog is missing"))?;
    let root = catalog
        .get(b"Pages")
        .map_err(|_| PdfError::malformed("the document has no page tree"))?;
    let (root_id, root) = doc
        .dereference(root)
        .ok()
        .and_then(|(id, node)| node.as_dict().ok().map(|dict| (id, dict)))
        .ok_or_else(|| PdfError::malformed("the page tree root is not a dictionary"))?;
    let mut visited = HashSet::<ObjectId>::new();
    visited.extend(root_id);
    let mut walk = Walk {
        doc,
        count: 0,
        first: None,
        wanted,
        chosen: None,
    };
    let mut stack = Vec::new();
    walk.node(root, &Inherited::default(), 1, limits, &mut stack)?;
    while let Some(frame) = stack.last_mut() {
        let Some(kid) = frame.kids.get(frame.next) else {
            stack.pop();
            continue;
        };
        frame.next += 1;
        let (inherited, depth) = (frame.inherited.clone(), frame.depth + 1);
        let Ok((id, kid)) = doc.dereference(kid) else {
            continue;
        };
        if let Some(id) = id
            && !visited.insert(id)
        {
            return Err(PdfError::malformed(format!(
                "the page tree refers to object {} {} twice (a loop)",
                id.0, id.1
            )));
        }
        let Ok(kid) = kid.as_dict() else {
            continue;
        };
        walk.node(kid, &inherited, depth, limits, &mut stack)?;
    }
    Ok((walk.count, walk.first, walk.chosen))
}

struct Walk<'a> {
    doc: &'a Document,
    count: u32,
    first: Option<TreePage>,
    wanted: u32,
    chosen: Option<TreePage>,
}

impl<'a> Walk<'a> {
    fn node(
        &mut self,
        node: &'a Dictionary,
        inherited: &Inherited<'a>,
        depth: u32,
        limits: &Limits,
        stack: &mut Vec<Frame<'a>>,
    ) -> Result<(), PdfError> {
        if depth > limits.max_page_tree_depth {
            return Err(PdfError::limit(format!(
                "the page tree is nested more than {} levels deep",
                limits.max_page_tree_depth
            )));
        }
        let inherited = inherited.merged(self.doc, node);
        let is_pages = match node.get(b"Type").and_then(Object::as_name) {
            Ok(name) => name == b"Pages",
            Err(_) => node.has(b"Kids"),
        };
        if is_pages {
            let kids = node
                .get(b"Kids")
                .ok()
                .and_then(|kids| self.doc.dereference(kids).ok())
                .and_then(|(_, kids)| kids.as_array().ok())
                .map_or(&[][..], Vec::as_slice);
            stack.push(Frame {
                kids,
                next: 0,
                inherited,
                depth,
            });
            return Ok(());
        }
        self.count = self
            .count
            .checked_add(1)
            .ok_or_else(|| PdfError::limit("the document has too many pages"))?;
        let page = || {
            let (width, height) = displayed_size(&inherited);
            TreePage {
                dict: node.clone(),
                inherited_resources: inherited.resources.cloned(),
                width,
                height,
            }
        };
        if self.first.is_none() {
            self.first = Some(page());
        }
        if self.count == self.wanted {
            self.chosen = Some(page());
        }
        Ok(())
    }
}

/// The page size a viewer shows: the crop box (else the media box) intersected with the
/// media box, A4 where no usable box exists (as hayro renders it), turned by `/Rotate`.
fn displayed_size(inherited: &Inherited<'_>) -> (f64, f64) {
    let media = inherited.media_box.unwrap_or(A4);
    let crop = inherited.crop_box.unwrap_or(media);
    let visible = crop.intersect(&media);
    let (width, height) = if visible.width() < 1e-3 || visible.height() < 1e-3 {
        (A4.width(), A4.height())
    } else {
        (visible.width().max(1.0), visible.height().max(1.0))
    };
    match inherited.rotate.unwrap_or(0).rem_euclid(360) {
        90 | 270 => (height, width),
        _ => (width, height),
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Rect {
    x0: f64,
    y0: f64,
    x1: f64,
    y1: f64,
}

impl Rect {
    fn width(&self) -> f64 {
        self.x1 - self.x0
    }

    fn height(&self) -> f64 {
        self.y1 - self.y0
    }

    fn intersect(&self, other: &Self) -> Self {
        let x0 = self.x0.max(other.x0);
        let y0 = self.y0.max(other.y0);
        Self {
            x0,
            y0,
            x1: self.x1.min(other.x1).max(x0),
            y1: self.y1.min(other.y1).max(y0),
        }
    }
}

/// A box entry as a normalised rectangle (corners may be given in any order).
fn rect(doc: &Document, node: &Dictionary, key: &[u8]) -> Option<Rect> {
    let (_, value) = doc.dereference(node.get(key).ok()?).ok()?;
    let values = value.as_array().ok()?;
    if values.len() != 4 {
        return None;
    }
    let mut numbers = [0.0_f64; 4];
    for (slot, value) in numbers.iter_mut().zip(values) {
        let (_, value) = doc.dereference(value).ok()?;
        *slot = number(value)?;
    }
    let [a, b, c, d] = numbers;
    Some(Rect {
        x0: a.min(c),
        y0: b.min(d),
        x1: a.max(c),
        y1: b.max(d),
    })
}

fn number(value: &Object) -> Option<f64> {
    let number = match value {
        Object::Integer(value) => *value as f64,
        Object::Real(value) => f64::from(*value),
        _ => return None,
    };
    number.is_finite().then_some(number)
}

/// `/Rotate` as given; a value that is not a multiple of 90 counts as 0, as in viewers.
fn rotate(doc: &Document, node: &Dictionary) -> Option<i64> {
    let (_, value) = doc.dereference(node.get(b"Rotate").ok()?).ok()?;
    let degrees = match value {
        Object::Integer(value) => *value,
        Object::Real(value) if value.fract() == 0.0 && value.abs() < 1e9 => *value as i64,
        _ => return None,
    };
    Some(if degrees % 90 == 0 { degrees } else { 0 })
}

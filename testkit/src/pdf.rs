//! Real PDFs built at test time with lopdf, poppler as the reference viewer, and image
//! comparison. Used by score-pdf's tests, the API's PDF tests and the PDF and load benches.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

use lopdf::{Dictionary, Document, Object, ObjectId, Stream, StringFormat, dictionary};

pub const A4: [f64; 4] = [0.0, 0.0, 595.276, 841.89];
pub const LETTER: [f64; 4] = [0.0, 0.0, 612.0, 792.0];

/// One page: its own box entries and its content stream.
#[derive(Clone, Default)]
pub struct PageSpec {
    pub media_box: Option<[f64; 4]>,
    pub crop_box: Option<[f64; 4]>,
    pub rotate: Option<i64>,
    pub content: Option<String>,
}

impl PageSpec {
    pub fn sized(media_box: [f64; 4]) -> Self {
        Self {
            media_box: Some(media_box),
            ..Self::default()
        }
    }
}

/// A page drawing a black box in its top-left quarter, a grey bar along the bottom and a
/// line of text, so orientation and cropping show in a thumbnail.
pub fn marker_content(box_: [f64; 4]) -> String {
    let [x0, y0, x1, y1] = box_;
    let (w, h) = (x1 - x0, y1 - y0);
    format!(
        "0 0 0 rg {} {} {} {} re f\n0.6 g {} {} {} {} re f\nBT /F1 {} Tf {} {} Td (Score) Tj ET\n",
        x0 + w * 0.08,
        y0 + h * 0.62,
        w * 0.35,
        h * 0.3,
        x0 + w * 0.1,
        y0 + h * 0.05,
        w * 0.8,
        h * 0.06,
        (w.min(h) * 0.08).max(1.0),
        x0 + w * 0.55,
        y0 + h * 0.4,
    )
}

pub fn rect(values: [f64; 4]) -> Object {
    Object::Array(values.iter().map(|&v| Object::Real(v as f32)).collect())
}

/// A document whose root page node carries `tree_attrs` and whose pages are `pages`.
pub fn build(tree_attrs: Dictionary, pages: &[PageSpec]) -> Document {
    let mut doc = Document::with_version("1.7");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
    });
    let inherited_media = tree_attrs.get(b"MediaBox").ok().and_then(|object| {
        let values = object.as_array().ok()?;
        let mut out = [0.0; 4];
        for (slot, value) in out.iter_mut().zip(values) {
            *slot = f64::from(value.as_float().ok()?);
        }
        Some(out)
    });
    let mut kids = Vec::new();
    for spec in pages {
        let marker_box = spec
            .crop_box
            .or(spec.media_box)
            .or(inherited_media)
            .unwrap_or(A4);
        let content = spec
            .content
            .clone()
            .unwrap_or_else(|| marker_content(marker_box));
        let content_id = doc.add_object(Stream::new(dictionary! {}, content.into_bytes()));
        let mut page = dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "Contents" => content_id,
            "Resources" => dictionary! { "Font" => dictionary! { "F1" => font_id } },
        };
        if let Some(media_box) = spec.media_box {
            page.set("MediaBox", rect(media_box));
        }
        if let Some(crop_box) = spec.crop_box {
            page.set("CropBox", rect(crop_box));
        }
        if let Some(rotate) = spec.rotate {
            page.set("Rotate", rotate);
        }
        kids.push(Object::Reference(doc.add_object(page)));
    }
    let mut node = tree_attrs;
    node.set("Type", "Pages");
    node.set("Count", kids.len() as i64);
    node.set("Kids", kids);
    doc.objects.insert(pages_id, Object::Dictionary(node));
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    doc
}

pub fn pages(pages: &[PageSpec]) -> Document {
    build(Dictionary::new(), pages)
}

pub fn one_page(media_box: [f64; 4]) -> Vec<u8> {
    save(&mut pages(&[PageSpec::sized(media_box)]))
}

pub fn set_info(doc: &mut Document, entries: &[(&str, Object)]) {
    let mut info = Dictionary::new();
    for (key, value) in entries {
        info.set(*key, value.clone());
    }
    let info_id = doc.add_object(info);
    doc.trailer.set("Info", info_id);
}

/// Gives the document an XMP metadata packet (`/Metadata` of the catalog), uncompressed.
pub fn set_xmp(doc: &mut Document, packet: &str) {
    let stream = Stream::new(
        dictionary! { "Type" => "Metadata", "Subtype" => "XML" },
        packet.as_bytes().to_vec(),
    );
    let metadata = doc.add_object(stream);
    let root = doc.trailer.get(b"Root").unwrap().as_reference().unwrap();
    doc.get_object_mut(root)
        .unwrap()
        .as_dict_mut()
        .unwrap()
        .set("Metadata", metadata);
}

/// An XMP packet with a Dublin Core title, creators and subjects.
pub fn dublin_core_packet(title: &str, creators: &[&str], subjects: &[&str]) -> String {
    let items = |values: &[&str]| -> String {
        values
            .iter()
            .map(|value| format!("<rdf:li>{value}</rdf:li>"))
            .collect()
    };
    format!(
        r#"<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">
<dc:title><rdf:Alt><rdf:li xml:lang="x-default">{title}</rdf:li></rdf:Alt></dc:title>
<dc:creator><rdf:Seq>{}</rdf:Seq></dc:creator>
<dc:subject><rdf:Bag>{}</rdf:Bag></dc:subject>
</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>"#,
        items(creators),
        items(subjects)
    )
}

pub fn utf16be(text: &str) -> Object {
    let mut bytes = vec![0xFE, 0xFF];
    for unit in text.encode_utf16() {
        bytes.extend_from_slice(&unit.to_be_bytes());
    }
    Object::String(bytes, StringFormat::Hexadecimal)
}

pub fn literal(bytes: &[u8]) -> Object {
    Object::String(bytes.to_vec(), StringFormat::Literal)
}

pub fn save(doc: &mut Document) -> Vec<u8> {
    let mut bytes = Vec::new();
    doc.save_to(&mut bytes).unwrap();
    bytes
}

pub fn page_ids(doc: &Document) -> Vec<ObjectId> {
    doc.get_pages().values().copied().collect()
}

pub fn fixture(name: &str) -> Vec<u8> {
    // The committed fixtures live beside the PDF crate's tests (other tests embed some).
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../score-pdf/tests/fixtures")
            .join(name),
    )
    .unwrap()
}

/// A file in a fresh temporary folder.
pub fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "score-pdf-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Whether poppler's tools are here. Without them a test is skipped with a note, unless
/// `CI` is set: there a missing poppler fails the test.
pub fn poppler() -> bool {
    let found = Command::new("pdfinfo").arg("-v").output().is_ok()
        && Command::new("pdftoppm").arg("-v").output().is_ok();
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "pdfinfo/pdftoppm are missing: CI must install poppler-utils (apt-get install -y poppler-utils)"
        );
        eprintln!(
            "note: poppler-utils not installed; skipping the comparison with pdfinfo/pdftoppm"
        );
    }
    found
}

/// What `pdfinfo` reports: page count and page-1 width and height as displayed
/// (its crop-box size, turned by its page rotation).
pub fn pdfinfo(bytes: &[u8]) -> (u32, f64, f64) {
    let path = temp_file("in.pdf", bytes);
    let output = Command::new("pdfinfo")
        .args(["-f", "1", "-l", "1"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "pdfinfo failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    let field = |prefix: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(prefix))
            .map(str::trim)
            .unwrap_or_else(|| panic!("no {prefix} in {text}"))
            .to_owned()
    };
    let pages: u32 = field("Pages:").parse().unwrap();
    let size = field("Page    1 size:");
    let mut numbers = size.split_whitespace();
    let width: f64 = numbers.next().unwrap().parse().unwrap();
    numbers.next();
    let height: f64 = numbers.next().unwrap().parse().unwrap();
    let rotation: i64 = field("Page    1 rot:").parse().unwrap();
    if rotation.rem_euclid(180) == 90 {
        (pages, height, width)
    } else {
        (pages, width, height)
    }
}

/// Page 1 rendered by `pdftoppm` (crop box, rotation applied) to fit a `longest_side`
/// pixel square, as greyscale.
pub fn pdftoppm(bytes: &[u8], longest_side: u32) -> image::GrayImage {
    pdftoppm_page(bytes, 1, longest_side)
}

/// Page `page` (1-based) rendered by `pdftoppm -f N -l N`, as [`pdftoppm`] renders page 1.
pub fn pdftoppm_page(bytes: &[u8], page: u32, longest_side: u32) -> image::GrayImage {
    let path = temp_file("in.pdf", bytes);
    let prefix = path.with_file_name("page");
    let page = page.to_string();
    let output = Command::new("pdftoppm")
        .args(["-png", "-singlefile", "-cropbox", "-f", &page, "-l", &page])
        .args(["-scale-to", &longest_side.to_string()])
        .arg(&path)
        .arg(&prefix)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "pdftoppm failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    image::open(prefix.with_extension("png"))
        .unwrap()
        .to_luma8()
}

pub fn decode_png(png: &[u8]) -> image::GrayImage {
    image::load_from_memory_with_format(png, image::ImageFormat::Png)
        .unwrap()
        .to_luma8()
}

/// Mean absolute difference of two greyscale images in 0..=1, after resizing `ours` to
/// the size of `reference`.
pub fn mean_abs_difference(ours: &image::GrayImage, reference: &image::GrayImage) -> f64 {
    let ours = image::imageops::resize(
        ours,
        reference.width(),
        reference.height(),
        image::imageops::FilterType::Triangle,
    );
    let total: u64 = ours
        .pixels()
        .zip(reference.pixels())
        .map(|(a, b)| u64::from(a.0[0].abs_diff(b.0[0])))
        .sum();
    total as f64 / (f64::from(reference.width()) * f64::from(reference.height()) * 255.0)
}

/// Fails when our thumbnail differs from poppler's rendering by more than `tolerance`.
pub fn assert_looks_like_poppler(bytes: &[u8], png: &[u8], tolerance: f64) {
    assert_page_looks_like_poppler(bytes, 1, png, tolerance);
}

/// Fails when our rendering of page `page` differs from poppler's by more than
/// `tolerance`.
pub fn assert_page_looks_like_poppler(bytes: &[u8], page: u32, png: &[u8], tolerance: f64) {
    let ours = decode_png(png);
    let reference = pdftoppm_page(bytes, page, ours.width().max(ours.height()));
    let aspect = |w: u32, h: u32| f64::from(w) / f64::from(h);
    let (ours_aspect, reference_aspect) = (
        aspect(ours.width(), ours.height()),
        aspect(reference.width(), reference.height()),
    );
    assert!(
        (ours_aspect / reference_aspect - 1.0).abs() < 0.02,
        "aspect differs: ours {}x{}, poppler {}x{}",
        ours.width(),
        ours.height(),
        reference.width(),
        reference.height()
    );
    let difference = mean_abs_difference(&ours, &reference);
    assert!(
        difference <= tolerance,
        "thumbnail differs from pdftoppm by {difference:.4} (tolerance {tolerance})"
    );
}

/// A JPEG of `width` × `height` with a dark block in the top-left quarter on a light
/// gradient, encoded with the `image` crate.
pub fn jpeg(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        if x < width / 2 && y < height / 3 {
            image::Rgb([20, 20, 20])
        } else {
            let shade = 160 + (u64::from(x) * 90 / u64::from(width)) as u8;
            image::Rgb([shade, shade, 230])
        }
    });
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 85)
        .encode_image(&image)
        .unwrap();
    bytes
}

/// One A4 page that is one big JPEG image, like a scanned score.
pub fn scanned_page(jpeg_bytes: Vec<u8>, width: u32, height: u32) -> Vec<u8> {
    let image = Stream::new(
        dictionary! {
            "Type" => "XObject", "Subtype" => "Image",
            "Width" => i64::from(width), "Height" => i64::from(height),
            "ColorSpace" => "DeviceRGB", "BitsPerComponent" => 8, "Filter" => "DCTDecode",
        },
        jpeg_bytes,
    );
    let mut doc = pages(&[PageSpec {
        media_box: Some(A4),
        content: Some("q 595.276 0 0 841.89 0 0 cm /Im0 Do Q\n".to_owned()),
        ..PageSpec::default()
    }]);
    let image_id = doc.add_object(image);
    let page_id = page_ids(&doc)[0];
    let page = doc.get_dictionary_mut(page_id).unwrap();
    page.set(
        "Resources",
        dictionary! { "XObject" => dictionary! { "Im0" => image_id } },
    );
    save(&mut doc)
}

/// Streams `total` zero bytes through zlib: a FlateDecode bomb without holding it all.
pub fn zlib_zeros(total: u64) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    let chunk = vec![0_u8; 1 << 20];
    let mut left = total;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        encoder.write_all(&chunk[..n]).unwrap();
        left -= n as u64;
    }
    encoder.finish().unwrap()
}

/// One A4 page whose content stream is `compressed` (FlateDecode).
pub fn page_with_flate_content(compressed: Vec<u8>) -> Vec<u8> {
    let mut doc = pages(&[PageSpec::sized(A4)]);
    let page_id = page_ids(&doc)[0];
    let stream = Stream::new(dictionary! { "Filter" => "FlateDecode" }, compressed);
    let content_id = doc.add_object(stream);
    doc.get_dictionary_mut(page_id)
        .unwrap()
        .set("Contents", content_id);
    save(&mut doc)
}

/// A content stream of `gib` GiB of zeros, compressed once per test binary (~1 MB per GiB).
pub fn bomb_gib(gib: u64) -> Vec<u8> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static CACHE: OnceLock<Mutex<HashMap<u64, Vec<u8>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Mutex::default);
    let mut cache = cache.lock().unwrap();
    cache
        .entry(gib)
        .or_insert_with(|| zlib_zeros(gib << 30))
        .clone()
}

/// Deterministic pseudo-random bytes (xorshift).
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// A page tree `depth` levels deep with one page at the bottom.
pub fn deep_page_tree(depth: usize) -> Vec<u8> {
    let mut doc = pages(&[PageSpec::sized(A4)]);
    let root_id = doc
        .catalog()
        .unwrap()
        .get(b"Pages")
        .unwrap()
        .as_reference()
        .unwrap();
    let page_id = page_ids(&doc)[0];
    let mut child = page_id;
    for _ in 0..depth {
        let node = doc.add_object(dictionary! {
            "Type" => "Pages", "Kids" => vec![child.into()], "Count" => 1,
        });
        doc.get_dictionary_mut(child).unwrap().set("Parent", node);
        child = node;
    }
    let root = doc.get_dictionary_mut(root_id).unwrap();
    root.set("Kids", vec![Object::Reference(child)]);
    doc.get_dictionary_mut(child)
        .unwrap()
        .set("Parent", root_id);
    save(&mut doc)
}

/// Page 1 draws Form 0, which draws Form 1 twice, … down to `levels`: 2^levels draws of
/// nothing — a CPU bomb hayro's nesting limit of 50 does not stop.
pub fn form_xobject_bomb(levels: usize) -> Vec<u8> {
    let mut doc = pages(&[PageSpec {
        content: Some("/X Do\n".to_owned()),
        ..PageSpec::sized(A4)
    }]);
    let mut inner = doc.add_object(Stream::new(
        dictionary! { "Type" => "XObject", "Subtype" => "Form", "BBox" => rect(A4) },
        b"0 0 1 1 re f\n".to_vec(),
    ));
    for _ in 0..levels {
        inner = doc.add_object(Stream::new(
            dictionary! {
                "Type" => "XObject", "Subtype" => "Form", "BBox" => rect(A4),
                "Resources" => dictionary! { "XObject" => dictionary! { "X" => inner } },
            },
            b"/X Do /X Do\n".to_vec(),
        ));
    }
    let page_id = page_ids(&doc)[0];
    doc.get_dictionary_mut(page_id).unwrap().set(
        "Resources",
        dictionary! { "XObject" => dictionary! { "X" => inner } },
    );
    save(&mut doc)
}

//! Page thumbnails with hayro — page 1 for the score, any page for previews — as a viewer
//! shows the page, on white, PNG-encoded.

use hayro::hayro_interpret::InterpreterSettings;
use hayro::hayro_syntax::{LoadPdfError, Pdf};
use hayro::vello_cpu::color::palette::css::WHITE;
use hayro::{PixmapSettings, RenderCache, RenderSettings};
use image::ImageEncoder;
use image::codecs::png::PngEncoder;

use crate::inspect::{Opened, open, open_at};
use crate::{Limits, PdfError, PdfInfo, guarded, preflight};

/// The thumbnail width of the service, in pixels.
pub const DEFAULT_THUMBNAIL_WIDTH: u32 = 300;

/// A rendered page 1: PNG bytes and the image's size in pixels.
#[derive(Clone, PartialEq, Eq)]
pub struct Thumbnail {
    pub png: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

impl std::fmt::Debug for Thumbnail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Thumbnail")
            .field("png_bytes", &self.png.len())
            .field("width", &self.width)
            .field("height", &self.height)
            .finish()
    }
}

/// Renders page 1 `width_px` wide (height from the displayed aspect ratio, at least 1 px)
/// on a white background, honouring `/Rotate` and the crop box, as PNG.
///
/// # Errors
/// Everything [`crate::inspect`] refuses, plus a page whose rendering would exceed
/// [`Limits::max_rendered_pixels`], a stream of page 1 that decompresses beyond the limit
/// and an image on page 1 above [`Limits::max_image_pixels`].
pub fn thumbnail(bytes: &[u8], width_px: u32, limits: &Limits) -> Result<Thumbnail, PdfError> {
    guarded(|| {
        check_width(width_px)?;
        let opened = open(bytes, limits)?;
        render(bytes, &opened, 1, width_px, limits)
    })
}

/// Renders page `page` (1-based) as [`thumbnail`] renders page 1.
///
/// # Errors
/// As [`thumbnail`], for that page; a page past the last is an invalid request.
pub fn page_thumbnail(
    bytes: &[u8],
    page: u32,
    width_px: u32,
    limits: &Limits,
) -> Result<Thumbnail, PdfError> {
    guarded(|| {
        check_width(width_px)?;
        if page == 0 {
            return Err(PdfError::InvalidRequest {
                reason: "pages are numbered from 1".to_owned(),
            });
        }
        let opened = open_at(bytes, limits, page)?;
        render(bytes, &opened, page, width_px, limits)
    })
}

/// [`crate::inspect`] and [`thumbnail`] with one load of the file.
pub(crate) fn inspect_and_render(
    bytes: &[u8],
    width_px: u32,
    limits: &Limits,
) -> Result<(PdfInfo, Thumbnail), PdfError> {
    guarded(|| {
        check_width(width_px)?;
        let opened = open(bytes, limits)?;
        let thumbnail = render(bytes, &opened, 1, width_px, limits)?;
        Ok((opened.info(), thumbnail))
    })
}

fn check_width(width_px: u32) -> Result<(), PdfError> {
    if width_px == 0 || width_px > u32::from(u16::MAX) {
        return Err(PdfError::InvalidRequest {
            reason: format!(
                "a thumbnail must be 1 to {} pixels wide, not {width_px}",
                u16::MAX
            ),
        });
    }
    Ok(())
}

/// Renders page `number` (1-based) of `opened`, which was opened at that page.
fn render(
    bytes: &[u8],
    opened: &Opened,
    number: u32,
    width_px: u32,
    limits: &Limits,
) -> Result<Thumbnail, PdfError> {
    let chosen = opened
        .chosen_page
        .as_ref()
        .ok_or_else(|| PdfError::InvalidRequest {
            reason: format!(
                "page {number} asked for, the document has {} pages",
                opened.page_count
            ),
        })?;
    preflight::check_page(&opened.doc, chosen, limits)?;
    let pdf = Pdf::new(bytes.to_vec()).map_err(|error| match error {
        LoadPdfError::Decryption(_) => PdfError::PasswordProtected,
        LoadPdfError::Invalid => PdfError::malformed("the renderer could not read the file"),
    })?;
    let index = usize::try_from(number.saturating_sub(1)).unwrap_or(usize::MAX);
    let page = pdf
        .pages()
        .get(index)
        .ok_or_else(|| PdfError::malformed(format!("the renderer found no page {number}")))?;
    let (page_width, page_height) = page.render_dimensions();
    let (page_width, page_height) = (f64::from(page_width), f64::from(page_height));
    if !(page_width.is_finite() && page_height.is_finite() && page_width > 0.0 && page_height > 0.0)
    {
        return Err(PdfError::Render {
            reason: format!("page {number} has no usable size"),
        });
    }
    let height = (f64::from(width_px) * page_height / page_width)
        .round()
        .max(1.0);
    let pixels = f64::from(width_px) * height;
    if pixels > limits.max_rendered_pixels as f64 || height > f64::from(u16::MAX) {
        return Err(PdfError::limit(format!(
            "page {number} would render to {width_px} × {height} pixels, more than the limit of {} pixels",
            limits.max_rendered_pixels
        )));
    }
    // hayro sizes the pixmap as `(side * scale) as u16`; aiming half a pixel past the
    // target keeps float error from truncating it one pixel short.
    let settings = PixmapSettings {
        x_scale: ((f64::from(width_px) + 0.5) / page_width) as f32,
        y_scale: ((height + 0.5) / page_height) as f32,
        bg_color: WHITE,
    };
    let pixmap = hayro::render(
        page,
        &RenderCache::new(),
        &InterpreterSettings::default(),
        &RenderSettings::default(),
        &settings,
    );
    let (width, height) = (u32::from(pixmap.width()), u32::from(pixmap.height()));
    // The background is opaque white, so the premultiplied pixels are plain RGB.
    let rgb: Vec<u8> = pixmap
        .data_as_u8_slice()
        .chunks_exact(4)
        .flat_map(|pixel| [pixel[0], pixel[1], pixel[2]])
        .collect();
    let mut png = Vec::new();
    PngEncoder::new(&mut png)
        .write_image(&rgb, width, height, image::ExtendedColorType::Rgb8)
        .map_err(|error| PdfError::Render {
            reason: format!("PNG encoding failed: {error}"),
        })?;
    Ok(Thumbnail { png, width, height })
}

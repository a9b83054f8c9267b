//! `thumbnail` on real PDFs, compared with poppler's `pdftoppm` where it is installed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use lopdf::dictionary;
use score_pdf::{DEFAULT_THUMBNAIL_WIDTH, Limits, PdfError, Thumbnail, page_thumbnail, thumbnail};
use testkit::pdf::*;

/// Mean absolute grey difference (0..=1) tolerated against pdftoppm: anti-aliasing and
/// font substitution (Helvetica is not embedded) differ, layout must not.
const TOLERANCE: f64 = 0.06;

fn render(bytes: &[u8]) -> Thumbnail {
    thumbnail(bytes, DEFAULT_THUMBNAIL_WIDTH, &Limits::default()).unwrap()
}

fn looks_like_poppler(bytes: &[u8]) -> Thumbnail {
    let thumbnail = render(bytes);
    if poppler() {
        assert_looks_like_poppler(bytes, &thumbnail.png, TOLERANCE);
    }
    thumbnail
}

#[test]
fn an_a4_page_becomes_a_300_px_wide_png_with_the_page_s_aspect() {
    let thumbnail = looks_like_poppler(&one_page(A4));
    assert_eq!((thumbnail.width, thumbnail.height), (300, 424));
    let image = decode_png(&thumbnail.png);
    assert_eq!((image.width(), image.height()), (300, 424));
}

#[test]
fn the_background_is_white_not_transparent() {
    let thumbnail = render(&save(&mut pages(&[PageSpec {
        content: Some(String::new()),
        ..PageSpec::sized(A4)
    }])));
    let image = image::load_from_memory(&thumbnail.png).unwrap();
    assert!(!image.color().has_alpha());
    assert!(
        image
            .to_rgb8()
            .pixels()
            .all(|pixel| pixel.0 == [255, 255, 255])
    );
}

#[test]
fn a_rotated_page_is_rendered_as_a_viewer_shows_it() {
    let bytes = save(&mut pages(&[PageSpec {
        rotate: Some(90),
        ..PageSpec::sized(A4)
    }]));
    let thumbnail = looks_like_poppler(&bytes);
    assert_eq!((thumbnail.width, thumbnail.height), (300, 212));
}

#[test]
fn an_inherited_rotation_is_honoured() {
    let bytes = save(&mut build(
        dictionary! { "Rotate" => -90 },
        &[PageSpec::sized(LETTER)],
    ));
    let thumbnail = looks_like_poppler(&bytes);
    assert_eq!((thumbnail.width, thumbnail.height), (300, 232));
}

#[test]
fn only_the_crop_box_is_rendered() {
    // The crop box holds the black box of the page's top-left quarter and not much else.
    let bytes = save(&mut pages(&[PageSpec {
        crop_box: Some([20.0, 480.0, 320.0, 840.0]),
        content: Some(marker_content(A4)),
        ..PageSpec::sized(A4)
    }]));
    let thumbnail = looks_like_poppler(&bytes);
    assert_eq!((thumbnail.width, thumbnail.height), (300, 360));
    let image = decode_png(&thumbnail.png);
    let dark = image.pixels().filter(|pixel| pixel.0[0] < 64).count();
    assert!(
        dark * 3 > image.pixels().count(),
        "the black box should fill the crop"
    );
}

#[test]
fn landscape_and_custom_pages_keep_their_aspect() {
    for (media_box, height) in [
        ([0.0, 0.0, 841.89, 595.276], 212),
        ([0.0, 0.0, 300.0, 900.0], 900),
        ([0.0, 0.0, 612.0, 792.0], 388),
    ] {
        let thumbnail = looks_like_poppler(&one_page(media_box));
        assert_eq!(thumbnail.height, height, "{media_box:?}");
    }
}

#[test]
fn a_scanned_jpeg_page_is_rendered() {
    let bytes = scanned_page(jpeg(1240, 1754), 1240, 1754);
    let thumbnail = looks_like_poppler(&bytes);
    assert_eq!((thumbnail.width, thumbnail.height), (300, 424));
    let image = decode_png(&thumbnail.png);
    // The dark block of the scan sits in the top-left.
    assert!(image.get_pixel(60, 60).0[0] < 80);
    assert!(image.get_pixel(250, 380).0[0] > 120);
}

#[test]
fn a_bilevel_ccitt_page_is_rendered() {
    let bytes = fixture("ccitt-g4.pdf");
    let thumbnail = looks_like_poppler(&bytes);
    assert_eq!((thumbnail.width, thumbnail.height), (300, 413));
    let image = decode_png(&thumbnail.png);
    // The filled box of the fixture: 80..400 × 100..300 of 800 × 1100.
    assert!(image.get_pixel(90, 70).0[0] < 64);
    assert!(image.get_pixel(250, 200).0[0] > 192);
}

#[test]
fn an_owner_password_only_pdf_is_rendered() {
    looks_like_poppler(&fixture("owner-password-only-aes256.pdf"));
    looks_like_poppler(&fixture("owner-password-only-rc4-128.pdf"));
}

#[test]
fn a_pdf_locked_by_a_user_password_is_not_rendered() {
    let error = thumbnail(
        &fixture("user-password-aes256.pdf"),
        300,
        &Limits::default(),
    )
    .unwrap_err();
    assert_eq!(error, PdfError::PasswordProtected);
}

#[test]
fn another_width_is_honoured_and_the_height_is_at_least_one_pixel() {
    let narrow = thumbnail(&one_page(A4), 120, &Limits::default()).unwrap();
    assert_eq!((narrow.width, narrow.height), (120, 170));
    let strip = thumbnail(&one_page([0.0, 0.0, 14400.0, 3.0]), 300, &Limits::default()).unwrap();
    assert_eq!((strip.width, strip.height), (300, 1));
}

#[test]
fn a_zero_width_is_an_invalid_request() {
    let error = thumbnail(&one_page(A4), 0, &Limits::default()).unwrap_err();
    assert!(
        matches!(error, PdfError::InvalidRequest { .. }),
        "{error:?}"
    );
}

#[test]
fn object_streams_render_too() {
    let mut doc = pages(&[PageSpec::sized(LETTER)]);
    let options = lopdf::SaveOptions::builder()
        .use_object_streams(true)
        .use_xref_streams(true)
        .build();
    let mut bytes = Vec::new();
    doc.save_with_options(&mut bytes, options).unwrap();
    looks_like_poppler(&bytes);
}

#[test]
fn both_at_once_gives_the_same_as_each_alone() {
    let bytes = scanned_page(jpeg(300, 400), 300, 400);
    let outcome = score_pdf::process(
        &bytes,
        score_pdf::Operation::Both { width: 300 },
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(
        outcome.info.unwrap(),
        score_pdf::inspect(&bytes, &Limits::default()).unwrap()
    );
    assert_eq!(outcome.thumbnail.unwrap(), render(&bytes));
}

#[test]
fn the_comparison_with_poppler_tells_a_wrong_orientation_apart() {
    if !poppler() {
        return;
    }
    let turned = |rotate| {
        save(&mut pages(&[PageSpec {
            rotate: Some(rotate),
            ..PageSpec::sized(A4)
        }]))
    };
    let ours = decode_png(&render(&turned(90)).png);
    let right = pdftoppm(&turned(90), 300);
    let wrong = pdftoppm(&turned(270), 300);
    let (right, wrong) = (
        mean_abs_difference(&ours, &right),
        mean_abs_difference(&ours, &wrong),
    );
    eprintln!("difference to the right orientation {right:.4}, to the wrong one {wrong:.4}");
    assert!(right <= TOLERANCE && wrong > 2.0 * TOLERANCE);
}

/// Three different pages: A4 with the marker, the marker turned by `/Rotate 90`, and a
/// US Letter page that is one black box.
fn three_different_pages() -> Vec<u8> {
    save(&mut pages(&[
        PageSpec::sized(A4),
        PageSpec {
            rotate: Some(90),
            ..PageSpec::sized(A4)
        },
        PageSpec {
            content: Some("0 0 0 rg 50 50 400 600 re f\n".to_owned()),
            ..PageSpec::sized(LETTER)
        },
    ]))
}

#[test]
fn any_page_renders_as_poppler_draws_that_page() {
    let bytes = three_different_pages();
    for (page, (width, height)) in [(1, (300, 424)), (2, (300, 212)), (3, (300, 388))] {
        let preview = page_thumbnail(&bytes, page, 300, &Limits::default()).unwrap();
        assert_eq!(
            (preview.width, preview.height),
            (width, height),
            "page {page}"
        );
        if poppler() {
            assert_page_looks_like_poppler(&bytes, page, &preview.png, TOLERANCE);
        }
    }
    // And not like another page: the comparison tells pages apart.
    if poppler() {
        let third = decode_png(
            &page_thumbnail(&bytes, 3, 300, &Limits::default())
                .unwrap()
                .png,
        );
        let first = pdftoppm_page(&bytes, 1, third.height());
        assert!(mean_abs_difference(&third, &first) > 3.0 * TOLERANCE);
    }
}

#[test]
fn a_page_past_the_last_or_page_zero_is_an_invalid_request() {
    let bytes = three_different_pages();
    for page in [0, 4, u32::MAX] {
        let refused = page_thumbnail(&bytes, page, 300, &Limits::default());
        assert!(
            matches!(refused, Err(PdfError::InvalidRequest { .. })),
            "page {page}: {refused:?}"
        );
    }
}

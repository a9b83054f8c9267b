//! Hostile PDFs in-process: each ends in a typed `PdfError` (or, where a viewer would
//! repair the file, in the right answer) — never a panic, a hang or an unbounded
//! allocation. `sandbox.rs` sends the same files through the child process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use lopdf::{Object, dictionary};
use score_pdf::{Limits, PdfError, inspect, thumbnail};
use testkit::pdf::*;

fn limit_reason(error: &PdfError) -> &str {
    match error {
        PdfError::LimitExceeded { reason } => reason,
        other => panic!("expected a limit failure, got {other:?}"),
    }
}

#[test]
fn a_content_stream_inflating_to_4_gib_is_refused_before_rendering() {
    let compressed = bomb_gib(4);
    assert!(compressed.len() < 8 << 20, "{} bytes", compressed.len());
    let bytes = page_with_flate_content(compressed);
    let error = thumbnail(&bytes, 300, &Limits::default()).unwrap_err();
    assert!(
        limit_reason(&error).contains("decompresses to more than"),
        "{error}"
    );
    // inspect never decodes page content, so it answers without touching the bomb.
    assert_eq!(inspect(&bytes, &Limits::default()).unwrap().page_count, 1);
}

#[test]
fn an_object_stream_inflating_beyond_the_limit_is_refused_while_loading() {
    let mut doc = pages(&vec![PageSpec::sized(A4); 2]);
    let options = lopdf::SaveOptions::builder()
        .use_object_streams(true)
        .use_xref_streams(true)
        .build();
    let mut bytes = Vec::new();
    doc.save_with_options(&mut bytes, options).unwrap();
    let limits = Limits {
        max_decompressed_stream_bytes: 16,
        ..Limits::default()
    };
    let error = inspect(&bytes, &limits).unwrap_err();
    assert!(
        limit_reason(&error).contains("decompresses to more than 16 bytes"),
        "{error}"
    );
}

#[test]
fn a_page_tree_whose_kids_loop_back_is_refused() {
    // The root lists itself among its kids.
    let mut doc = pages(&[PageSpec::sized(A4)]);
    let root_id = doc
        .catalog()
        .unwrap()
        .get(b"Pages")
        .unwrap()
        .as_reference()
        .unwrap();
    let page_id = page_ids(&doc)[0];
    doc.get_dictionary_mut(root_id)
        .unwrap()
        .set("Kids", vec![page_id.into(), root_id.into()]);
    let bytes = save(&mut doc);
    for error in [
        inspect(&bytes, &Limits::default()).unwrap_err(),
        thumbnail(&bytes, 300, &Limits::default()).unwrap_err(),
    ] {
        assert!(
            matches!(&error, PdfError::Malformed { reason } if reason.contains("loop")),
            "{error:?}"
        );
    }
}

#[test]
fn a_two_node_kids_loop_is_refused() {
    let mut doc = pages(&[PageSpec::sized(A4)]);
    let root_id = doc
        .catalog()
        .unwrap()
        .get(b"Pages")
        .unwrap()
        .as_reference()
        .unwrap();
    let middle = doc.add_object(dictionary! {
        "Type" => "Pages", "Parent" => root_id, "Kids" => vec![root_id.into()], "Count" => 1,
    });
    let page_id = page_ids(&doc)[0];
    doc.get_dictionary_mut(root_id)
        .unwrap()
        .set("Kids", vec![page_id.into(), middle.into()]);
    let error = inspect(&save(&mut doc), &Limits::default()).unwrap_err();
    assert!(
        matches!(&error, PdfError::Malformed { reason } if reason.contains("loop")),
        "{error:?}"
    );
}

#[test]
fn a_parent_loop_is_never_followed() {
    // Inheritance is carried down from the root, so a /Parent pointing at the page itself
    // changes nothing: the answer is the one a viewer gives.
    let mut doc = build(
        dictionary! { "MediaBox" => rect(LETTER) },
        &[PageSpec::default()],
    );
    let page_id = page_ids(&doc)[0];
    doc.get_dictionary_mut(page_id)
        .unwrap()
        .set("Parent", page_id);
    let bytes = save(&mut doc);
    let info = inspect(&bytes, &Limits::default()).unwrap();
    assert_eq!((info.page_count, info.page_width_pt), (1, 612.0));
    thumbnail(&bytes, 300, &Limits::default()).unwrap();
}

#[test]
fn a_truncated_file_never_panics_and_a_headless_stub_is_refused() {
    let whole = save(&mut pages(&vec![PageSpec::sized(A4); 3]));
    for percent in [1, 5, 10, 25, 50, 75, 90, 99] {
        let cut = &whole[..whole.len() * percent / 100];
        // lopdf rebuilds what survives, as viewers do; whatever it says is typed.
        match inspect(cut, &Limits::default()) {
            Ok(info) => assert!(info.page_count <= 3, "{percent}%: {info:?}"),
            Err(error) => assert!(error.is_permanent() && !error.to_string().is_empty()),
        }
        let _ = thumbnail(cut, 300, &Limits::default());
    }
    let error = inspect(b"%PDF-1.7\n", &Limits::default()).unwrap_err();
    assert!(matches!(error, PdfError::Malformed { .. }), "{error:?}");
}

#[test]
fn a_file_cut_before_its_pages_is_refused() {
    let whole = save(&mut pages(&vec![PageSpec::sized(A4); 3]));
    let error = inspect(&whole[..40], &Limits::default()).unwrap_err();
    assert!(matches!(error, PdfError::Malformed { .. }), "{error:?}");
}

#[test]
fn broken_xref_offsets_are_repaired_as_a_viewer_would() {
    let whole = save(&mut pages(&vec![PageSpec::sized(LETTER); 2]));
    // A comment inserted after the header shifts every object away from its offset.
    let header_end = whole.iter().position(|&b| b == b'\n').unwrap() + 1;
    let mut broken = whole[..header_end].to_vec();
    broken.extend_from_slice(b"% forty-odd bytes that no xref entry accounts for\n");
    broken.extend_from_slice(&whole[header_end..]);
    let info = inspect(&broken, &Limits::default()).unwrap();
    assert_eq!((info.page_count, info.page_width_pt), (2, 612.0));
    thumbnail(&broken, 300, &Limits::default()).unwrap();
    // (poppler 22.12 gives up on this file: "Couldn't find trailer dictionary".)
}

#[test]
fn a_lying_count_does_not_change_the_page_count() {
    let mut doc = pages(&vec![PageSpec::sized(A4); 2]);
    let root_id = doc
        .catalog()
        .unwrap()
        .get(b"Pages")
        .unwrap()
        .as_reference()
        .unwrap();
    doc.get_dictionary_mut(root_id)
        .unwrap()
        .set("Count", 1_000_000);
    let bytes = save(&mut doc);
    assert_eq!(inspect(&bytes, &Limits::default()).unwrap().page_count, 2);
    thumbnail(&bytes, 300, &Limits::default()).unwrap();
}

#[test]
fn random_bytes_after_the_header_are_refused() {
    for seed in 1..=8 {
        let mut bytes = b"%PDF-1.7\n".to_vec();
        bytes.extend(noise(64 * 1024, seed));
        let error = inspect(&bytes, &Limits::default()).unwrap_err();
        assert!(
            matches!(error, PdfError::Malformed { .. }),
            "seed {seed}: {error:?}"
        );
        assert!(thumbnail(&bytes, 300, &Limits::default()).is_err());
    }
}

#[test]
fn a_page_that_would_render_to_too_many_pixels_is_refused() {
    // 1 pt wide and 200,000 pt tall: 300 px wide is 60 million pixels tall.
    let bytes = one_page([0.0, 0.0, 1.0, 200_000.0]);
    let info = inspect(&bytes, &Limits::default()).unwrap();
    assert_eq!(info.page_height_pt, 200_000.0);
    let error = thumbnail(&bytes, 300, &Limits::default()).unwrap_err();
    assert!(limit_reason(&error).contains("pixels"), "{error}");
    // An ordinary page asked for at an absurd width is refused the same way.
    let error = thumbnail(&one_page(A4), 65_535, &Limits::default()).unwrap_err();
    assert!(limit_reason(&error).contains("pixels"), "{error}");
}

#[test]
fn an_image_declaring_billions_of_pixels_is_refused() {
    let mut doc = pages(&[PageSpec {
        content: Some("q 100 0 0 100 0 0 cm /Im0 Do Q\n".to_owned()),
        ..PageSpec::sized(A4)
    }]);
    let image = doc.add_object(lopdf::Stream::new(
        dictionary! {
            "Type" => "XObject", "Subtype" => "Image", "Width" => 100_000, "Height" => 100_000,
            "ColorSpace" => "DeviceGray", "BitsPerComponent" => 8, "Filter" => "FlateDecode",
        },
        zlib_zeros(1024),
    ));
    let page_id = page_ids(&doc)[0];
    doc.get_dictionary_mut(page_id).unwrap().set(
        "Resources",
        dictionary! { "XObject" => dictionary! { "Im0" => image } },
    );
    let error = thumbnail(&save(&mut doc), 300, &Limits::default()).unwrap_err();
    assert!(limit_reason(&error).contains("image"), "{error}");
}

#[test]
fn a_jpeg_whose_frame_is_larger_than_its_dictionary_says_is_refused() {
    let mut jpeg_bytes = jpeg(16, 16);
    // Rewrite the SOF0 frame size to 65535 × 65535.
    let sof = jpeg_bytes
        .windows(2)
        .position(|w| w == [0xFF, 0xC0])
        .unwrap();
    jpeg_bytes[sof + 5..sof + 9].copy_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF]);
    let bytes = scanned_page(jpeg_bytes, 16, 16);
    let error = thumbnail(&bytes, 300, &Limits::default()).unwrap_err();
    assert!(limit_reason(&error).contains("image"), "{error}");
}

#[test]
fn a_page_tree_nested_deeper_than_the_limit_is_refused() {
    let error = inspect(&deep_page_tree(200), &Limits::default()).unwrap_err();
    assert!(limit_reason(&error).contains("nested"), "{error}");
    // Within the limit the same shape is fine.
    assert_eq!(
        inspect(&deep_page_tree(20), &Limits::default())
            .unwrap()
            .page_count,
        1
    );
}

#[test]
fn deeply_nested_arrays_are_refused_or_ignored_without_overflowing_the_stack() {
    let mut doc = pages(&[PageSpec::sized(A4)]);
    let page_id = page_ids(&doc)[0];
    let mut bytes = save(&mut doc);
    // Rewrite the page dictionary's /Type value into 100,000 nested arrays.
    let nested = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let marker = format!("{} 0 obj", page_id.0);
    let at = bytes
        .windows(marker.len())
        .position(|w| w == marker.as_bytes())
        .unwrap();
    let mut hostile = bytes[..at].to_vec();
    hostile.extend_from_slice(format!("{} 0 obj\n<< /Junk {nested} >>\nendobj\n", 999).as_bytes());
    hostile.extend_from_slice(&bytes.split_off(at));
    let _ = inspect(&hostile, &Limits::default());
    let _ = thumbnail(&hostile, 300, &Limits::default());
}

#[test]
fn a_file_with_more_objects_than_the_limit_is_refused() {
    let bytes = save(&mut pages(&vec![PageSpec::sized(A4); 10]));
    let limits = Limits {
        max_objects: 10,
        ..Limits::default()
    };
    let error = inspect(&bytes, &limits).unwrap_err();
    assert!(limit_reason(&error).contains("objects"), "{error}");
}

#[test]
fn certificate_encryption_is_reported_as_unsupported() {
    let mut doc = pages(&[PageSpec::sized(A4)]);
    let encrypt = doc.add_object(dictionary! {
        "Filter" => "Adobe.PubSec", "V" => 4, "R" => 4, "SubFilter" => "adbe.pkcs7.s5",
    });
    doc.trailer.set("Encrypt", encrypt);
    doc.trailer.set(
        "ID",
        vec![
            Object::string_literal(b"0123456789abcdef".to_vec()),
            Object::string_literal(b"0123456789abcdef".to_vec()),
        ],
    );
    let error = inspect(&save(&mut doc), &Limits::default()).unwrap_err();
    eprintln!("{error:?}");
    assert!(
        matches!(&error, PdfError::Unsupported { reason } if reason.contains("Adobe.PubSec")),
        "{error:?}"
    );
}

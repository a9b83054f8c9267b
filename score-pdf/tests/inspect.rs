//! `inspect` on real PDFs built with lopdf or made by real tools, checked against
//! `pdfinfo` where poppler is installed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use lopdf::{Dictionary, Object, dictionary};
use score_pdf::{Limits, PdfError, PdfInfo, inspect};
use testkit::pdf::*;

fn info(bytes: &[u8]) -> PdfInfo {
    inspect(bytes, &Limits::default()).unwrap()
}

/// Our count and displayed size agree with poppler's.
fn agrees_with_pdfinfo(bytes: &[u8]) {
    let ours = info(bytes);
    if poppler() {
        let (pages, width, height) = pdfinfo(bytes);
        assert_eq!(ours.page_count, pages, "page count");
        assert!(
            (ours.page_width_pt - width).abs() < 0.02
                && (ours.page_height_pt - height).abs() < 0.02,
            "ours {} x {}, pdfinfo {width} x {height}",
            ours.page_width_pt,
            ours.page_height_pt
        );
    }
}

fn size(bytes: &[u8]) -> (f64, f64) {
    let info = info(bytes);
    (info.page_width_pt, info.page_height_pt)
}

#[test]
fn a_single_a4_page_reports_one_page_of_a4_in_points() {
    let bytes = one_page(A4);
    let info = info(&bytes);
    assert_eq!(info.page_count, 1);
    assert_eq!((info.page_width_pt, info.page_height_pt), (595.28, 841.89));
    assert!(!info.encrypted);
    assert_eq!(info.title, None);
    agrees_with_pdfinfo(&bytes);
}

#[test]
fn every_page_of_a_multi_page_letter_document_is_counted() {
    let bytes = save(&mut pages(&vec![PageSpec::sized(LETTER); 7]));
    let info = info(&bytes);
    assert_eq!(info.page_count, 7);
    assert_eq!((info.page_width_pt, info.page_height_pt), (612.0, 792.0));
    agrees_with_pdfinfo(&bytes);
}

#[test]
fn landscape_and_custom_sizes_are_reported_as_given() {
    for (media_box, expected) in [
        ([0.0, 0.0, 841.89, 595.276], (841.89, 595.28)),
        ([0.0, 0.0, 400.0, 300.5], (400.0, 300.5)),
        ([100.0, 200.0, 500.0, 700.0], (400.0, 500.0)),
    ] {
        let bytes = one_page(media_box);
        assert_eq!(size(&bytes), expected, "{media_box:?}");
        agrees_with_pdfinfo(&bytes);
    }
}

#[test]
fn page_one_decides_the_size_of_a_mixed_document() {
    let bytes = save(&mut pages(&[
        PageSpec::sized([0.0, 0.0, 841.89, 595.276]),
        PageSpec::sized(A4),
    ]));
    assert_eq!(size(&bytes), (841.89, 595.28));
    agrees_with_pdfinfo(&bytes);
}

#[test]
fn a_rotated_portrait_page_reports_landscape_width_and_height() {
    for (rotate, expected) in [
        (90, (841.89, 595.28)),
        (270, (841.89, 595.28)),
        (-90, (841.89, 595.28)),
        (-270, (841.89, 595.28)),
        (450, (841.89, 595.28)),
        (180, (595.28, 841.89)),
        (-180, (595.28, 841.89)),
        (360, (595.28, 841.89)),
    ] {
        let bytes = save(&mut pages(&[PageSpec {
            rotate: Some(rotate),
            ..PageSpec::sized(A4)
        }]));
        assert_eq!(size(&bytes), expected, "/Rotate {rotate}");
        agrees_with_pdfinfo(&bytes);
    }
}

#[test]
fn a_rotation_that_is_not_a_multiple_of_90_is_ignored() {
    let bytes = save(&mut pages(&[PageSpec {
        rotate: Some(45),
        ..PageSpec::sized(A4)
    }]));
    assert_eq!(size(&bytes), (595.28, 841.89));
}

#[test]
fn rotate_is_inherited_from_the_page_tree() {
    let bytes = save(&mut build(
        dictionary! { "Rotate" => 90 },
        &[PageSpec::sized(LETTER)],
    ));
    assert_eq!(size(&bytes), (792.0, 612.0));
    agrees_with_pdfinfo(&bytes);
}

#[test]
fn a_page_s_own_rotate_overrides_the_inherited_one() {
    let bytes = save(&mut build(
        dictionary! { "Rotate" => 90 },
        &[PageSpec {
            rotate: Some(0),
            ..PageSpec::sized(LETTER)
        }],
    ));
    assert_eq!(size(&bytes), (612.0, 792.0));
}

#[test]
fn the_crop_box_decides_the_size_when_it_differs_from_the_media_box() {
    let bytes = save(&mut pages(&[PageSpec {
        crop_box: Some([50.0, 50.0, 350.0, 450.0]),
        ..PageSpec::sized(A4)
    }]));
    assert_eq!(size(&bytes), (300.0, 400.0));
    agrees_with_pdfinfo(&bytes);
}

#[test]
fn a_crop_box_reaching_outside_the_media_box_is_intersected_with_it() {
    let bytes = save(&mut pages(&[PageSpec {
        crop_box: Some([-100.0, 400.0, 300.0, 1000.0]),
        ..PageSpec::sized([0.0, 0.0, 612.0, 792.0])
    }]));
    assert_eq!(size(&bytes), (300.0, 392.0));
    agrees_with_pdfinfo(&bytes);
}

#[test]
fn boxes_with_swapped_corners_are_normalised() {
    let bytes = save(&mut pages(&[PageSpec {
        crop_box: Some([350.0, 450.0, 50.0, 50.0]),
        ..PageSpec::sized([612.0, 792.0, 0.0, 0.0])
    }]));
    assert_eq!(size(&bytes), (300.0, 400.0));
    agrees_with_pdfinfo(&bytes);
}

#[test]
fn the_crop_box_is_rotated_too() {
    let bytes = save(&mut pages(&[PageSpec {
        crop_box: Some([50.0, 50.0, 350.0, 450.0]),
        rotate: Some(90),
        ..PageSpec::sized(A4)
    }]));
    assert_eq!(size(&bytes), (400.0, 300.0));
    agrees_with_pdfinfo(&bytes);
}

#[test]
fn media_box_and_crop_box_are_inherited_from_the_page_tree() {
    let bytes = save(&mut build(
        dictionary! { "MediaBox" => rect(LETTER) },
        &[PageSpec::default(), PageSpec::default()],
    ));
    assert_eq!(size(&bytes), (612.0, 792.0));
    agrees_with_pdfinfo(&bytes);

    let bytes = save(&mut build(
        dictionary! { "MediaBox" => rect(A4), "CropBox" => rect([0.0, 0.0, 500.0, 600.0]) },
        &[PageSpec::default()],
    ));
    assert_eq!(size(&bytes), (500.0, 600.0));
    agrees_with_pdfinfo(&bytes);
}

#[test]
fn attributes_are_inherited_through_intermediate_page_tree_nodes() {
    // Root (MediaBox Letter, Rotate 90) → middle node → page.
    let mut doc = build(
        dictionary! { "MediaBox" => rect(LETTER), "Rotate" => 90 },
        &[PageSpec::default()],
    );
    let root_id = doc
        .catalog()
        .unwrap()
        .get(b"Pages")
        .unwrap()
        .as_reference()
        .unwrap();
    let page_id = page_ids(&doc)[0];
    let middle_id = doc.add_object(dictionary! {
        "Type" => "Pages", "Parent" => root_id, "Kids" => vec![page_id.into()], "Count" => 1,
    });
    doc.get_dictionary_mut(page_id)
        .unwrap()
        .set("Parent", middle_id);
    doc.get_dictionary_mut(root_id)
        .unwrap()
        .set("Kids", vec![Object::Reference(middle_id)]);
    let bytes = save(&mut doc);
    assert_eq!(size(&bytes), (792.0, 612.0));
    agrees_with_pdfinfo(&bytes);
}

#[test]
fn a_page_without_any_media_box_is_taken_as_a4_like_the_renderer_does() {
    let bytes = save(&mut pages(&[PageSpec::default()]));
    assert_eq!(size(&bytes), (595.28, 841.89));
}

#[test]
fn info_in_utf16be_is_decoded() {
    let mut doc = pages(&[PageSpec::sized(A4)]);
    set_info(
        &mut doc,
        &[
            ("Title", utf16be("아리랑")),
            ("Author", utf16be("Gabriel Fauré")),
            ("Subject", utf16be("Élégie, op. 24")),
            ("Keywords", utf16be("cello; 𝄞")),
        ],
    );
    let info = info(&save(&mut doc));
    assert_eq!(info.title.as_deref(), Some("아리랑"));
    assert_eq!(info.author.as_deref(), Some("Gabriel Fauré"));
    assert_eq!(info.subject.as_deref(), Some("Élégie, op. 24"));
    assert_eq!(info.keywords.as_deref(), Some("cello; 𝄞"));
}

#[test]
fn info_in_pdfdocencoding_is_decoded() {
    let mut doc = pages(&[PageSpec::sized(A4)]);
    set_info(
        &mut doc,
        &[
            ("Title", literal(b"\xC9l\xE9gie \x84 Faur\xE9")),
            ("Author", literal(b"Dvo\x99\xE1k")),
        ],
    );
    let info = info(&save(&mut doc));
    assert_eq!(info.title.as_deref(), Some("Élégie — Fauré"));
    // 0x99 is Ž in PDFDocEncoding; the point is that it is not Latin-1's control code.
    assert_eq!(info.author.as_deref(), Some("DvoŽák"));
}

#[test]
fn info_in_utf8_with_a_bom_is_decoded() {
    let mut doc = pages(&[PageSpec::sized(A4)]);
    set_info(&mut doc, &[("Title", literal("\u{FEFF}Élégie".as_bytes()))]);
    assert_eq!(info(&save(&mut doc)).title.as_deref(), Some("Élégie"));
}

#[test]
fn blank_info_values_are_none_and_others_are_trimmed() {
    let mut doc = pages(&[PageSpec::sized(A4)]);
    set_info(
        &mut doc,
        &[
            ("Title", literal(b"  Nocturne  ")),
            ("Author", literal(b"   ")),
            ("Subject", utf16be("")),
            ("Keywords", Object::Integer(7)),
        ],
    );
    let info = info(&save(&mut doc));
    assert_eq!(info.title.as_deref(), Some("Nocturne"));
    assert_eq!(
        (info.author, info.subject, info.keywords),
        (None, None, None)
    );
}

#[test]
fn pdf_info_serialises_with_the_contract_field_names() {
    let mut doc = pages(&[PageSpec::sized(A4)]);
    set_info(&mut doc, &[("Title", utf16be("아리랑"))]);
    let json = serde_json::to_value(info(&save(&mut doc))).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "page_count": 1, "page_width_pt": 595.28, "page_height_pt": 841.89,
            "title": "아리랑", "author": null, "subject": null, "keywords": null,
            "encrypted": false,
        })
    );
}

#[test]
fn owner_password_only_pdfs_open_and_say_they_are_encrypted() {
    for name in [
        "owner-password-only-aes256.pdf",
        "owner-password-only-rc4-128.pdf",
    ] {
        let bytes = fixture(name);
        let info = info(&bytes);
        assert!(info.encrypted, "{name}");
        assert_eq!(info.page_count, 1, "{name}");
        assert_eq!(info.title.as_deref(), Some("Secret Sonata"), "{name}");
        assert_eq!(info.author.as_deref(), Some("Anonymous"), "{name}");
        agrees_with_pdfinfo(&bytes);
    }
}

#[test]
fn a_pdf_locked_by_a_user_password_is_refused_with_a_readable_reason() {
    for name in ["user-password-aes256.pdf", "user-password-rc4-128.pdf"] {
        let error = inspect(&fixture(name), &Limits::default()).unwrap_err();
        assert_eq!(error, PdfError::PasswordProtected, "{name}");
        assert!(error.is_permanent());
        assert!(
            error.to_string().contains("locked by a password"),
            "{error}"
        );
    }
}

#[test]
fn object_streams_and_xref_streams_are_read() {
    let mut doc = pages(&vec![PageSpec::sized(LETTER); 3]);
    set_info(&mut doc, &[("Title", utf16be("Sarabande"))]);
    let options = lopdf::SaveOptions::builder()
        .use_object_streams(true)
        .use_xref_streams(true)
        .build();
    let mut bytes = Vec::new();
    doc.save_with_options(&mut bytes, options).unwrap();
    assert!(
        bytes.windows(6).any(|w| w == b"ObjStm"),
        "no object stream written"
    );
    let info = info(&bytes);
    assert_eq!(info.page_count, 3);
    assert_eq!(info.title.as_deref(), Some("Sarabande"));
    agrees_with_pdfinfo(&bytes);
}

/// Appends an incremental update that replaces objects `replaced` (id → new body).
fn append_update(base: &[u8], replaced: &[(u32, String)], root: u32, info: Option<u32>) -> Vec<u8> {
    let previous = {
        let text = String::from_utf8_lossy(base);
        let at = text.rfind("startxref").unwrap();
        text[at + 9..]
            .split_whitespace()
            .next()
            .unwrap()
            .parse::<usize>()
            .unwrap()
    };
    let size = lopdf::Document::load_mem(base).unwrap().max_id + 1;
    let mut out = base.to_vec();
    if !out.ends_with(b"\n") {
        out.push(b'\n');
    }
    let mut offsets = Vec::new();
    for (id, body) in replaced {
        offsets.push((*id, out.len()));
        out.extend_from_slice(format!("{id} 0 obj\n{body}\nendobj\n").as_bytes());
    }
    let xref_at = out.len();
    out.extend_from_slice(b"xref\n");
    for (id, offset) in &offsets {
        out.extend_from_slice(format!("{id} 1\n{offset:010} 00000 n \n").as_bytes());
    }
    let info = info
        .map(|id| format!(" /Info {id} 0 R"))
        .unwrap_or_default();
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {size} /Root {root} 0 R{info} /Prev {previous} >>\nstartxref\n{xref_at}\n%%EOF\n"
        )
        .as_bytes(),
    );
    out
}

#[test]
fn an_incremental_update_replaces_the_objects_it_rewrites() {
    let mut doc = pages(&[PageSpec::sized(A4)]);
    set_info(&mut doc, &[("Title", literal(b"Draft"))]);
    let base = save(&mut doc);
    let root = doc.trailer.get(b"Root").unwrap().as_reference().unwrap().0;
    let info_id = doc.trailer.get(b"Info").unwrap().as_reference().unwrap().0;
    let page_id = page_ids(&doc)[0];
    let page = doc.get_dictionary(page_id).unwrap();
    let parent = page.get(b"Parent").unwrap().as_reference().unwrap().0;
    let contents = page.get(b"Contents").unwrap().as_reference().unwrap().0;
    let updated = append_update(
        &base,
        &[
            (
                info_id,
                "<< /Title (Final) /Author (Clara Schumann) >>".to_owned(),
            ),
            (
                page_id.0,
                format!(
                    "<< /Type /Page /Parent {parent} 0 R /MediaBox [0 0 612 792] /Rotate 90 /Contents {contents} 0 R >>"
                ),
            ),
        ],
        root,
        Some(info_id),
    );
    let info = info(&updated);
    assert_eq!(info.title.as_deref(), Some("Final"));
    assert_eq!(info.author.as_deref(), Some("Clara Schumann"));
    assert_eq!((info.page_width_pt, info.page_height_pt), (792.0, 612.0));
    agrees_with_pdfinfo(&updated);
}

#[test]
fn a_ccitt_fixture_made_by_tiff2pdf_is_read() {
    let bytes = fixture("ccitt-g4.pdf");
    let info = info(&bytes);
    assert_eq!(info.page_count, 1);
    assert_eq!((info.page_width_pt, info.page_height_pt), (576.0, 792.0));
    agrees_with_pdfinfo(&bytes);
}

#[test]
fn a_scanned_page_is_read() {
    let bytes = scanned_page(jpeg(620, 877), 620, 877);
    assert_eq!(size(&bytes), (595.28, 841.89));
    agrees_with_pdfinfo(&bytes);
}

#[test]
fn junk_before_the_header_is_tolerated_like_viewers_do() {
    let mut bytes = b"garbage from a mail gateway\r\n".to_vec();
    bytes.extend(one_page(LETTER));
    assert_eq!(size(&bytes), (612.0, 792.0));
}

#[test]
fn a_file_that_is_not_a_pdf_is_refused() {
    let error = inspect(b"PK\x03\x04 this is a zip file", &Limits::default()).unwrap_err();
    assert!(matches!(error, PdfError::NotPdf { .. }), "{error:?}");
    assert!(error.is_permanent());
}

#[test]
fn a_file_over_the_size_limit_is_refused_before_parsing() {
    let limits = Limits {
        max_input_bytes: 100,
        ..Limits::default()
    };
    let error = inspect(&one_page(A4), &limits).unwrap_err();
    assert!(
        matches!(error, PdfError::TooLarge { limit: 100, .. }),
        "{error:?}"
    );
}

#[test]
fn a_document_with_an_empty_page_tree_is_refused() {
    let bytes = save(&mut build(Dictionary::new(), &[]));
    let error = inspect(&bytes, &Limits::default()).unwrap_err();
    assert_eq!(
        error,
        PdfError::Malformed {
            reason: "the document has no pages".into()
        }
    );
}

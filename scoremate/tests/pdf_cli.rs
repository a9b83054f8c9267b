//! `scoremate pdf info|thumbnail` and the hidden `process-pdf` sandbox child, on real and
//! hostile PDFs, as an operator (and the processors) run them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use lopdf::Object;
use testkit::pdf::*;

mod support;

use support::{scoremate, temp_dir};

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn pdf(args: &[&str], file: &Path) -> Output {
    scoremate()
        .arg("pdf")
        .args(args)
        .arg(file)
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn korean_rotated_two_pages() -> Vec<u8> {
    let mut doc = pages(&[
        PageSpec {
            rotate: Some(90),
            ..PageSpec::sized(A4)
        },
        PageSpec::sized(A4),
    ]);
    set_info(
        &mut doc,
        &[
            ("Title", utf16be("아리랑")),
            ("Author", literal(b"Faur\xE9")),
        ],
    );
    save(&mut doc)
}

#[test]
fn pdf_info_prints_aligned_facts() {
    let dir = temp_dir("pdf-info");
    let file = write(&dir, "arirang.pdf", &korean_rotated_two_pages());
    let output = pdf(&["info"], &file);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "pages:     2\n\
         page size: 841.89 x 595.28 pt (297 x 210 mm)\n\
         title:     아리랑\n\
         author:    Fauré\n\
         subject:   -\n\
         keywords:  -\n\
         encrypted: no\n"
    );
}

#[test]
fn pdf_info_json_is_the_pdf_object_of_a_score() {
    let dir = temp_dir("pdf-info-json");
    let bytes = korean_rotated_two_pages();
    let file = write(&dir, "arirang.pdf", &bytes);
    let output = pdf(&["info", "--json"], &file);
    assert!(output.status.success(), "{}", stderr(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "page_count": 2, "page_width_pt": 841.89, "page_height_pt": 595.28,
            "title": "아리랑", "author": "Fauré", "subject": null, "keywords": null,
            "encrypted": false,
        })
    );
    if poppler() {
        let (pages, width, height) = pdfinfo(&bytes);
        assert_eq!(json["page_count"], pages);
        assert!((json["page_width_pt"].as_f64().unwrap() - width).abs() < 0.02);
        assert!((json["page_height_pt"].as_f64().unwrap() - height).abs() < 0.02);
    }
}

#[test]
fn pdf_thumbnail_writes_a_png_that_looks_like_poppler_s_rendering() {
    let dir = temp_dir("pdf-thumbnail");
    let bytes = scanned_page(jpeg(1240, 1754), 1240, 1754);
    let file = write(&dir, "scan.pdf", &bytes);
    let png = dir.join("scan.png");
    let output = scoremate()
        .args(["pdf", "thumbnail"])
        .arg(&file)
        .arg("-o")
        .arg(&png)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("300 x 424 px"),
        "{}",
        stdout(&output)
    );
    let written = std::fs::read(&png).unwrap();
    let image = decode_png(&written);
    assert_eq!((image.width(), image.height()), (300, 424));
    if poppler() {
        assert_looks_like_poppler(&bytes, &written, 0.06);
    }
}

#[test]
fn pdf_thumbnail_renders_the_page_asked_for_as_a_page_preview_does() {
    let dir = temp_dir("pdf-thumbnail-page");
    // Three pages of three sizes: the size of the PNG tells which page was drawn.
    let bytes = save(&mut pages(&[
        PageSpec::sized(A4),
        PageSpec::sized(LETTER),
        PageSpec {
            rotate: Some(90),
            ..PageSpec::sized(A4)
        },
    ]));
    let file = write(&dir, "three.pdf", &bytes);
    let png = dir.join("page3.png");
    let output = scoremate()
        .args(["pdf", "thumbnail", "--page", "3", "-o"])
        .arg(&png)
        .arg(&file)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let written = std::fs::read(&png).unwrap();
    let image = decode_png(&written);
    assert_eq!((image.width(), image.height()), (300, 212));
    if poppler() {
        assert_page_looks_like_poppler(&bytes, 3, &written, 0.06);
    }
    let past = scoremate()
        .args(["pdf", "thumbnail", "--page", "4", "-o"])
        .arg(dir.join("page4.png"))
        .arg(&file)
        .output()
        .unwrap();
    assert!(!past.status.success());
    assert!(stderr(&past).contains("page 4"), "{}", stderr(&past));
}

#[test]
fn pdf_thumbnail_honours_width_rotation_and_crop_box() {
    let dir = temp_dir("pdf-thumbnail-width");
    let bytes = save(&mut pages(&[PageSpec {
        rotate: Some(270),
        crop_box: Some([0.0, 0.0, 400.0, 600.0]),
        ..PageSpec::sized(A4)
    }]));
    let file = write(&dir, "rotated.pdf", &bytes);
    let png = dir.join("rotated.png");
    let output = scoremate()
        .args(["pdf", "thumbnail", "--width", "150", "-o"])
        .arg(&png)
        .arg(&file)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let written = std::fs::read(&png).unwrap();
    let image = decode_png(&written);
    assert_eq!((image.width(), image.height()), (150, 100));
    if poppler() {
        assert_looks_like_poppler(&bytes, &written, 0.06);
    }
}

#[test]
fn an_owner_password_only_pdf_is_processed_and_marked_encrypted() {
    let dir = temp_dir("pdf-owner");
    let file = write(
        &dir,
        "owner.pdf",
        &fixture("owner-password-only-aes256.pdf"),
    );
    let output = pdf(&["info", "--json"], &file);
    assert!(output.status.success(), "{}", stderr(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["encrypted"], true);
    assert_eq!(json["title"], "Secret Sonata");
}

#[test]
fn a_pdf_locked_by_a_user_password_fails_with_a_readable_reason() {
    let dir = temp_dir("pdf-locked");
    let file = write(&dir, "locked.pdf", &fixture("user-password-aes256.pdf"));
    for args in [&["info"][..], &["thumbnail", "-o", "/dev/null"][..]] {
        let output = pdf(args, &file);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert!(output.stdout.is_empty());
        let message = stderr(&output);
        assert!(
            message.contains("locked.pdf: the PDF is locked by a password"),
            "{args:?}: {message}"
        );
    }
}

#[test]
fn a_missing_file_fails_with_a_readable_reason() {
    let output = pdf(&["info"], Path::new("/nonexistent/score.pdf"));
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("reading /nonexistent/score.pdf"));
}

fn looping_page_tree() -> Vec<u8> {
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
        .set("Kids", vec![page_id.into(), Object::Reference(root_id)]);
    save(&mut doc)
}

#[test]
fn hostile_files_fail_with_a_reason_and_never_crash_the_binary() {
    let dir = temp_dir("pdf-hostile");
    let mut random = b"%PDF-1.4\n".to_vec();
    random.extend(noise(64 * 1024, 11));
    let whole = one_page(A4);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "bomb.pdf",
            page_with_flate_content(bomb_gib(4)),
            "decompresses to more than",
        ),
        ("loop.pdf", looping_page_tree(), "(a loop)"),
        ("random.pdf", random, "cannot be read"),
        ("stub.pdf", b"%PDF-1.7\n".to_vec(), "cannot be read"),
        ("truncated.pdf", whole[..40].to_vec(), "cannot be read"),
        ("tall.pdf", one_page([0.0, 0.0, 1.0, 200_000.0]), "pixels"),
        (
            "deep.pdf",
            deep_page_tree(200),
            "nested more than 64 levels",
        ),
        ("photo.gif", b"GIF89a\x01\x00".to_vec(), "not a PDF"),
    ];
    for (name, bytes, reason) in cases {
        let file = write(&dir, name, &bytes);
        let png = dir.join(format!("{name}.png"));
        let output = scoremate()
            .args(["pdf", "thumbnail", "-o"])
            .arg(&png)
            .arg(&file)
            .output()
            .unwrap();
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{name}: {message}");
        assert!(message.contains(reason), "{name}: {message}");
        let last_line = message.lines().last().unwrap_or_default();
        assert!(last_line.starts_with("scoremate: "), "{name}: {message}");
        assert!(!message.contains("panicked"), "{name}: {message}");
        assert!(!png.exists(), "{name}: a thumbnail was written");
    }
}

#[test]
fn damaged_files_a_viewer_opens_are_opened_too() {
    let dir = temp_dir("pdf-repaired");
    // Every xref offset is off by the inserted comment.
    let whole = save(&mut pages(&vec![PageSpec::sized(LETTER); 3]));
    let header_end = whole.iter().position(|&b| b == b'\n').unwrap() + 1;
    let mut shifted = whole[..header_end].to_vec();
    shifted.extend_from_slice(b"% bytes no xref entry accounts for\n");
    shifted.extend_from_slice(&whole[header_end..]);
    // /Count claims a million pages.
    let mut doc = pages(&vec![PageSpec::sized(LETTER); 3]);
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
    for (name, bytes) in [("shifted.pdf", shifted), ("count.pdf", save(&mut doc))] {
        let file = write(&dir, name, &bytes);
        let output = pdf(&["info", "--json"], &file);
        assert!(output.status.success(), "{name}: {}", stderr(&output));
        let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(json["page_count"], 3, "{name}");
    }
}

/// `scoremate process-pdf` fed by hand, as the sandbox feeds it.
fn child(limits: &serde_json::Value, request: &str, pdf: &[u8]) -> Output {
    let mut child = scoremate()
        .arg("process-pdf")
        .env("SCORE_PDF_LIMITS", limits.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let _ = stdin.write_all(request.as_bytes());
    let _ = stdin.write_all(b"\n");
    let _ = stdin.write_all(pdf);
    drop(stdin);
    child.wait_with_output().unwrap()
}

#[test]
fn the_child_answers_one_request_with_a_json_header_and_png_bytes() {
    let output = child(
        &serde_json::json!({}),
        r#"{"op":"both","width":300}"#,
        &one_page(A4),
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let newline = output.stdout.iter().position(|&b| b == b'\n').unwrap();
    let header: serde_json::Value = serde_json::from_slice(&output.stdout[..newline]).unwrap();
    assert_eq!(header["status"], "ok");
    assert_eq!(header["info"]["page_count"], 1);
    assert_eq!(header["thumbnail"]["width"], 300);
    let png = &output.stdout[newline + 1..];
    assert_eq!(header["thumbnail"]["png_bytes"], png.len());
    assert!(png.starts_with(b"\x89PNG"));
}

#[test]
fn the_child_reports_a_refused_file_in_its_header() {
    let output = child(
        &serde_json::json!({}),
        r#"{"op":"info"}"#,
        &fixture("user-password-rc4-128.pdf"),
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let header: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        header,
        serde_json::json!({"status": "failed", "error": {"kind": "password_protected"}})
    );
}

#[test]
fn the_child_refuses_a_malformed_request() {
    let output = child(&serde_json::json!({}), r#"{"op":"print"}"#, b"%PDF-1.7");
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("bad request header"));
}

#[test]
fn the_child_is_killed_at_its_address_space_limit() {
    // The decompression limit is lifted to 3 GiB so that only RLIMIT_AS (512 MiB) stops
    // the 4 GiB bomb: memory stays bounded by the sandbox, not by luck.
    let limits = serde_json::json!({
        "max_decompressed_stream_bytes": 3u64 << 30,
        "address_space_bytes": 512u64 << 20,
    });
    let output = child(
        &limits,
        r#"{"op":"thumbnail","width":300}"#,
        &page_with_flate_content(bomb_gib(4)),
    );
    assert_eq!(output.status.signal(), Some(6), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("memory allocation of"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn the_child_is_killed_at_its_cpu_limit() {
    let limits = serde_json::json!({ "cpu_secs": 1 });
    let started = std::time::Instant::now();
    let output = child(
        &limits,
        r#"{"op":"thumbnail","width":300}"#,
        &form_xobject_bomb(40),
    );
    // SIGXCPU at the soft limit, SIGKILL at the hard one a second later.
    assert!(
        matches!(output.status.signal(), Some(24 | 9)),
        "{:?}: {}",
        output.status,
        stderr(&output)
    );
    assert!(started.elapsed().as_secs() < 15);
}

#[test]
fn process_pdf_is_hidden_from_help() {
    let help = scoremate().arg("--help").output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    assert!(help.contains("pdf"));
    assert!(!help.contains("process-pdf"));
}

//! The sandbox: the work in a child process (this crate's `score-pdf-child`), with its
//! failures — crash, CPU, memory, wall clock, protocol — turned into `PdfError`s.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use score_pdf::{Limits, Operation, PdfError, Sandbox};
use testkit::pdf::*;

/// The sandbox child binary of this crate.
fn child_program() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_score-pdf-child"))
}

fn sandbox(limits: Limits) -> Sandbox {
    Sandbox {
        program: child_program(),
        args: Vec::new(),
        limits,
    }
}

fn run(sandbox: &Sandbox, bytes: &[u8], op: Operation) -> Result<score_pdf::Outcome, PdfError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(sandbox.run(bytes, op))
}

fn limit_reason(error: &PdfError) -> &str {
    match error {
        PdfError::LimitExceeded { reason } => reason,
        other => panic!("expected a limit failure, got {other:?}"),
    }
}

#[test]
fn the_child_answers_what_the_library_answers() {
    let bytes = scanned_page(jpeg(800, 1131), 800, 1131);
    let limits = Limits::default();
    let outcome = run(
        &sandbox(limits.clone()),
        &bytes,
        Operation::Both { width: 300 },
    )
    .unwrap();
    assert_eq!(
        outcome.info.unwrap(),
        score_pdf::inspect(&bytes, &limits).unwrap()
    );
    assert_eq!(
        outcome.thumbnail.unwrap(),
        score_pdf::thumbnail(&bytes, 300, &limits).unwrap()
    );
    let info_only = run(&sandbox(limits.clone()), &bytes, Operation::Info).unwrap();
    assert!(info_only.info.is_some() && info_only.thumbnail.is_none());
    let thumbnail_only = run(
        &sandbox(limits),
        &bytes,
        Operation::Thumbnail { width: 120 },
    )
    .unwrap();
    assert!(thumbnail_only.info.is_none());
    assert_eq!(thumbnail_only.thumbnail.unwrap().width, 120);
}

#[test]
fn the_child_reports_the_file_s_own_failure() {
    let error = run(
        &sandbox(Limits::default()),
        &fixture("user-password-aes256.pdf"),
        Operation::Both { width: 300 },
    )
    .unwrap_err();
    assert_eq!(error, PdfError::PasswordProtected);
}

#[test]
fn hostile_files_end_in_the_same_errors_through_the_child() {
    let mut random = b"%PDF-1.7\n".to_vec();
    random.extend(noise(64 * 1024, 7));
    let mut looping = pages(&[PageSpec::sized(A4)]);
    let root_id = looping
        .catalog()
        .unwrap()
        .get(b"Pages")
        .unwrap()
        .as_reference()
        .unwrap();
    looping
        .get_dictionary_mut(root_id)
        .unwrap()
        .set("Kids", vec![lopdf::Object::Reference(root_id)]);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("decompression bomb", page_with_flate_content(bomb_gib(4))),
        ("page tree loop", save(&mut looping)),
        ("random bytes", random),
        ("headless stub", b"%PDF-1.7\n".to_vec()),
        ("pixel bomb", one_page([0.0, 0.0, 1.0, 200_000.0])),
        ("deep page tree", deep_page_tree(200)),
        ("not a pdf", b"GIF89a".to_vec()),
    ];
    let limits = Limits::default();
    for (name, bytes) in cases {
        let expected =
            score_pdf::process(&bytes, Operation::Both { width: 300 }, &limits).expect_err(name);
        let error = run(
            &sandbox(limits.clone()),
            &bytes,
            Operation::Both { width: 300 },
        )
        .expect_err(name);
        assert_eq!(error, expected, "{name}");
        assert!(error.is_permanent(), "{name}");
    }
}

#[test]
fn a_child_spending_too_much_cpu_is_killed_and_reported() {
    // 2^40 draws of an empty form: only the CPU limit stops it.
    let limits = Limits {
        cpu_secs: 2,
        timeout_secs: 30,
        ..Limits::default()
    };
    let started = std::time::Instant::now();
    let error = run(
        &sandbox(limits),
        &form_xobject_bomb(40),
        Operation::Thumbnail { width: 300 },
    )
    .unwrap_err();
    assert!(limit_reason(&error).contains("CPU limit of 2 s"), "{error}");
    assert!(error.is_permanent());
    assert!(started.elapsed().as_secs() < 20);
}

#[test]
fn a_child_exceeding_its_memory_is_killed_and_reported() {
    // Let the decompression limit allow 3 GiB, so that only the address-space limit of
    // 512 MiB stands between the bomb and the machine's memory.
    let limits = Limits {
        max_decompressed_stream_bytes: 3 << 30,
        address_space_bytes: 512 << 20,
        ..Limits::default()
    };
    let error = run(
        &sandbox(limits),
        &page_with_flate_content(bomb_gib(4)),
        Operation::Thumbnail { width: 300 },
    )
    .unwrap_err();
    assert!(
        limit_reason(&error).contains("memory limit of 512 MiB"),
        "{error}"
    );
}

#[test]
fn a_child_past_the_wall_clock_limit_is_killed_and_reported() {
    let sandbox = Sandbox {
        program: PathBuf::from("/bin/sh"),
        args: vec!["-c".into(), "exec sleep 30".into()],
        limits: Limits {
            timeout_secs: 1,
            ..Limits::default()
        },
    };
    let started = std::time::Instant::now();
    let error = run(&sandbox, &one_page(A4), Operation::Info).unwrap_err();
    assert_eq!(error, PdfError::TimedOut { seconds: 1 });
    assert_eq!(error.to_string(), "processing the PDF timed out after 1 s");
    assert!(started.elapsed().as_secs() < 10);
}

#[test]
fn a_child_killed_by_a_signal_is_a_permanent_failure_with_a_reason() {
    for (script, expected) in [
        ("kill -SEGV $$", "SIGSEGV"),
        ("kill -XCPU $$", "CPU limit"),
        ("kill -KILL $$", "SIGKILL"),
    ] {
        let sandbox = Sandbox {
            program: PathBuf::from("/bin/sh"),
            args: vec!["-c".into(), script.into()],
            limits: Limits::default(),
        };
        let error = run(&sandbox, &one_page(A4), Operation::Info).unwrap_err();
        assert!(error.is_permanent(), "{script}: {error:?}");
        assert!(error.to_string().contains(expected), "{script}: {error}");
    }
}

#[test]
fn a_child_that_cannot_start_is_a_transient_failure() {
    let sandbox = Sandbox {
        program: PathBuf::from("/nonexistent/scoremate"),
        args: Vec::new(),
        limits: Limits::default(),
    };
    let error = run(&sandbox, &one_page(A4), Operation::Info).unwrap_err();
    assert!(matches!(error, PdfError::Sandbox { .. }), "{error:?}");
    assert!(!error.is_permanent());
}

#[test]
fn a_child_that_breaks_the_protocol_is_a_transient_failure() {
    for program in ["/bin/true", "/bin/cat"] {
        let sandbox = Sandbox {
            program: PathBuf::from(program),
            args: Vec::new(),
            limits: Limits::default(),
        };
        let error = run(&sandbox, &one_page(A4), Operation::Info).unwrap_err();
        assert!(
            matches!(error, PdfError::Sandbox { .. }),
            "{program}: {error:?}"
        );
        assert!(!error.is_permanent());
    }
}

#[test]
fn a_file_over_the_input_limit_is_refused_without_starting_a_child() {
    let sandbox = Sandbox {
        program: PathBuf::from("/nonexistent/scoremate"),
        args: Vec::new(),
        limits: Limits {
            max_input_bytes: 10,
            ..Limits::default()
        },
    };
    let error = run(&sandbox, &one_page(A4), Operation::Info).unwrap_err();
    assert!(
        matches!(error, PdfError::TooLarge { limit: 10, .. }),
        "{error:?}"
    );
}

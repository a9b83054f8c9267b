//! `scoremate pdf info FILE` and `scoremate pdf thumbnail FILE -o OUT.png` — the real
//! binary, which hands each file to its sandbox child process — beside poppler's `pdfinfo
//! FILE` and `pdftoppm -png -singlefile -scale-to 300 -f 1 -l 1 FILE PREFIX` on the same
//! files in the same run: per-file median wall time and peak RSS, the ratio per file and
//! the median ratio. A page preview's rendering too: `scoremate pdf thumbnail --page LAST`
//! beside `pdftoppm -scale-to-x 300 -scale-to-y -1 -f LAST -l LAST`, the file's last page.
//!
//! `cargo bench -p benches --bench pdf` after `cargo build -p scoremate --profile bench`
//! (the bench profile: release). The binary is `SCOREMATE_BIN`, by default the `scoremate` of the
//! bench's own profile folder (`$CARGO_TARGET_DIR/<profile>/scoremate`).
//! `SCOREMATE_BENCH_REPEAT` (default 5) sets the measured runs per file and command. See
//! `docs/benchmarks.md`.
//!
//! The files are the committed fixtures of `score-pdf/tests/fixtures/` (one locked by a user
//! password, which both sides refuse: reported as refused, never timed) and PDFs built at
//! the start with lopdf through the PDF tests' own builders (`testkit::pdf`), written to a
//! temporary folder.
//!
//! Each measured run is two runs of the command: one timed by the wall clock around
//! `std::process::Command::output` (spawn to exit, output read), one under GNU time
//! (`/usr/bin/time -f %M`) for the peak RSS. GNU time reports the `ru_maxrss` of the
//! `wait4` of its child, which on Linux is the largest of the child's own and of every
//! descendant it waited for: for `scoremate` that is the larger of the CLI process and its
//! sandbox child. The two kinds of run alternate, and within a repeat the four commands
//! alternate, file after file, so that a noisy neighbour hits both sides alike.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant, SystemTime};

use lopdf::SaveOptions;
use testkit::pdf::{A4, LETTER, PageSpec, literal, noise, pages, save, set_info, utf16be};

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

const GNU_TIME: &str = "/usr/bin/time";
/// The thumbnail size both sides are asked for (our default `--width`, poppler's
/// `-scale-to`).
const THUMBNAIL: u32 = 300;

/// One PDF of the run.
struct Case {
    name: &'static str,
    what: &'static str,
    path: PathBuf,
    size: u64,
    /// Locked by a user password: both sides must refuse it.
    refused: bool,
    /// The page the page-preview pair renders: the last (1 where lopdf cannot tell).
    last_page: u32,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tool {
    Info,
    Pdfinfo,
    Thumbnail,
    Pdftoppm,
    /// `pdftoppm -scale-to-x 300 -scale-to-y -1`: 300 px wide like our thumbnail, where
    /// `-scale-to 300` fits the longest side (a portrait page gets about half the pixels).
    PdftoppmWidth,
    /// `scoremate pdf thumbnail --page LAST`: what a page preview renders.
    LastPage,
    /// `pdftoppm -scale-to-x 300 -scale-to-y -1 -f LAST -l LAST`.
    PdftoppmLastPage,
}

const TOOLS: [Tool; 7] = [
    Tool::Info,
    Tool::Pdfinfo,
    Tool::Thumbnail,
    Tool::Pdftoppm,
    Tool::PdftoppmWidth,
    Tool::LastPage,
    Tool::PdftoppmLastPage,
];

impl Tool {
    fn label(self) -> &'static str {
        match self {
            Self::Info => "scoremate pdf info",
            Self::Pdfinfo => "pdfinfo",
            Self::Thumbnail => "scoremate pdf thumbnail",
            Self::Pdftoppm => "pdftoppm",
            Self::PdftoppmWidth => "pdftoppm -scale-to-x",
            Self::LastPage => "scoremate pdf thumbnail --page",
            Self::PdftoppmLastPage => "pdftoppm -scale-to-x -f -l",
        }
    }

    fn index(self) -> usize {
        match self {
            Self::Info => 0,
            Self::Pdfinfo => 1,
            Self::Thumbnail => 2,
            Self::Pdftoppm => 3,
            Self::PdftoppmWidth => 4,
            Self::LastPage => 5,
            Self::PdftoppmLastPage => 6,
        }
    }

    /// Program and arguments for `case`, writing images into `out`.
    fn argv(self, scoremate: &Path, case: &Case, out: &Path) -> Vec<OsString> {
        let file = case.path.clone().into_os_string();
        match self {
            Self::Info => vec![scoremate.into(), "pdf".into(), "info".into(), file],
            Self::Pdfinfo => vec!["pdfinfo".into(), file],
            Self::Thumbnail => vec![
                scoremate.into(),
                "pdf".into(),
                "thumbnail".into(),
                file,
                "-o".into(),
                out.join(format!("{}.scoremate.png", case.name)).into(),
            ],
            Self::Pdftoppm => pdftoppm(
                &["-scale-to", &THUMBNAIL.to_string()],
                1,
                file,
                &out.join(format!("{}.poppler", case.name)),
            ),
            Self::PdftoppmWidth => pdftoppm(
                &PIXELS_300_WIDE,
                1,
                file,
                &out.join(format!("{}.poppler-width", case.name)),
            ),
            Self::LastPage => vec![
                scoremate.into(),
                "pdf".into(),
                "thumbnail".into(),
                file,
                "--page".into(),
                case.last_page.to_string().into(),
                "-o".into(),
                out.join(format!("{}.scoremate-last.png", case.name)).into(),
            ],
            Self::PdftoppmLastPage => pdftoppm(
                &PIXELS_300_WIDE,
                case.last_page,
                file,
                &out.join(format!("{}.poppler-last", case.name)),
            ),
        }
    }
}

/// `pdftoppm`'s scaling to our thumbnail's pixel size: 300 px wide, height to match.
const PIXELS_300_WIDE: [&str; 4] = ["-scale-to-x", "300", "-scale-to-y", "-1"];

/// `pdftoppm -png -singlefile SCALE… -f PAGE -l PAGE FILE PREFIX`.
fn pdftoppm(scale: &[&str], page: u32, file: OsString, prefix: &Path) -> Vec<OsString> {
    let page = page.to_string();
    let mut argv: Vec<OsString> = vec!["pdftoppm".into(), "-png".into(), "-singlefile".into()];
    argv.extend(scale.iter().map(OsString::from));
    argv.extend(["-f", &page, "-l", &page].map(OsString::from));
    argv.push(file);
    argv.push(prefix.into());
    argv
}

/// `argv` as a command, without any `SCOREMATE_*` variable of the bench's environment.
fn command(argv: &[OsString]) -> Command {
    let mut command = Command::new(&argv[0]);
    command.args(&argv[1..]);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("SCOREMATE_") {
            command.env_remove(name);
        }
    }
    command
}

fn run_timed(argv: &[OsString]) -> BenchResult<(Duration, Output)> {
    let mut command = command(argv);
    let started = Instant::now();
    let output = command.output()?;
    Ok((started.elapsed(), output))
}

/// Peak RSS in KiB of `argv` (and of the descendants it waited for), by GNU time.
fn run_rss(argv: &[OsString], report: &Path) -> BenchResult<(u64, Output)> {
    let mut wrapped: Vec<OsString> = vec![
        GNU_TIME.into(),
        "-f".into(),
        "%M".into(),
        "-o".into(),
        report.into(),
    ];
    wrapped.extend_from_slice(argv);
    let output = command(&wrapped).output()?;
    let text = std::fs::read_to_string(report)?;
    // A failing command adds a "Command exited with non-zero status" line first.
    let kib = text
        .lines()
        .filter_map(|line| line.trim().parse::<u64>().ok())
        .next_back()
        .ok_or_else(|| format!("no peak RSS in GNU time's report: {text:?}"))?;
    Ok((kib, output))
}

fn first_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_owned()
}

/// The `error` of scoremate's JSON log line on stderr, else its first line.
fn error_message(stderr: &[u8]) -> String {
    let line = first_line(stderr);
    serde_json::from_str::<serde_json::Value>(&line)
        .ok()
        .and_then(|log| log.get("error")?.as_str().map(str::to_owned))
        .unwrap_or(line)
}

fn median_duration(mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    let n = samples.len();
    match n {
        0 => Duration::ZERO,
        _ if n % 2 == 1 => samples[n / 2],
        _ => (samples[n / 2 - 1] + samples[n / 2]) / 2,
    }
}

fn median_f64(mut samples: Vec<f64>) -> Option<f64> {
    samples.sort_by(f64::total_cmp);
    let n = samples.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(samples[n / 2]),
        _ => Some(f64::midpoint(samples[n / 2 - 1], samples[n / 2])),
    }
}

fn median_u64(mut samples: Vec<u64>) -> u64 {
    samples.sort_unstable();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn human_size(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
    } else {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }
}

// ---------------------------------------------------------------------------------------
// The PDFs built at the start.

/// A document of `specs` pages with a plain ASCII Info.
fn document(specs: &[PageSpec], title: &str) -> lopdf::Document {
    let mut doc = pages(specs);
    set_info(
        &mut doc,
        &[
            ("Title", literal(title.as_bytes())),
            ("Author", literal(b"ScoreMate bench")),
        ],
    );
    doc
}

/// An engraved-score-like A4 page: 12 staves of 5 lines, 96 notes a staff (a filled
/// Bézier note head and a stroked stem each), bar lines and beams — about 2,600 paths.
fn engraved_score() -> Vec<u8> {
    const K: f64 = 0.552_284_8;
    let mut content = String::from("0 g 0 G 1 J 0.45 w\n");
    for staff in 0..12_u32 {
        let top = 800.0 - f64::from(staff) * 64.0;
        for line in 0..5_u32 {
            let y = top - f64::from(line) * 6.0;
            let _ = writeln!(content, "36 {y:.2} m 559 {y:.2} l S");
        }
        for bar in 0..=12_u32 {
            let x = 36.0 + f64::from(bar) * 43.58;
            let _ = writeln!(content, "{x:.2} {top:.2} m {x:.2} {:.2} l S", top - 24.0);
        }
        for note in 0..96_u32 {
            let x = 42.0 + f64::from(note) * 5.4;
            let step = f64::from((note * 7 + staff * 3) % 11);
            let y = top - 27.0 + step * 3.0;
            let (rx, ry) = (2.3, 1.6);
            let _ = writeln!(
                content,
                "{:.2} {y:.2} m {:.2} {:.2} {:.2} {:.2} {x:.2} {:.2} c \
                 {:.2} {:.2} {:.2} {:.2} {:.2} {y:.2} c \
                 {:.2} {:.2} {:.2} {:.2} {x:.2} {:.2} c \
                 {:.2} {:.2} {:.2} {:.2} {:.2} {y:.2} c f",
                x + rx,
                x + rx,
                y + ry * K,
                x + rx * K,
                y + ry,
                y + ry,
                x - rx * K,
                y + ry,
                x - rx,
                y + ry * K,
                x - rx,
                x - rx,
                y - ry * K,
                x - rx * K,
                y - ry,
                y - ry,
                x + rx * K,
                y - ry,
                x + rx,
                y - ry * K,
                x + rx,
            );
            let stem_x = x + rx - 0.2;
            let _ = writeln!(
                content,
                "{stem_x:.2} {y:.2} m {stem_x:.2} {:.2} l S",
                y + 17.0
            );
            if note % 4 == 3 {
                let start = stem_x - 3.0 * 5.4;
                let _ = writeln!(
                    content,
                    "{start:.2} {:.2} {:.2} 1.8 re f",
                    top + 1.0,
                    stem_x - start
                );
            }
        }
    }
    let mut doc = document(
        &[PageSpec {
            media_box: Some(A4),
            content: Some(content),
            ..PageSpec::default()
        }],
        "Engraved score",
    );
    save(&mut doc)
}

/// A 2480 × 3508 (A4 at 300 dpi) grey gradient with noise, as a JPEG of quality 85: a
/// scanned page, which compresses like one.
fn scan_jpeg(width: u32, height: u32) -> BenchResult<Vec<u8>> {
    let jitter = noise(width as usize * height as usize, 0x5EED);
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        let gradient = 150 + (u64::from(x + y) * 100 / u64::from(width + height)) as i32;
        let index = y as usize * width as usize + x as usize;
        let shade = (gradient + i32::from(jitter[index] % 48) - 24).clamp(0, 255) as u8;
        image::Rgb([shade, shade, shade])
    });
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 85).encode_image(&image)?;
    Ok(bytes)
}

/// 20 Letter pages, streams compressed, saved with object streams and a cross-reference
/// stream.
fn object_streams() -> BenchResult<Vec<u8>> {
    let mut doc = document(&vec![PageSpec::sized(LETTER); 20], "Object streams");
    doc.compress();
    let mut bytes = Vec::new();
    doc.save_with_options(
        &mut bytes,
        SaveOptions::builder()
            .use_object_streams(true)
            .use_xref_streams(true)
            .max_objects_per_stream(100)
            .compression_level(6)
            .build(),
    )?;
    Ok(bytes)
}

fn utf16_info() -> Vec<u8> {
    let mut doc = pages(&[PageSpec::sized(A4), PageSpec::sized(A4)]);
    set_info(
        &mut doc,
        &[
            ("Title", utf16be("아리랑 — 피아노를 위한 변주곡")),
            ("Author", utf16be("Gabriel Fauré · 김철수")),
            ("Subject", utf16be("Variations für Klavier")),
            ("Keywords", utf16be("piano, 민요, variations")),
        ],
    );
    save(&mut doc)
}

fn build_cases(dir: &Path) -> BenchResult<Vec<Case>> {
    let mut cases = Vec::new();
    let mut add = |name: &'static str, what: &'static str, bytes: &[u8], refused: bool| {
        let path = dir.join(format!("{name}.pdf"));
        let last_page = lopdf::Document::load_mem(bytes)
            .ok()
            .and_then(|document| u32::try_from(document.get_pages().len()).ok())
            .filter(|pages| *pages > 0)
            .unwrap_or(1);
        std::fs::write(&path, bytes).map(|()| {
            cases.push(Case {
                name,
                what,
                path,
                size: bytes.len() as u64,
                refused,
                last_page,
            });
        })
    };
    for (name, what, refused) in [
        (
            "ccitt-g4",
            "fixture: 800×1100 CCITT G4 bilevel page (tiff2pdf)",
            false,
        ),
        (
            "owner-password-only-aes256",
            "fixture: qpdf AES-256, empty user password",
            false,
        ),
        (
            "owner-password-only-rc4-128",
            "fixture: qpdf RC4-128, empty user password",
            false,
        ),
        (
            "user-password-aes256",
            "fixture: qpdf AES-256 locked by a user password",
            true,
        ),
    ] {
        add(
            name,
            what,
            &testkit::pdf::fixture(&format!("{name}.pdf")),
            refused,
        )?;
    }
    add(
        "vector-1p",
        "one A4 vector page (boxes, a line of Helvetica)",
        &save(&mut document(&[PageSpec::sized(A4)], "One page")),
        false,
    )?;
    add(
        "pages-50",
        "50 A4 vector pages",
        &save(&mut document(&vec![PageSpec::sized(A4); 50], "Fifty pages")),
        false,
    )?;
    add(
        "pages-500",
        "500 A4 vector pages",
        &save(&mut document(
            &vec![PageSpec::sized(A4); 500],
            "Five hundred pages",
        )),
        false,
    )?;
    add(
        "a4-rotate-90",
        "A4 with /Rotate 90 (shown landscape)",
        &save(&mut document(
            &[PageSpec {
                rotate: Some(90),
                ..PageSpec::sized(A4)
            }],
            "Landscape",
        )),
        false,
    )?;
    let (width, height) = (2480, 3508);
    add(
        "scan-jpeg",
        "A4 page that is one 2480×3508 JPEG (q85, noisy gradient)",
        &testkit::pdf::scanned_page(scan_jpeg(width, height)?, width, height),
        false,
    )?;
    add(
        "engraved-score",
        "A4, ~2,600 vector paths (staves, note heads, stems, beams)",
        &engraved_score(),
        false,
    )?;
    add(
        "object-streams",
        "20 Letter pages in object streams + xref stream, Flate",
        &object_streams()?,
        false,
    )?;
    add(
        "utf16-info",
        "2 A4 pages, Info in UTF-16BE (Korean, accents)",
        &utf16_info(),
        false,
    )?;
    Ok(cases)
}

// ---------------------------------------------------------------------------------------
// The binary and the tools.

/// `SCOREMATE_BIN`, else the `scoremate` beside this bench's profile folder
/// (`target/<profile>/deps/pdf-…` → `target/<profile>/scoremate`).
fn scoremate_binary() -> BenchResult<PathBuf> {
    let path = match std::env::var_os("SCOREMATE_BIN") {
        Some(path) => PathBuf::from(path),
        None => {
            let exe = std::env::current_exe()?;
            exe.parent()
                .and_then(Path::parent)
                .map(|profile_dir| profile_dir.join("scoremate"))
                .ok_or("cannot place the bench executable in a target folder")?
        }
    };
    if !path.is_file() {
        return Err(format!(
            "{} is missing: build it first (`cargo build -p scoremate --profile bench`, with the \
             same CARGO_TARGET_DIR) or point SCOREMATE_BIN at a scoremate binary",
            path.display()
        )
        .into());
    }
    Ok(path)
}

/// The newest modification time of the files under `dir`.
fn newest_under(dir: &Path) -> Option<SystemTime> {
    let mut newest = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let time = if path.is_dir() {
            newest_under(&path)
        } else {
            entry.metadata().ok()?.modified().ok()
        };
        newest = newest.max(time);
    }
    newest
}

/// A warning when sources of the binary are newer than it (others edit the tree).
fn staleness(binary: &Path) -> Option<String> {
    let built = binary.metadata().ok()?.modified().ok()?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent()?;
    let newest = ["scoremate/src", "score-pdf/src"]
        .iter()
        .filter_map(|dir| newest_under(&root.join(dir)))
        .max()?;
    (newest > built).then(|| {
        format!(
            "warning: scoremate/src or score-pdf/src changed after {} was built; rebuild it to measure the tree",
            binary.display()
        )
    })
}

fn check_tools() -> BenchResult<()> {
    let gnu_time = Command::new(GNU_TIME)
        .args(["-f", "%M", "true"])
        .output()
        .map_err(|error| {
            format!("{GNU_TIME} ({error}): install GNU time (`apt-get install -y time`)")
        })?;
    if first_line(&gnu_time.stderr).parse::<u64>().is_err() {
        return Err(format!(
            "{GNU_TIME} is not GNU time (`-f %M` gave {:?}): install it (`apt-get install -y time`)",
            String::from_utf8_lossy(&gnu_time.stderr)
        )
        .into());
    }
    for tool in ["pdfinfo", "pdftoppm"] {
        Command::new(tool).arg("-v").output().map_err(|error| {
            format!("{tool} ({error}): install poppler-utils (`apt-get install -y poppler-utils`)")
        })?;
    }
    Ok(())
}

fn version(argv: &[&str]) -> String {
    Command::new(argv[0])
        .args(&argv[1..])
        .output()
        .map(|output| {
            let text = if output.stdout.is_empty() {
                output.stderr
            } else {
                output.stdout
            };
            first_line(&text)
        })
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// The measurements.

#[derive(Default)]
struct Samples {
    times: Vec<Duration>,
    rss_kib: Vec<u64>,
}

/// Width and height of a thumbnail.
type Pixels = (u32, u32);

struct Measured {
    pages: Option<u32>,
    /// Why the file was refused, when it was (scoremate's message, then poppler's).
    refused: Option<(String, String)>,
    /// Median wall time and median peak RSS of each tool, in [`Tool::index`] order.
    medians: [(Duration, u64); 7],
    /// Thumbnail sizes in pixels: ours, poppler's, poppler's 300 px wide.
    thumbnails: Option<[Pixels; 3]>,
}

fn fails(tool: Tool, case: &Case, output: &Output) -> String {
    format!(
        "{} failed on {} ({}): {}",
        tool.label(),
        case.name,
        output.status,
        first_line(&output.stderr)
    )
}

fn measure(
    scoremate: &Path,
    cases: &[Case],
    out: &Path,
    repeat: usize,
) -> BenchResult<Vec<Measured>> {
    let report = out.join("gnu-time.txt");
    let mut pages = Vec::new();
    let mut refused = Vec::new();
    // An untimed first run of each command: warms the page cache and checks the outcome.
    for case in cases {
        let mut outcomes = Vec::new();
        for tool in TOOLS {
            let output = command(&tool.argv(scoremate, case, out)).output()?;
            if case.refused {
                if output.status.success() {
                    return Err(format!(
                        "{} accepted {}, which is locked by a user password",
                        tool.label(),
                        case.name
                    )
                    .into());
                }
            } else if !output.status.success() {
                return Err(fails(tool, case, &output).into());
            }
            outcomes.push(output);
        }
        pages.push(
            String::from_utf8_lossy(&outcomes[Tool::Pdfinfo.index()].stdout)
                .lines()
                .find_map(|line| line.strip_prefix("Pages:"))
                .and_then(|value| value.trim().parse().ok()),
        );
        refused.push(case.refused.then(|| {
            (
                error_message(&outcomes[Tool::Info.index()].stderr),
                first_line(&outcomes[Tool::Pdfinfo.index()].stderr),
            )
        }));
    }

    let mut samples: Vec<[Samples; 7]> = cases.iter().map(|_| Default::default()).collect();
    for round in 1..=repeat {
        eprintln!("round {round}/{repeat}");
        for (case, case_samples) in cases.iter().zip(&mut samples) {
            if case.refused {
                continue;
            }
            for tool in TOOLS {
                let argv = tool.argv(scoremate, case, out);
                let (elapsed, output) = run_timed(&argv)?;
                if !output.status.success() {
                    return Err(fails(tool, case, &output).into());
                }
                let (kib, output) = run_rss(&argv, &report)?;
                if !output.status.success() {
                    return Err(fails(tool, case, &output).into());
                }
                let slot = &mut case_samples[tool.index()];
                slot.times.push(elapsed);
                slot.rss_kib.push(kib);
            }
        }
    }

    let mut measured = Vec::new();
    for (((case, pages), refused), case_samples) in
        cases.iter().zip(pages).zip(refused).zip(samples)
    {
        let medians = case_samples
            .map(|samples| (median_duration(samples.times), median_u64(samples.rss_kib)));
        let thumbnails = if case.refused {
            None
        } else {
            let ours = image::image_dimensions(out.join(format!("{}.scoremate.png", case.name)))?;
            let poppler = image::image_dimensions(out.join(format!("{}.poppler.png", case.name)))?;
            let width =
                image::image_dimensions(out.join(format!("{}.poppler-width.png", case.name)))?;
            Some([ours, poppler, width])
        };
        measured.push(Measured {
            pages,
            refused,
            medians,
            thumbnails,
        });
    }
    Ok(measured)
}

fn report(cases: &[Case], measured: &[Measured]) {
    println!();
    println!(
        "| file | size | pages | info ms | pdfinfo ms | ratio | thumbnail ms | pdftoppm ms | ratio \
         | pdftoppm 300 wide ms | ratio | last page ms | pdftoppm last page 300 wide ms | ratio \
         | RSS info MiB | RSS pdfinfo MiB | RSS thumbnail MiB | RSS pdftoppm MiB |"
    );
    println!(
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: \
         | ---: | ---: | ---: | ---: | ---: |"
    );
    let mut info_ratios = Vec::new();
    let mut thumbnail_ratios = Vec::new();
    let mut width_ratios = Vec::new();
    let mut last_page_ratios = Vec::new();
    let mut info_rss_ratios = Vec::new();
    let mut thumbnail_rss_ratios = Vec::new();
    for (case, result) in cases.iter().zip(measured) {
        let size = case.size;
        let pages = result
            .pages
            .map_or_else(|| "?".to_owned(), |pages| pages.to_string());
        if result.refused.is_some() {
            println!(
                "| {} | {} | {pages} | refused | refused | | refused | refused | | refused | | refused \
                 | refused | | | | | |",
                case.name,
                human_size(size)
            );
            continue;
        }
        let [
            info,
            pdfinfo,
            thumbnail,
            pdftoppm,
            pdftoppm_width,
            last_page,
            pdftoppm_last_page,
        ] = result.medians;
        let last_page_ratio = ms(last_page.0) / ms(pdftoppm_last_page.0);
        last_page_ratios.push(last_page_ratio);
        let info_ratio = ms(info.0) / ms(pdfinfo.0);
        let thumbnail_ratio = ms(thumbnail.0) / ms(pdftoppm.0);
        let width_ratio = ms(thumbnail.0) / ms(pdftoppm_width.0);
        info_ratios.push(info_ratio);
        thumbnail_ratios.push(thumbnail_ratio);
        width_ratios.push(width_ratio);
        info_rss_ratios.push(mib(info.1) / mib(pdfinfo.1));
        thumbnail_rss_ratios.push(mib(thumbnail.1) / mib(pdftoppm.1));
        println!(
            "| {} | {} | {pages} | {:.1} | {:.1} | {info_ratio:.2}× | {:.1} | {:.1} | \
             {thumbnail_ratio:.2}× | {:.1} | {width_ratio:.2}× | {:.1} | {:.1} | \
             {last_page_ratio:.2}× | {:.1} | {:.1} | {:.1} | {:.1} |",
            case.name,
            human_size(size),
            ms(info.0),
            ms(pdfinfo.0),
            ms(thumbnail.0),
            ms(pdftoppm.0),
            ms(pdftoppm_width.0),
            ms(last_page.0),
            ms(pdftoppm_last_page.0),
            mib(info.1),
            mib(pdfinfo.1),
            mib(thumbnail.1),
            mib(pdftoppm.1),
        );
    }
    println!();
    let show = |ratios: Vec<f64>| {
        median_f64(ratios).map_or_else(|| "-".to_owned(), |r| format!("{r:.2}×"))
    };
    println!(
        "median ratio over {} files: info/pdfinfo {}, thumbnail/pdftoppm {} (pdftoppm 300 \
         wide: {}), last page/pdftoppm last page 300 wide {}; peak RSS info/pdfinfo {}, \
         thumbnail/pdftoppm {}",
        info_ratios.len(),
        show(info_ratios),
        show(thumbnail_ratios),
        show(width_ratios),
        show(last_page_ratios),
        show(info_rss_ratios),
        show(thumbnail_rss_ratios),
    );

    println!();
    println!("| file | what | thumbnail px: scoremate | pdftoppm | pdftoppm 300 wide |");
    println!("| --- | --- | --- | --- | --- |");
    for (case, result) in cases.iter().zip(measured) {
        let sizes = result.thumbnails.map_or_else(
            || "- | - | -".to_owned(),
            |[(w, h), (pw, ph), (ww, wh)]| format!("{w}×{h} | {pw}×{ph} | {ww}×{wh}"),
        );
        println!("| {} | {} | {sizes} |", case.name, case.what);
    }
    for (case, result) in cases.iter().zip(measured) {
        if let Some((ours, poppler)) = &result.refused {
            println!();
            println!("{} refused — scoremate: {ours}", case.name);
            println!("{} refused — pdfinfo: {poppler}", case.name);
        }
    }
}

fn main() -> BenchResult<()> {
    let repeat = std::env::var("SCOREMATE_BENCH_REPEAT")
        .ok()
        .and_then(|value| value.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(5);
    let scoremate = scoremate_binary()?;
    check_tools()?;
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    println!(
        "pdf: {} vs poppler ({}), {repeat} measured runs per file and command (after 1 \
         untimed), medians; {cores} cores",
        scoremate.display(),
        version(&["pdfinfo", "-v"]),
    );
    if let Some(warning) = staleness(&scoremate) {
        println!("{warning}");
    }

    let dir = std::env::temp_dir().join(format!("scoremate-bench-pdf-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let built = Instant::now();
    let cases = build_cases(&dir)?;
    eprintln!(
        "{} PDFs in {} (built in {:.1} s)",
        cases.len(),
        dir.display(),
        built.elapsed().as_secs_f64()
    );
    let measured = measure(&scoremate, &cases, &dir, repeat);
    if std::env::var_os("SCOREMATE_BENCH_KEEP").is_none() {
        std::fs::remove_dir_all(&dir)?;
    }
    report(&cases, &measured?);
    Ok(())
}

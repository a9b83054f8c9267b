//! `scoremate pdf info|thumbnail FILE`: the PDF pipeline on a local file, through the same
//! sandbox and limits as the processors; and `scoremate process-pdf`, the sandbox child.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, anyhow};
use score_pdf::{Limits, Operation, PdfError, PdfInfo, Sandbox};

use crate::cli::args::PdfCommand;
use crate::pdf_sandbox::sandbox;

/// `scoremate process-pdf`: one request on stdin, one framed answer on stdout.
pub fn process_pdf() -> ExitCode {
    score_pdf::child::run_stdio()
}

/// `scoremate pdf …`; a refused file is an error whose message says why.
pub async fn run(command: &PdfCommand) -> anyhow::Result<()> {
    let sandbox = sandbox(Limits::default())?;
    match command {
        PdfCommand::Info { file, json } => {
            let outcome = process(&sandbox, file, Operation::Info).await?;
            let info = outcome
                .info
                .ok_or_else(|| anyhow!("the PDF sandbox returned no info"))?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&info)?);
            } else {
                print!("{}", describe(&info));
            }
        }
        PdfCommand::Thumbnail {
            file,
            output,
            width,
            page,
        } => {
            // Page 1 is the score's thumbnail; any other, a page preview's rendering.
            let operation = match *page {
                1 => Operation::Thumbnail { width: *width },
                page => Operation::Page {
                    page,
                    width: *width,
                },
            };
            let outcome = process(&sandbox, file, operation).await?;
            let thumbnail = outcome
                .thumbnail
                .ok_or_else(|| anyhow!("the PDF sandbox returned no thumbnail"))?;
            std::fs::write(output, &thumbnail.png)
                .with_context(|| format!("writing {}", output.display()))?;
            println!(
                "{}: {} x {} px PNG",
                output.display(),
                thumbnail.width,
                thumbnail.height
            );
        }
    }
    Ok(())
}

async fn process(
    sandbox: &Sandbox,
    file: &Path,
    op: Operation,
) -> anyhow::Result<score_pdf::Outcome> {
    let limit = sandbox.limits.max_input_bytes;
    let size = std::fs::metadata(file)
        .with_context(|| format!("reading {}", file.display()))?
        .len();
    let bytes = if size > limit {
        Err(PdfError::TooLarge { size, limit })
    } else {
        Ok(std::fs::read(file).with_context(|| format!("reading {}", file.display()))?)
    };
    let outcome = match bytes {
        Ok(bytes) => sandbox.run(&bytes, op).await,
        Err(error) => Err(error),
    };
    outcome.map_err(|error| anyhow!("{}: {error}", file.display()))
}

/// Aligned `key: value` lines.
fn describe(info: &PdfInfo) -> String {
    let text = |value: &Option<String>| value.clone().unwrap_or_else(|| "-".to_owned());
    let millimetres = |points: f64| (points * 25.4 / 72.0 * 10.0).round() / 10.0;
    let rows = [
        ("pages", info.page_count.to_string()),
        (
            "page size",
            format!(
                "{} x {} pt ({} x {} mm)",
                info.page_width_pt,
                info.page_height_pt,
                millimetres(info.page_width_pt),
                millimetres(info.page_height_pt)
            ),
        ),
        ("title", text(&info.title)),
        ("author", text(&info.author)),
        ("subject", text(&info.subject)),
        ("keywords", text(&info.keywords)),
        (
            "encrypted",
            if info.encrypted { "yes" } else { "no" }.to_owned(),
        ),
    ];
    let mut out = String::new();
    for (key, value) in rows {
        let _ = writeln!(out, "{:<10} {value}", format!("{key}:"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_is_described_in_aligned_lines() {
        let info = PdfInfo {
            page_count: 3,
            page_width_pt: 595.28,
            page_height_pt: 841.89,
            title: Some("아리랑".to_owned()),
            author: None,
            subject: None,
            keywords: None,
            encrypted: true,
            xmp: None,
        };
        assert_eq!(
            describe(&info),
            "pages:     3\n\
             page size: 595.28 x 841.89 pt (210 x 297 mm)\n\
             title:     아리랑\n\
             author:    -\n\
             subject:   -\n\
             keywords:  -\n\
             encrypted: yes\n"
        );
    }
}

//! Reads PDF facts and renders page-1 thumbnails of untrusted files, inside limits.
//!
//! Two entry points do the work in-process: [`inspect`] (lopdf: page count, page-1 size
//! as a viewer shows it, the Info dictionary, encryption) and [`thumbnail`] (hayro: page 1
//! as a PNG on white). Both refuse what breaks the [`Limits`] with a typed [`PdfError`].
//! Untrusted files should go through the [`Sandbox`], which runs the same code in a child
//! process ([`child::run`]) whose address space, CPU time and wall-clock time are bounded,
//! so a crash, a hang or a memory blow-up in a parser ends as a [`PdfError`] too.

mod error;
mod inspect;
mod limits;
mod preflight;
mod render;
mod sandbox;
mod text;
mod xmp;

pub mod child;
pub mod protocol;

pub use error::PdfError;
pub use inspect::{PdfInfo, inspect};
pub use limits::Limits;
pub use protocol::{Operation, Outcome};
pub use render::{DEFAULT_THUMBNAIL_WIDTH, Thumbnail, page_thumbnail, thumbnail};
pub use sandbox::Sandbox;
pub use xmp::{Xmp, parse as parse_xmp};

/// Runs `op` in this process: the work a sandbox child does for one request.
///
/// `Both` opens the file once and answers with the info and the thumbnail.
pub fn process(bytes: &[u8], op: Operation, limits: &Limits) -> Result<Outcome, PdfError> {
    match op {
        Operation::Info => Ok(Outcome {
            info: Some(inspect(bytes, limits)?),
            thumbnail: None,
        }),
        Operation::Thumbnail { width } => Ok(Outcome {
            info: None,
            thumbnail: Some(thumbnail(bytes, width, limits)?),
        }),
        Operation::Page { page, width } => Ok(Outcome {
            info: None,
            thumbnail: Some(page_thumbnail(bytes, page, width, limits)?),
        }),
        Operation::Both { width } => {
            let (info, thumbnail) = render::inspect_and_render(bytes, width, limits)?;
            Ok(Outcome {
                info: Some(info),
                thumbnail: Some(thumbnail),
            })
        }
    }
}

/// Runs `work`, turning a panic inside a parser or the renderer into [`PdfError::Crashed`].
pub(crate) fn guarded<T>(work: impl FnOnce() -> Result<T, PdfError>) -> Result<T, PdfError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)) {
        Ok(result) => result,
        Err(payload) => Err(PdfError::Crashed {
            reason: format!("the PDF library panicked: {}", panic_message(&*payload)),
        }),
    }
}

pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&str>() {
        (*message).to_owned()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "unknown panic".to_owned()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_inside_the_work_becomes_a_permanent_crash_failure() {
        let error = guarded::<()>(|| panic!("glyph table index out of range")).unwrap_err();
        assert_eq!(
            error,
            PdfError::Crashed {
                reason: "the PDF library panicked: glyph table index out of range".to_owned()
            }
        );
        assert!(error.is_permanent());
    }

    #[test]
    fn errors_cross_the_process_boundary_unchanged() {
        for error in [
            PdfError::PasswordProtected,
            PdfError::TimedOut { seconds: 3 },
            PdfError::limit("a stream decompresses to more than 1 bytes"),
        ] {
            let json = serde_json::to_string(&error).unwrap_or_default();
            assert_eq!(serde_json::from_str::<PdfError>(&json).ok(), Some(error));
        }
    }
}

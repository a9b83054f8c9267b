//! The numbers that bound the work on one untrusted PDF.

use serde::{Deserialize, Serialize};

/// Limits for processing one PDF. The defaults suit uploads of up to 100 MiB (the
/// service's maximum upload size) on a 2-core machine with a few GiB to spare.
///
/// The first group is enforced by the library itself ([`crate::inspect`],
/// [`crate::thumbnail`]); the last three by the [`crate::Sandbox`] on its child process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Largest file accepted, in bytes. Default 128 MiB (uploads stop at 100 MiB).
    pub max_input_bytes: u64,
    /// Largest size any single stream may decompress to, in bytes (object and xref
    /// streams while loading; every stream page 1 uses before rendering). Default 64 MiB.
    pub max_decompressed_stream_bytes: u64,
    /// Most indirect objects a file may hold. Default 1,000,000 (a 500-page scan has a
    /// few thousand).
    pub max_objects: u64,
    /// Deepest page tree accepted (the root is depth 1). Default 64; real files use 2–5.
    pub max_page_tree_depth: u32,
    /// Most pixels of a rendered thumbnail (width × height). Default 4,000,000, e.g.
    /// 1000 × 4000: a 300 px thumbnail of any page with an aspect ratio below 1:44.
    pub max_rendered_pixels: u64,
    /// Most pixels of one image on page 1 (/Width × /Height). Default 150,000,000: a
    /// 1200 dpi A4 scan is 140 Mpx; a larger image is a decompression bomb in disguise.
    pub max_image_pixels: u64,
    /// Wall-clock time the sandbox child may take, in seconds. Default 60.
    pub timeout_secs: u64,
    /// CPU time the sandbox child may use, in seconds (RLIMIT_CPU). Default 30.
    pub cpu_secs: u64,
    /// Address space of the sandbox child, in bytes (RLIMIT_AS). Default 2 GiB: a 100 MiB
    /// file is held up to three times (input, lopdf, hayro) plus decoded page-1 images.
    pub address_space_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_input_bytes: 128 * MIB,
            max_decompressed_stream_bytes: 64 * MIB,
            max_objects: 1_000_000,
            max_page_tree_depth: 64,
            max_rendered_pixels: 4_000_000,
            max_image_pixels: 150_000_000,
            timeout_secs: 60,
            cpu_secs: 30,
            address_space_bytes: 2 * 1024 * MIB,
        }
    }
}

const MIB: u64 = 1024 * 1024;

impl Limits {
    pub(crate) fn max_decompressed(&self) -> usize {
        usize::try_from(self.max_decompressed_stream_bytes).unwrap_or(usize::MAX)
    }
}

//! The image crate's decoders, opened on a file's bytes. They are generic over the reader, so
//! their code (JPEG's entropy decoding, PNG's inflating, …) is compiled in the crate that names
//! the reader's type: this one, built for speed.

use std::io::Cursor;

use image::{ImageDecoder, ImageReader, ImageResult, Limits};

/// A decoder for `bytes`, its format recognised from their contents (`None`: not a format the
/// image crate knows), whose buffers stay within `max_alloc` bytes.
pub fn open(bytes: &[u8], max_alloc: u64) -> ImageResult<Option<impl ImageDecoder + '_>> {
    let mut reader = ImageReader::new(Cursor::new(bytes)).with_guessed_format()?;
    if reader.format().is_none() {
        return Ok(None);
    }
    let mut limits = Limits::default();
    limits.max_alloc = Some(max_alloc);
    reader.limits(limits);
    reader.into_decoder().map(Some)
}

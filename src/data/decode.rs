//! Decoding image files to 8-bit RGB, as `PIL.Image.open(f).convert("RGB")` does for
//! torchvision's `ImageFolder`, plus EXIF orientation, which phone photos need.

use browser_finetune_kernels::decoders;
use image::{DynamicImage, ImageDecoder, RgbImage};

use crate::error::{Error, Result};

/// Largest image accepted, in pixels (a 48-megapixel phone photo fits). Guards against
/// decompression bombs: a tiny file that claims a huge size is refused before decoding.
pub const MAX_PIXELS: u64 = 50_000_000;

/// Largest ratio of the longer side to the shorter accepted: resizing the shorter side to the
/// model's input stretches the longer one by the same factor (a 10000×1 strip would become
/// 2560000×256 pixels). Panoramas stay well within it.
pub const MAX_ASPECT_RATIO: u32 = 100;

/// Decodes JPEG, PNG, WebP, GIF (first frame) or BMP bytes to RGB with EXIF orientation applied.
/// Grayscale, alpha (dropped, as PIL's `convert("RGB")` does), CMYK and 16-bit inputs become 8-bit
/// RGB. `file` names the image in error messages.
pub fn decode_image(file: &str, bytes: &[u8]) -> Result<RgbImage> {
    // The JPEG decoder fills in what a cut-off file lacks; PIL, and so torchvision, refuse it.
    if bytes.starts_with(&[0xFF, 0xD8]) && jpeg_ends_early(bytes) {
        return Err(decode_error(file, "the file ends before its image does (an interrupted copy or download?)"));
    }
    let mut decoder = checked_decoder(file, bytes)?;
    let orientation = decoder.orientation().map_err(|err| decode_error(file, err))?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(|err| decode_error(file, err))?;
    image.apply_orientation(orientation);
    Ok(image.into_rgb8())
}

/// The `(width, height)` an image file declares, from its header alone: what can be known of a
/// file without decoding it (its format, its size within [`MAX_PIXELS`]). A file that passes may
/// still fail to decode later, when its pixels turn out truncated or corrupt.
pub fn probe_image(file: &str, bytes: &[u8]) -> Result<(u32, u32)> {
    Ok(checked_decoder(file, bytes)?.dimensions())
}

fn decode_error(file: &str, reason: impl std::fmt::Display) -> Error {
    Error::ImageDecode { file: file.to_string(), reason: reason.to_string() }
}

/// A decoder for `bytes` whose format is known and whose declared size is within the limits, so
/// that decoding it allocates no more than the image justifies.
fn checked_decoder<'a>(file: &str, bytes: &'a [u8]) -> Result<impl ImageDecoder + 'a> {
    if let Some(reason) = not_an_image(bytes) {
        return Err(decode_error(file, reason));
    }
    // Decoders' own buffers stay within the decoded image's size (4 bytes × 16 bit per pixel).
    let decoder = decoders::open(bytes, MAX_PIXELS * 8)
        .map_err(|err| decode_error(file, err))?
        .ok_or_else(|| decode_error(file, "its contents are not a known image format"))?;
    let (width, height) = decoder.dimensions();
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(Error::ImageTooLarge { file: file.to_string(), width, height, limit: MAX_PIXELS });
    }
    if width == 0 || height == 0 {
        return Err(decode_error(file, "it has no pixels"));
    }
    if width.max(height) / width.min(height) > MAX_ASPECT_RATIO {
        return Err(Error::ImageAspectRatio { file: file.to_string(), width, height, limit: MAX_ASPECT_RATIO });
    }
    Ok(decoder)
}

/// Whether a JPEG's bytes end before its end-of-image marker. The segments before the first scan
/// are walked by their lengths (an EXIF thumbnail inside one has markers of its own); in the
/// entropy-coded data after it, 0xFF is always escaped, so the first 0xFF 0xD9 there is the end.
fn jpeg_ends_early(bytes: &[u8]) -> bool {
    let mut at = 2;
    while let (Some(&0xFF), Some(&marker)) = (bytes.get(at), bytes.get(at + 1)) {
        match marker {
            0xFF => at += 1,
            0xD9 => return false,
            0x01 | 0xD0..=0xD7 => at += 2,
            _ => {
                let Some(length) = bytes.get(at + 2..at + 4).map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
                else {
                    return true;
                };
                if marker == 0xDA {
                    let scan = bytes.get(at + 2 + length..).unwrap_or_default();
                    return !scan.windows(2).any(|pair| pair == [0xFF, 0xD9]);
                }
                at += 2 + length;
            }
        }
    }
    // Not a marker where one belongs: the decoder says what is wrong.
    at >= bytes.len()
}

/// What a file that is no image of ours holds, where that can be told from its first bytes: the
/// likely mistakes (an empty file, a web page saved under an image's name, a phone's HEIC photo).
fn not_an_image(bytes: &[u8]) -> Option<&'static str> {
    if bytes.is_empty() {
        return Some("the file is empty (0 bytes)");
    }
    let head = &bytes[..bytes.len().min(512)];
    let text = String::from_utf8_lossy(head).to_ascii_lowercase();
    let text = text.trim_start_matches('\u{feff}').trim_start();
    if text.starts_with('<') {
        return Some(if text.contains("<svg") {
            "it is an SVG drawing: vector images are not read; export it as PNG"
        } else if text.contains("<html") || text.starts_with("<!doctype") {
            "it is an HTML page, not an image (a download that saved an error page?)"
        } else {
            "it holds markup text, not an image"
        });
    }
    let brand = bytes.get(4..12);
    if brand.is_some_and(|b| b.starts_with(b"ftyp")) {
        let brand = &bytes[8..12];
        if [b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1"].iter().any(|known| brand == *known) {
            return Some("it is a HEIC photo, which browsers cannot decode here: export it as JPEG");
        }
        if brand == b"avif" || brand == b"avis" {
            return Some("it is an AVIF image, which is not read here: export it as JPEG or PNG");
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    use image::{ImageFormat, Rgb};

    fn encode(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
        let mut bytes = Vec::new();
        image.write_to(&mut Cursor::new(&mut bytes), format).unwrap();
        bytes
    }

    #[test]
    fn decodes_every_supported_format_to_rgb() {
        let rgb = DynamicImage::ImageRgb8(RgbImage::from_fn(5, 3, |x, y| Rgb([x as u8 * 40, y as u8 * 80, 7])));
        for format in [ImageFormat::Png, ImageFormat::Bmp, ImageFormat::Gif, ImageFormat::WebP] {
            let decoded = decode_image("x", &encode(&rgb, format)).unwrap();
            assert_eq!(decoded.dimensions(), (5, 3), "{format:?}");
        }
        let decoded = decode_image("x", &encode(&rgb, ImageFormat::Png)).unwrap();
        assert_eq!(decoded.get_pixel(4, 2), &Rgb([160, 160, 7]));
        let jpeg = decode_image("x", &encode(&rgb, ImageFormat::Jpeg)).unwrap();
        assert_eq!(jpeg.dimensions(), (5, 3));
    }

    #[test]
    fn grayscale_alpha_and_16_bit_become_8_bit_rgb() {
        let gray = DynamicImage::ImageLuma8(image::GrayImage::from_pixel(2, 2, image::Luma([200])));
        assert_eq!(decode_image("g", &encode(&gray, ImageFormat::Png)).unwrap().get_pixel(0, 0), &Rgb([200, 200, 200]));
        let rgba = DynamicImage::ImageRgba8(image::RgbaImage::from_pixel(2, 2, image::Rgba([10, 20, 30, 0])));
        assert_eq!(decode_image("a", &encode(&rgba, ImageFormat::Png)).unwrap().get_pixel(1, 1), &Rgb([10, 20, 30]));
        let deep = DynamicImage::ImageRgb16(image::ImageBuffer::from_pixel(2, 2, Rgb([65535u16, 0, 32896])));
        assert_eq!(decode_image("d", &encode(&deep, ImageFormat::Png)).unwrap().get_pixel(0, 0), &Rgb([255, 0, 128]));
    }

    #[test]
    fn bad_bytes_name_the_file() {
        let err = decode_image("holiday/notes.txt", b"just some text, not an image").unwrap_err();
        assert!(matches!(err, Error::ImageDecode { .. }));
        assert!(err.to_string().contains("holiday/notes.txt"), "{err}");
        let rgb = DynamicImage::ImageRgb8(RgbImage::new(8, 8));
        let png = encode(&rgb, ImageFormat::Png);
        let err = decode_image("cut.png", &png[..png.len() / 2]).unwrap_err();
        assert!(err.to_string().contains("cut.png"), "{err}");
    }

    #[test]
    fn decompression_bombs_are_refused_before_decoding() {
        // A BMP header claiming 60000×60000 pixels, with no pixel data behind it.
        let mut bmp = b"BM".to_vec();
        for field in [54u32 + 16, 0, 54, 40, 60000, 60000] {
            bmp.extend_from_slice(&field.to_le_bytes());
        }
        bmp.extend_from_slice(&1u16.to_le_bytes());
        bmp.extend_from_slice(&24u16.to_le_bytes());
        bmp.extend_from_slice(&[0; 24]);
        bmp.extend_from_slice(&[0; 16]);
        let err = decode_image("bomb.bmp", &bmp).unwrap_err();
        assert!(matches!(err, Error::ImageTooLarge { width: 60000, height: 60000, .. }), "{err}");
        let err = probe_image("bomb.bmp", &bmp).unwrap_err();
        assert!(matches!(err, Error::ImageTooLarge { .. }), "{err}");
    }

    #[test]
    fn files_that_are_no_images_say_what_they_are() {
        let reason = |bytes: &[u8]| decode_image("f.jpg", bytes).unwrap_err().to_string();
        assert!(reason(b"").contains("empty (0 bytes)"));
        assert!(reason(b"<!DOCTYPE html><html><body>404</body></html>").contains("HTML page"));
        assert!(reason(b"<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\"/>").contains("SVG"));
        assert!(reason(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic").contains("HEIC"));
        assert!(reason(b"\0\0\0\x1cftypavif\0\0\0\0avifmif1miaf").contains("AVIF"));
        assert!(reason(b"plain notes, no image").contains("not a known image format"));
        let strip = DynamicImage::ImageRgb8(RgbImage::new(1000, 3));
        let err = probe_image("strip.png", &encode(&strip, ImageFormat::Png)).unwrap_err();
        assert!(matches!(err, Error::ImageAspectRatio { width: 1000, height: 3, .. }), "{err}");
    }

    #[test]
    fn a_cut_off_jpeg_is_refused_and_trailing_bytes_are_not() {
        let rgb = DynamicImage::ImageRgb8(RgbImage::from_fn(64, 48, |x, y| Rgb([x as u8 * 4, y as u8 * 5, 9])));
        let jpeg = encode(&rgb, ImageFormat::Jpeg);
        let err = decode_image("cut.jpg", &jpeg[..jpeg.len() * 2 / 3]).unwrap_err();
        assert!(err.to_string().contains("ends before its image"), "{err}");
        let mut trailing = jpeg.clone();
        trailing.extend_from_slice(b"\0 bytes after the end marker");
        assert_eq!(decode_image("trailing.jpg", &trailing).unwrap().dimensions(), (64, 48));
        assert!(decode_image("whole.jpg", &jpeg).is_ok());
    }

    #[test]
    fn a_probe_reads_the_header_only() {
        let rgb = DynamicImage::ImageRgb8(RgbImage::new(40, 30));
        let png = encode(&rgb, ImageFormat::Png);
        assert_eq!(probe_image("a.png", &png).unwrap(), (40, 30));
        // Cut after the header: the probe passes, decoding names the file.
        let cut = &png[..png.len() - 20];
        assert_eq!(probe_image("cut.png", cut).unwrap(), (40, 30));
        assert!(decode_image("cut.png", cut).unwrap_err().to_string().contains("cut.png"));
        assert!(probe_image("notes.jpg", b"plain text").is_err());
    }
}

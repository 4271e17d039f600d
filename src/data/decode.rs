//! Decoding image files to 8-bit RGB, as `PIL.Image.open(f).convert("RGB")` does for
//! torchvision's `ImageFolder`, plus EXIF orientation, which phone photos need.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageReader, Limits, RgbImage};

use crate::error::{Error, Result};

/// Largest image accepted, in pixels (a 48-megapixel phone photo fits). Guards against
/// decompression bombs: a tiny file that claims a huge size is refused before decoding.
pub const MAX_PIXELS: u64 = 50_000_000;

/// Decodes JPEG, PNG, WebP, GIF (first frame) or BMP bytes to RGB with EXIF orientation applied.
/// Grayscale, alpha (dropped, as PIL's `convert("RGB")` does), CMYK and 16-bit inputs become 8-bit
/// RGB. `file` names the image in error messages.
pub fn decode_image(file: &str, bytes: &[u8]) -> Result<RgbImage> {
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
    let mut reader = ImageReader::new(Cursor::new(bytes)).with_guessed_format().map_err(|err| decode_error(file, err))?;
    if reader.format().is_none() {
        return Err(decode_error(file, "its contents are not a known image format"));
    }
    let mut limits = Limits::default();
    // Decoders' own buffers stay within the decoded image's size (4 bytes × 16 bit per pixel).
    limits.max_alloc = Some(MAX_PIXELS * 8);
    reader.limits(limits);
    let decoder = reader.into_decoder().map_err(|err| decode_error(file, err))?;
    let (width, height) = decoder.dimensions();
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(Error::ImageTooLarge { file: file.to_string(), width, height, limit: MAX_PIXELS });
    }
    if width == 0 || height == 0 {
        return Err(decode_error(file, "it has no pixels"));
    }
    Ok(decoder)
}

#[cfg(test)]
mod tests {
    use super::*;
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

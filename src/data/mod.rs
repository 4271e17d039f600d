//! From image bytes to the normalised tensors the model takes.

mod augment;
mod dataset;
mod decode;
mod transform;
mod views;

pub use augment::{Augmentation, augment, network_crop, random_resized_crop_box};
pub use dataset::{Dataset, Example, Split, Subset, decode_resized};

pub use decode::{MAX_PIXELS, decode_image, probe_image};
pub use transform::{Interpolation, Preprocess, Resizing, center_crop, crop_padded, resize_shorter_side, resize_to};
pub use views::Views;

/// Small real PNG files for the crate's unit tests.
#[cfg(test)]
pub(crate) mod test_images {
    /// A 48×40 PNG of `colour` with a little texture that varies with `seed`.
    pub fn png(colour: [u8; 3], seed: u32) -> Vec<u8> {
        let image = image::RgbImage::from_fn(48, 40, |x, y| {
            let noise = ((x * 7 + y * 13 + seed * 31) % 17) as u8;
            image::Rgb(colour.map(|c| c.saturating_add(noise)))
        });
        let mut bytes = Vec::new();
        image::DynamicImage::ImageRgb8(image)
            .write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png)
            .expect("encoding a PNG in memory");
        bytes
    }
}

//! torchvision's evaluation transforms on PIL images, reproduced exactly:
//! `Resize(256)` (PIL bilinear, or bicubic where the weights ask for it, with PIL's antialiasing),
//! `CenterCrop(224)`, `ToTensor()`, `Normalize(mean, std)`.

use browser_finetune_kernels::resample::{self, PRECISION_BITS};
use image::RgbImage;

/// PIL's resampling filter for `Resize`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Interpolation {
    /// torchvision's default.
    #[default]
    Bilinear,
    /// EfficientNet-B0's weights (Keys' cubic, a = −0.5).
    Bicubic,
}

/// How images are kept for training: the shorter side resized to `shorter_side` pixels with
/// `interpolation` (what decoding elsewhere needs to know of a [`Preprocess`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Resizing {
    pub shorter_side: u32,
    pub interpolation: Interpolation,
}

/// The preprocessing a backbone expects.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Preprocess {
    /// The shorter side is resized to this many pixels (`Resize(256)`).
    pub resize_shorter: u32,
    /// Bilinear unless said (model cards written before there was a choice do not say).
    #[serde(default)]
    pub interpolation: Interpolation,
    /// Then the centre square of this side is cut out (`CenterCrop(224)`).
    pub crop: u32,
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

impl Preprocess {
    /// The torchvision ImageNet recipe: Resize 256 → CenterCrop 224 → ImageNet mean and std.
    pub fn imagenet() -> Self {
        Self {
            resize_shorter: 256,
            interpolation: Interpolation::Bilinear,
            crop: 224,
            mean: [0.485, 0.456, 0.406],
            std: [0.229, 0.224, 0.225],
        }
    }

    pub fn resizing(&self) -> Resizing {
        Resizing { shorter_side: self.resize_shorter, interpolation: self.interpolation }
    }

    /// `[3, crop, crop]` values, channel-major, ready for the model.
    pub fn apply(&self, image: &RgbImage) -> Vec<f32> {
        let resized = resize_shorter_side(image, self.resizing());
        let cropped = center_crop(&resized, self.crop, self.crop);
        self.normalize(&cropped)
    }

    /// `ToTensor()` then `Normalize(mean, std)`, in torch's order of float operations.
    pub fn normalize(&self, image: &RgbImage) -> Vec<f32> {
        let plane = (image.width() * image.height()) as usize;
        let mut out = vec![0.0; 3 * plane];
        for (i, pixel) in image.pixels().enumerate() {
            for c in 0..3 {
                out[c * plane + i] = (f32::from(pixel[c]) / 255.0 - self.mean[c]) / self.std[c];
            }
        }
        out
    }
}

/// The output size of torchvision's `Resize(size)` with an int: the shorter side becomes `size`,
/// the longer one `int(size * long / short)`.
pub fn shorter_side_size(width: u32, height: u32, size: u32) -> (u32, u32) {
    let (short, long) = if width <= height { (width, height) } else { (height, width) };
    let new_long = (f64::from(size) * f64::from(long) / f64::from(short)) as u32;
    if width <= height { (size, new_long) } else { (new_long, size) }
}

pub fn resize_shorter_side(image: &RgbImage, resizing: Resizing) -> RgbImage {
    let (width, height) = shorter_side_size(image.width(), image.height(), resizing.shorter_side);
    resize_to(image, width, height, resizing.interpolation)
}

/// Python's `round`: halves go to the even neighbour.
fn round_half_even(x: f64) -> f64 {
    let rounded = x.round();
    if (x - x.trunc()).abs() == 0.5 && rounded % 2.0 != 0.0 { rounded - x.signum() } else { rounded }
}

/// torchvision's `CenterCrop`: offsets `round((size - crop) / 2)`; areas outside the image
/// (when it is smaller than the crop) are zero, as torchvision pads.
pub fn center_crop(image: &RgbImage, width: u32, height: u32) -> RgbImage {
    let top = round_half_even((f64::from(image.height()) - f64::from(height)) / 2.0) as i64;
    let left = round_half_even((f64::from(image.width()) - f64::from(width)) / 2.0) as i64;
    crop_padded(image, left, top, width, height)
}

/// The `width`×`height` area of `image` from (`left`, `top`); what lies outside the image is zero.
pub fn crop_padded(image: &RgbImage, left: i64, top: i64, width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        let (sx, sy) = (left + i64::from(x), top + i64::from(y));
        if sx < 0 || sy < 0 || sx >= i64::from(image.width()) || sy >= i64::from(image.height()) {
            image::Rgb([0, 0, 0])
        } else {
            *image.get_pixel(sx as u32, sy as u32)
        }
    })
}

impl Interpolation {
    /// Half the width of the filter, in input pixels at scale 1.
    fn support(self) -> f64 {
        match self {
            Interpolation::Bilinear => 1.0,
            Interpolation::Bicubic => 2.0,
        }
    }

    /// Pillow's filter functions: the triangle, and Keys' cubic with a = −0.5.
    fn weight(self, x: f64) -> f64 {
        let x = x.abs();
        match self {
            Interpolation::Bilinear => (1.0 - x).max(0.0),
            Interpolation::Bicubic => {
                const A: f64 = -0.5;
                if x < 1.0 {
                    ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
                } else if x < 2.0 {
                    (((x - 5.0) * x + 8.0) * x - 4.0) * A
                } else {
                    0.0
                }
            }
        }
    }
}

/// For each output pixel: the first input pixel it reads and its fixed-point weights.
/// This is Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc`; the filter's support widens
/// with the downscaling factor (that is the antialiasing).
fn coefficients(in_size: u32, out_size: u32, interpolation: Interpolation) -> Vec<(usize, Vec<i32>)> {
    let scale = f64::from(in_size) / f64::from(out_size);
    let filter_scale = scale.max(1.0);
    let support = interpolation.support() * filter_scale;
    (0..out_size)
        .map(|xx| {
            let center = (f64::from(xx) + 0.5) * scale;
            let xmin = ((center - support + 0.5) as i64).max(0);
            let xmax = ((center + support + 0.5) as i64).min(i64::from(in_size));
            let weights: Vec<f64> =
                (xmin..xmax).map(|x| interpolation.weight((x as f64 - center + 0.5) / filter_scale)).collect();
            let total: f64 = weights.iter().sum();
            let fixed = weights
                .iter()
                .map(|w| {
                    let w = if total != 0.0 { w / total } else { *w };
                    let scaled = w * f64::from(1u32 << PRECISION_BITS);
                    (if scaled < 0.0 { scaled - 0.5 } else { scaled + 0.5 }) as i32
                })
                .collect();
            (xmin as usize, fixed)
        })
        .collect()
}

/// Pillow's `Image.resize(size, filter)` on an RGB image: a horizontal pass, rounded to 8 bits,
/// then a vertical pass.
pub fn resize_to(image: &RgbImage, width: u32, height: u32, interpolation: Interpolation) -> RgbImage {
    let horizontal = if width != image.width() { horizontal_pass(image, width, interpolation) } else { image.clone() };
    if height == horizontal.height() {
        return horizontal;
    }
    vertical_pass(&horizontal, height, interpolation)
}

/// Every row resampled to `width` pixels.
fn horizontal_pass(image: &RgbImage, width: u32, interpolation: Interpolation) -> RgbImage {
    let coefficients = coefficients(image.width(), width, interpolation);
    let out = resample::horizontal_pass(image.as_raw(), image.width() as usize, &coefficients);
    RgbImage::from_raw(width, image.height(), out).expect("the buffer is sized for the image")
}

/// Every column resampled to `height` pixels.
fn vertical_pass(image: &RgbImage, height: u32, interpolation: Interpolation) -> RgbImage {
    let coefficients = coefficients(image.height(), height, interpolation);
    let out = resample::vertical_pass(image.as_raw(), image.width() as usize, &coefficients);
    RgbImage::from_raw(image.width(), height, out).expect("the buffer is sized for the image")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorter_side_becomes_the_target_and_the_longer_truncates() {
        assert_eq!(shorter_side_size(500, 375, 256), (341, 256));
        assert_eq!(shorter_side_size(375, 500, 256), (256, 341));
        assert_eq!(shorter_side_size(300, 300, 256), (256, 256));
    }

    #[test]
    fn center_crop_rounds_halves_to_even_like_python() {
        // (341 - 224) / 2 = 58.5 → 58; (257 - 224) / 2 = 16.5 → 16
        let image = RgbImage::from_fn(341, 257, |x, y| image::Rgb([x as u8, y as u8, 0]));
        let crop = center_crop(&image, 224, 224);
        assert_eq!(crop.get_pixel(0, 0), &image::Rgb([58, 16, 0]));
        assert_eq!(round_half_even(2.5), 2.0);
        assert_eq!(round_half_even(3.5), 4.0);
        assert_eq!(round_half_even(-0.5), 0.0);
    }

    #[test]
    fn resizing_a_flat_image_keeps_its_colour() {
        let image = RgbImage::from_pixel(97, 61, image::Rgb([200, 17, 90]));
        let resized = resize_to(&image, 256, 40, Interpolation::Bilinear);
        assert!(resized.pixels().all(|p| p == &image::Rgb([200, 17, 90])));
    }

    #[test]
    fn normalize_matches_imagenet_statistics() {
        let image = RgbImage::from_pixel(1, 1, image::Rgb([255, 0, 124]));
        let values = Preprocess::imagenet().normalize(&image);
        assert!((values[0] - (1.0 - 0.485) / 0.229).abs() < 1e-6);
        assert!((values[1] - (0.0 - 0.456) / 0.224).abs() < 1e-6);
        assert_eq!(values.len(), 3);
    }
}

//! Training augmentation as torchvision defines it: `RandomResizedCrop(224)` (scale 0.08–1,
//! aspect ratio 3/4–4/3) and `RandomHorizontalFlip()`.

use image::RgbImage;
use serde::{Deserialize, Serialize};

use super::transform::{Interpolation, center_crop, resize_to};
use crate::rng::Rng;

/// One epoch's training augmentation. Each image draws its crop and flip from a stream of its
/// own, given by the run's seed, the epoch and the image, so that any worker prepares the same
/// input for it, in whatever order or batch the images are prepared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Augmentation {
    pub seed: u64,
    pub epoch: usize,
}

impl Augmentation {
    /// The random stream of image `example`.
    pub fn rng(&self, example: usize) -> Rng {
        let mut mix =
            Rng::new(self.seed ^ (self.epoch as u64).rotate_left(32) ^ (example as u64).wrapping_mul(0x9E37_79B9));
        Rng::new(mix.next_u64())
    }
}

/// What the network sees of a kept image: the evaluation crop, or with `augmentation` the
/// training augmentation of image `example`.
pub fn network_crop(image: &RgbImage, crop: u32, augmentation: Option<Augmentation>, example: usize) -> RgbImage {
    match augmentation {
        Some(augmentation) => augment(image, crop, &mut augmentation.rng(example)),
        None => center_crop(image, crop, crop),
    }
}

/// torchvision's `RandomResizedCrop.get_params`: the crop box `(top, left, height, width)`.
pub fn random_resized_crop_box(width: u32, height: u32, rng: &mut Rng) -> (u32, u32, u32, u32) {
    let (scale, ratio) = ((0.08, 1.0), (3.0f64 / 4.0, 4.0f64 / 3.0));
    let area = f64::from(width) * f64::from(height);
    for _ in 0..10 {
        let target_area = area * rng.uniform(scale.0, scale.1);
        let aspect = rng.uniform(ratio.0.ln(), ratio.1.ln()).exp();
        let w = (target_area * aspect).sqrt().round() as u32;
        let h = (target_area / aspect).sqrt().round() as u32;
        if 0 < w && w <= width && 0 < h && h <= height {
            let top = rng.below((height - h + 1) as usize) as u32;
            let left = rng.below((width - w + 1) as usize) as u32;
            return (top, left, h, w);
        }
    }
    // Fallback: the central crop with the ratio clamped into range.
    let in_ratio = f64::from(width) / f64::from(height);
    let (w, h) = if in_ratio < ratio.0 {
        (width, (f64::from(width) / ratio.0).round() as u32)
    } else if in_ratio > ratio.1 {
        ((f64::from(height) * ratio.1).round() as u32, height)
    } else {
        (width, height)
    };
    ((height - h) / 2, (width - w) / 2, h, w)
}

/// A random crop resized to `size`×`size` (Pillow bilinear), mirrored half of the time.
pub fn augment(image: &RgbImage, size: u32, rng: &mut Rng) -> RgbImage {
    let (top, left, h, w) = random_resized_crop_box(image.width(), image.height(), rng);
    let crop = image::imageops::crop_imm(image, left, top, w, h).to_image();
    // torchvision's RandomResizedCrop resizes bilinearly, whatever the backbone's evaluation resize.
    let mut out = resize_to(&crop, size, size, Interpolation::Bilinear);
    if rng.next_f64() < 0.5 {
        image::imageops::flip_horizontal_in_place(&mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crop_boxes_lie_inside_the_image_and_respect_the_ranges() {
        let mut rng = Rng::new(3);
        for _ in 0..500 {
            let (top, left, h, w) = random_resized_crop_box(341, 256, &mut rng);
            assert!(top + h <= 256 && left + w <= 341 && h > 0 && w > 0);
            let share = f64::from(h * w) / (341.0 * 256.0);
            assert!(share > 0.06 && share <= 1.0, "{share}");
        }
    }

    #[test]
    fn augmented_images_have_the_requested_size_and_vary() {
        let image = RgbImage::from_fn(300, 256, |x, y| image::Rgb([x as u8, y as u8, 9]));
        let mut rng = Rng::new(5);
        let a = augment(&image, 224, &mut rng);
        let b = augment(&image, 224, &mut rng);
        assert_eq!(a.dimensions(), (224, 224));
        assert_ne!(a, b);
    }

    #[test]
    fn each_image_and_epoch_has_its_own_repeatable_augmentation() {
        let image = RgbImage::from_fn(300, 256, |x, y| image::Rgb([x as u8, y as u8, 9]));
        let epoch = |epoch| Some(Augmentation { seed: 4, epoch });
        let crop = |augmentation, example| network_crop(&image, 224, augmentation, example);
        assert_eq!(crop(epoch(1), 7), crop(epoch(1), 7));
        assert_ne!(crop(epoch(1), 7), crop(epoch(2), 7));
        assert_ne!(crop(epoch(1), 7), crop(epoch(1), 8));
        assert_eq!(crop(None, 7), center_crop(&image, 224, 224));
    }
}

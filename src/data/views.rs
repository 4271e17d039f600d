//! Test-time augmentation: the views of an image that a prediction averages over — the centre
//! crop alone (the evaluation transform), with its mirror image, or torchvision's `TenCrop` (the
//! four corner crops and the centre one, and the same of the mirrored image).

use image::RgbImage;
use image::imageops::flip_horizontal;
use serde::{Deserialize, Serialize};

use super::transform::{Preprocess, center_crop, crop_padded, resize_shorter_side};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Views {
    /// The centre crop: one view.
    #[default]
    Centre,
    /// The centre crop and its mirror image: two views.
    Flip,
    /// The corner and centre crops of the image and of its mirror image: ten views.
    TenCrop,
}

impl Views {
    pub const ALL: [Views; 3] = [Views::Centre, Views::Flip, Views::TenCrop];

    /// Its name in the page's and the embed's options (`centre`, `flip`, `ten_crop`).
    pub fn name(self) -> &'static str {
        match self {
            Views::Centre => "centre",
            Views::Flip => "flip",
            Views::TenCrop => "ten_crop",
        }
    }

    /// The views named `name`; an unknown name is an error that lists the choices.
    pub fn from_name(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|views| views.name() == name)
            .ok_or_else(|| Error::InvalidInput(format!("no views named '{name}': choose centre, flip or ten_crop")))
    }

    pub fn count(self) -> usize {
        match self {
            Views::Centre => 1,
            Views::Flip => 2,
            Views::TenCrop => 10,
        }
    }

    /// The views of `image`, resized as `preprocess` says, each `[3, crop, crop]` normalised, one
    /// after the other (`count()` of them).
    pub fn pixels(self, preprocess: &Preprocess, image: &RgbImage) -> Vec<f32> {
        let resized = resize_shorter_side(image, preprocess.resizing());
        let crop = preprocess.crop;
        let crops = match self {
            Views::Centre => vec![center_crop(&resized, crop, crop)],
            Views::Flip => {
                let centre = center_crop(&resized, crop, crop);
                vec![flip_horizontal(&centre), centre]
            }
            Views::TenCrop => {
                let mut crops = five_crop(&resized, crop);
                crops.extend(five_crop(&flip_horizontal(&resized), crop));
                crops
            }
        };
        crops.iter().flat_map(|view| preprocess.normalize(view)).collect()
    }
}

/// torchvision's `FiveCrop`: top left, top right, bottom left, bottom right, centre.
fn five_crop(image: &RgbImage, crop: u32) -> Vec<RgbImage> {
    let (right, bottom) = (i64::from(image.width()) - i64::from(crop), i64::from(image.height()) - i64::from(crop));
    let corner = |left, top| crop_padded(image, left, top, crop, crop);
    vec![corner(0, 0), corner(right, 0), corner(0, bottom), corner(right, bottom), center_crop(image, crop, crop)]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The centre view is the evaluation transform; the flip adds its mirror image; ten crops
    /// start at the top-left corner and end with the mirrored image's centre crop.
    #[test]
    fn views_are_the_crops_torchvision_takes() {
        let preprocess = Preprocess::imagenet();
        let image = RgbImage::from_fn(320, 256, |x, y| image::Rgb([x as u8, y as u8, (x ^ y) as u8]));
        let side = 3 * 224 * 224;
        assert_eq!(Views::Centre.pixels(&preprocess, &image), preprocess.apply(&image));
        let flip = Views::Flip.pixels(&preprocess, &image);
        assert_eq!(flip.len(), 2 * side);
        assert_eq!(flip[side..], preprocess.apply(&image));
        let centre = center_crop(&image, 224, 224);
        assert_eq!(flip[..side], preprocess.normalize(&flip_horizontal(&centre)));
        let ten = Views::TenCrop.pixels(&preprocess, &image);
        assert_eq!(ten.len(), 10 * side);
        let top_left = image::imageops::crop_imm(&image, 0, 0, 224, 224).to_image();
        assert_eq!(ten[..side], preprocess.normalize(&top_left));
        assert_eq!(ten[9 * side..], preprocess.normalize(&center_crop(&flip_horizontal(&image), 224, 224)));
        let bottom_right = image::imageops::crop_imm(&image, 96, 32, 224, 224).to_image();
        assert_eq!(ten[3 * side..4 * side], preprocess.normalize(&bottom_right));
    }

    #[test]
    fn views_are_named_and_unknown_names_list_the_choices() {
        for views in Views::ALL {
            assert_eq!(Views::from_name(views.name()).unwrap(), views);
            assert_eq!(serde_json::to_value(views).unwrap(), views.name());
        }
        let err = Views::from_name("twelve").unwrap_err().to_string();
        assert!(err.contains("twelve") && err.contains("ten_crop"), "{err}");
    }
}

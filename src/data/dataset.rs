//! The user's images, one class per folder, and their split into training and validation.

use image::RgbImage;
use serde::{Deserialize, Serialize};

use super::{Preprocess, Resizing, decode_image, resize_shorter_side};
use crate::error::{Error, Result};
use crate::rng::Rng;

/// Which part of an ImageFolder layout (`train/<class>/…`, `val/<class>/…`) an image came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Subset {
    Train,
    Val,
}

/// One image of the dataset. Its pixels are kept at the size `Resize(256)` gives them: the
/// evaluation crop is taken from them exactly, and training augmentation crops from them (rather
/// than from the full-resolution original, to bound memory: about 200 KB per image).
#[derive(Debug, Clone)]
pub struct Example {
    pub name: String,
    pub class: String,
    pub subset: Option<Subset>,
    /// Present from the start for an image added with its pixels; for one registered by name (the
    /// page keeps its file), only while a step needs it, so that memory does not grow with the
    /// number of images.
    pub image: Option<RgbImage>,
    /// Registered by name: its pixels are supplied for a step and released after it.
    pub on_demand: bool,
    /// Its file failed to decode when its pixels were needed: it leaves every run from then on.
    pub unusable: bool,
    /// The user removed it from their runs (the data check's "remove from this run"); its file
    /// is untouched, and it can be brought back.
    pub excluded: bool,
}

#[derive(Debug, Default)]
pub struct Dataset {
    examples: Vec<Example>,
}

/// An image file decoded and resized as the dataset keeps it.
pub fn decode_resized(name: &str, bytes: &[u8], resizing: Resizing) -> Result<RgbImage> {
    Ok(resize_shorter_side(&decode_image(name, bytes)?, resizing))
}

/// Indices into the dataset's examples with their class index.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// Class names, sorted as torchvision's `ImageFolder` sorts them.
    pub classes: Vec<String>,
    pub train: Vec<(usize, usize)>,
    pub val: Vec<(usize, usize)>,
}

impl Dataset {
    /// Decodes an image and keeps it; a file that cannot be used is refused with its name and why.
    pub fn add(
        &mut self,
        name: &str,
        bytes: &[u8],
        class: &str,
        subset: Option<Subset>,
        preprocess: &Preprocess,
    ) -> Result<()> {
        let image = decode_resized(name, bytes, preprocess.resizing())?;
        self.add_decoded(name, image, class, subset)
    }

    /// Keeps an image [`decode_resized`] made (in this worker or another).
    pub fn add_decoded(&mut self, name: &str, image: RgbImage, class: &str, subset: Option<Subset>) -> Result<()> {
        self.push(name, class, subset, Some(image)).map(|_| ())
    }

    /// Adds an image by name whose pixels are supplied ([`Dataset::supply`]) when a step needs them;
    /// returns its index. Checking the file's header first ([`crate::data::probe_image`]) is the
    /// caller's part.
    pub fn register(&mut self, name: &str, class: &str, subset: Option<Subset>) -> Result<usize> {
        self.push(name, class, subset, None)
    }

    fn push(&mut self, name: &str, class: &str, subset: Option<Subset>, image: Option<RgbImage>) -> Result<usize> {
        if class.trim().is_empty() {
            return Err(Error::InvalidInput(format!("'{name}' has no class: put images in one folder per class")));
        }
        let on_demand = image.is_none();
        let example = Example {
            name: name.to_string(),
            class: class.to_string(),
            subset,
            image,
            on_demand,
            unusable: false,
            excluded: false,
        };
        self.examples.push(example);
        Ok(self.examples.len() - 1)
    }

    fn example_mut(&mut self, index: usize) -> Result<&mut Example> {
        let count = self.examples.len();
        self.examples
            .get_mut(index)
            .ok_or_else(|| Error::InvalidInput(format!("there is no image {index}: the dataset holds {count}")))
    }

    /// The decoded pixels of a registered image, for the step that needs them.
    pub fn supply(&mut self, index: usize, image: RgbImage) -> Result<()> {
        let example = self.example_mut(index)?;
        if example.on_demand {
            example.image = Some(image);
        }
        Ok(())
    }

    /// Marks an image whose file failed to decode: runs go on without it.
    pub fn mark_unusable(&mut self, index: usize) -> Result<()> {
        let example = self.example_mut(index)?;
        example.unusable = true;
        example.image = None;
        Ok(())
    }

    /// Removes image `index` from the runs that start from now on (`true`), or brings it back.
    pub fn set_excluded(&mut self, index: usize, excluded: bool) -> Result<()> {
        self.example_mut(index)?.excluded = excluded;
        Ok(())
    }

    /// Whether example `index` can be used: known and its file decodable so far.
    pub fn is_usable(&self, index: usize) -> bool {
        self.examples.get(index).is_some_and(|example| !example.unusable)
    }

    /// Drops the pixels supplied for a step.
    pub fn release_supplied(&mut self) {
        for example in self.examples.iter_mut().filter(|example| example.on_demand) {
            example.image = None;
        }
    }

    pub fn examples(&self) -> &[Example] {
        &self.examples
    }

    pub fn len(&self) -> usize {
        self.examples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.examples.is_empty()
    }

    pub fn clear(&mut self) {
        self.examples.clear();
    }

    /// The ImageFolder `train/` + `val/` split when the images came that way, else a stratified
    /// split holding out `val_fraction` of each class (at least one image of every class with two
    /// or more), shuffled with `seed`. Unusable images are left out, and so are excluded ones,
    /// after the split is drawn: removing an image leaves the others where they were, so that a
    /// run without it differs from the last one by that image alone.
    pub fn split(&self, val_fraction: f64, seed: u64) -> Result<Split> {
        let usable = |i: &usize| !self.examples[*i].unusable;
        let kept = |&(i, _): &(usize, usize)| !self.examples[i].excluded;
        let mut classes: Vec<String> =
            self.examples.iter().filter(|e| !e.unusable && !e.excluded).map(|e| e.class.clone()).collect();
        classes.sort();
        classes.dedup();
        if classes.len() < 2 {
            return Err(Error::InvalidInput(format!(
                "training needs at least 2 classes (one folder each), found {}",
                classes.len()
            )));
        }
        if !(0.0..1.0).contains(&val_fraction) {
            return Err(Error::InvalidInput(format!("the validation fraction must be in [0, 1), got {val_fraction}")));
        }
        let label = |e: &Example| classes.binary_search(&e.class).ok();
        let explicit = self.examples.iter().any(|e| e.subset.is_some());
        let (mut train, mut val) = (Vec::new(), Vec::new());
        if explicit {
            for (i, e) in self.examples.iter().enumerate().filter(|(i, e)| usable(i) && !e.excluded) {
                let Some(label) = label(e) else { continue };
                match e.subset {
                    Some(Subset::Val) => val.push((i, label)),
                    _ => train.push((i, label)),
                }
            }
        } else {
            let mut rng = Rng::new(seed);
            for (class, class_name) in classes.iter().enumerate() {
                let mut members: Vec<usize> = (0..self.examples.len())
                    .filter(usable)
                    .filter(|&i| self.examples[i].class == *class_name)
                    .collect();
                rng.shuffle(&mut members);
                let mut held_out = (members.len() as f64 * val_fraction).round() as usize;
                if val_fraction > 0.0 && members.len() >= 2 {
                    held_out = held_out.clamp(1, members.len() - 1);
                }
                val.extend(members[..held_out].iter().map(|&i| (i, class)).filter(kept));
                train.extend(members[held_out..].iter().map(|&i| (i, class)).filter(kept));
            }
        }
        for (class, name) in classes.iter().enumerate() {
            if !train.iter().any(|&(_, c)| c == class) {
                let removed = self.examples.iter().any(|e| e.excluded && e.class == *name);
                let fix = if removed { "bring back some you removed, or add some" } else { "add some" };
                return Err(Error::InvalidInput(format!("class '{name}' has no training images: {fix}")));
            }
        }
        Ok(Split { classes, train, val })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dataset(per_class: &[(&str, usize)], subset: impl Fn(usize) -> Option<Subset>) -> Dataset {
        let mut data = Dataset::default();
        let bytes = crate::data::test_images::png([90, 90, 90], 0);
        for (class, n) in per_class {
            for i in 0..*n {
                data.add(&format!("{class}/{i}.png"), &bytes, class, subset(i), &Preprocess::imagenet()).unwrap();
            }
        }
        data
    }

    #[test]
    fn images_are_kept_at_the_resized_size() {
        let data = dataset(&[("a", 1)], |_| None);
        assert_eq!(data.examples()[0].image.as_ref().map(RgbImage::dimensions), Some((307, 256)));
    }

    #[test]
    fn registered_images_hold_pixels_only_while_supplied() {
        let mut data = dataset(&[("a", 2), ("b", 2)], |_| None);
        let index = data.register("b/late.png", "b", None).unwrap();
        assert_eq!(index, 4);
        assert!(data.examples()[index].image.is_none());
        data.supply(index, RgbImage::new(300, 256)).unwrap();
        assert!(data.examples()[index].image.is_some());
        data.release_supplied();
        assert!(data.examples()[index].image.is_none());
        assert!(data.examples()[0].image.is_some(), "images added with pixels stay");
        assert!(data.supply(9, RgbImage::new(1, 1)).unwrap_err().to_string().contains("no image 9"));
    }

    #[test]
    fn unusable_images_leave_the_split() {
        let mut data = dataset(&[("a", 3), ("b", 3)], |_| None);
        data.mark_unusable(1).unwrap();
        let split = data.split(0.0, 1).unwrap();
        assert_eq!(split.train.len(), 5);
        assert!(split.train.iter().all(|&(i, _)| i != 1));
        assert!(!data.is_usable(1) && data.is_usable(0) && !data.is_usable(99));
    }

    /// Removing an image takes it out of the split and leaves every other image where it was.
    #[test]
    fn excluded_images_leave_the_split_without_moving_the_others() {
        let mut data = dataset(&[("a", 10), ("b", 10)], |_| None);
        let before = data.split(0.3, 4).unwrap();
        let (removed, _) = before.val[0];
        data.set_excluded(removed, true).unwrap();
        let after = data.split(0.3, 4).unwrap();
        let without = |set: &[(usize, usize)]| set.iter().copied().filter(|&(i, _)| i != removed).collect::<Vec<_>>();
        assert_eq!((after.train.clone(), after.val.clone()), (without(&before.train), without(&before.val)));
        data.set_excluded(removed, false).unwrap();
        assert_eq!(data.split(0.3, 4).unwrap(), before);
        let class_b: Vec<usize> = (0..data.len()).filter(|&i| data.examples()[i].class == "b").collect();
        for i in class_b {
            data.set_excluded(i, true).unwrap();
        }
        assert!(data.split(0.3, 4).unwrap_err().to_string().contains("at least 2 classes"));
        let mut data = dataset(&[("a", 3), ("b", 2)], |i| Some(if i == 0 { Subset::Val } else { Subset::Train }));
        data.set_excluded(4, true).unwrap();
        let err = data.split(0.3, 4).unwrap_err().to_string();
        assert!(err.contains("class 'b' has no training images: bring back"), "{err}");
        assert!(data.set_excluded(9, true).unwrap_err().to_string().contains("no image 9"));
    }

    #[test]
    fn stratified_split_holds_out_a_share_of_every_class() {
        let data = dataset(&[("cats", 10), ("dogs", 5), ("ants", 2)], |_| None);
        let split = data.split(0.2, 1).unwrap();
        assert_eq!(split.classes, ["ants", "cats", "dogs"]);
        let count = |set: &[(usize, usize)], c| set.iter().filter(|&&(_, l)| l == c).count();
        assert_eq!([count(&split.val, 0), count(&split.val, 1), count(&split.val, 2)], [1, 2, 1]);
        assert_eq!(split.train.len() + split.val.len(), 17);
        assert_eq!(data.split(0.2, 1).unwrap(), split, "same seed, same split");
    }

    #[test]
    fn image_folder_subsets_are_kept() {
        let data = dataset(&[("a", 4), ("b", 4)], |i| Some(if i == 0 { Subset::Val } else { Subset::Train }));
        let split = data.split(0.5, 1).unwrap();
        assert_eq!((split.train.len(), split.val.len()), (6, 2));
    }

    #[test]
    fn too_few_classes_or_images_are_explained() {
        let err = dataset(&[("only", 3)], |_| None).split(0.2, 1).unwrap_err();
        assert!(err.to_string().contains("at least 2 classes"), "{err}");
        let data = dataset(&[("a", 3), ("b", 1)], |_| Some(Subset::Val));
        assert!(data.split(0.2, 1).unwrap_err().to_string().contains("no training images"));
    }
}

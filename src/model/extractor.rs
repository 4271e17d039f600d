//! The frozen backbone as feature extraction runs it: BatchNorms folded into the convolutions
//! (see [`super::fold`]), and on the CPU a batch computed two images at a time.
//!
//! Why two: a layer's activations for a whole batch of eight (38 MB after MobileNetV2's first
//! expansion) leave the caches between one layer and the next, so every layer streams them from
//! memory; two images' fit, and two still give the matrix products enough columns. Measured on
//! the native CPU backend, one thread, images/s for batch 1 / 2 / 4 / 8 (`cargo run --release
//! --example bench_forward 1 2 4 8` before this split): ResNet18 11.2 / 13.2 / 10.8 / 10.4,
//! MobileNetV2 27 / 39 / 30 / 23, EfficientNet-Lite0 19.5 / 20.2 / 23.3 / 15.9. A folded backbone
//! has no BatchNorm left, so each image's features are independent of the others in its batch
//! and the split changes nothing but the speed. WebGPU takes the whole batch at once.

use burn::tensor::Tensor;

use super::Backbone;
use crate::backend::is_cpu;

/// Images per forward pass on the CPU.
const CPU_SUB_BATCH: usize = 2;

/// A backbone's folded copy, for extracting features with frozen weights; it cannot be trained
/// or exported.
#[derive(Debug)]
pub struct FeatureExtractor {
    folded: Backbone,
}

impl FeatureExtractor {
    pub fn new(backbone: &Backbone) -> Self {
        Self { folded: backbone.folded() }
    }

    /// # Shapes
    /// `[batch, 3, H, W] → [batch, features]`
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        in_sub_batches(images, |part| self.folded.forward(part))
    }

    /// The stem and the first `stages` stages ([`Backbone::forward_until`]): the frozen part of a
    /// run that trains the later stages, whose weights have not changed since this copy was folded.
    ///
    /// # Shapes
    /// `[batch, 3, H, W] → [batch, channels, h, w]`
    pub fn forward_until(&self, images: Tensor<4>, stages: usize) -> Tensor<4> {
        in_sub_batches(images, |part| self.folded.forward_until(part, stages))
    }
}

/// `forward` of the batch, on the CPU [`CPU_SUB_BATCH`] images at a time.
fn in_sub_batches<const D: usize>(images: Tensor<4>, forward: impl Fn(Tensor<4>) -> Tensor<D>) -> Tensor<D> {
    let [batch, ..] = images.dims();
    if batch <= CPU_SUB_BATCH || !is_cpu(&images.device()) {
        return forward(images);
    }
    Tensor::cat(images.split(CPU_SUB_BATCH, 0).into_iter().map(forward).collect(), 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Architecture, ImageClassifier};
    use burn::tensor::{Device, Distribution, Tolerance};

    #[test]
    fn a_batch_split_on_the_cpu_gives_each_image_its_own_features() {
        let device = Device::flex();
        device.seed(3);
        let backbone = ImageClassifier::random(Architecture::MobileNetV2, 4, &device).backbone;
        let extractor = FeatureExtractor::new(&backbone);
        // Five images: two full sub-batches and a single one.
        let images = Tensor::<4>::random([5, 3, 64, 64], Distribution::Normal(0.0, 1.0), &device);
        let together = extractor.forward(images.clone());
        assert_eq!(together.dims(), [5, Architecture::MobileNetV2.features()]);
        for image in 0..5 {
            let alone = extractor.forward(images.clone().narrow(0, image, 1));
            together
                .clone()
                .narrow(0, image, 1)
                .into_data()
                .assert_approx_eq::<f32>(&alone.into_data(), Tolerance::absolute(1e-5));
        }
    }
}

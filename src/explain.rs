//! Where the model looked: Grad-CAM (Selvaraju et al., 2017) on the output of the backbone's last
//! stage, for every architecture, with our autodiff (WebGPU or CPU).
//!
//! The last stage's activations `A` (channels `k`) are computed without autodiff; only what
//! follows them (the final convolution where there is one, pooling, the head) runs on the
//! autodiff device, with `A` as the leaf. A class's map is `ReLU(Σₖ αₖ Aₖ)` with `αₖ` the spatial
//! mean of the class logit's gradient with respect to `Aₖ`, scaled to [0, 1] (`(m − min) / (max −
//! min)`, as pytorch-grad-cam scales its maps).

use burn::module::Module;
use burn::tensor::{Tensor, activation::relu};
use serde::Serialize;

use crate::backend::read_back;
use crate::error::{Error, Result};
use crate::metrics::argmax;
use crate::model::ImageClassifier;

/// A class-activation map over the network's input (the centre crop), `height` rows of `width`
/// values in [0, 1], the last stage's resolution (7×7 at 224 pixels for most backbones).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HeatMap {
    /// The class whose logit the map explains (output index).
    pub class: usize,
    pub width: usize,
    pub height: usize,
    pub values: Vec<f32>,
}

/// Grad-CAM of one normalised image `[1, 3, crop, crop]` for `class` (`None`: the predicted one).
pub async fn grad_cam(model: &ImageClassifier, image: Tensor<4>, class: Option<usize>) -> Result<HeatMap> {
    let device = image.device();
    let stages = model.backbone.stage_count();
    let activations = model.backbone.valid().forward_until(image, stages);
    let [_, _, height, width] = activations.dims();
    let autodiff = device.clone().autodiff();
    let tail = model.valid().fork(&autodiff);
    let leaf = activations.clone().to_device(&autodiff).autodiff().require_grad();
    let logits = tail.fc.forward(tail.backbone.forward_from(leaf.clone(), stages));
    let classes = logits.dims()[1];
    let class = match class {
        Some(class) if class >= classes => {
            return Err(Error::InvalidInput(format!("the model has {classes} classes, no class {class}")));
        }
        Some(class) => class,
        None => argmax(&read_back(logits.clone().detach()).await?),
    };
    let gradients = logits.slice([0..1, class..class + 1]).sum().backward();
    let gradient = leaf.grad(&gradients).ok_or_else(|| Error::Backend("no gradient for the last stage".into()))?;
    let weights = gradient.to_device(&device).mean_dim(3).mean_dim(2);
    let map = relu((activations * weights).sum_dim(1)).reshape([height * width]);
    let mut values = read_back(map).await?;
    let (low, high) = values.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    for value in &mut values {
        *value = if high > low { (*value - low) / (high - low) } else { 0.0 };
    }
    Ok(HeatMap { class, width, height, values })
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Distribution};
    use futures_lite::future::block_on;

    use super::*;
    use crate::model::Architecture;

    /// For a backbone whose last stage is followed by pooling and the head alone (ResNet18), the
    /// gradient of a logit is the head's weight row over the map's size, so Grad-CAM is CAM:
    /// `ReLU(Σₖ w[c,k] Aₖ)`, scaled. Checked against that closed form, for two classes.
    #[test]
    fn on_a_resnet_grad_cam_is_the_heads_weighted_sum_of_the_last_stage() {
        let device = Device::flex();
        let model = ImageClassifier::random(Architecture::ResNet18, 3, &device);
        let image = Tensor::<4>::random([1, 3, 64, 64], Distribution::Normal(0.0, 1.0), &device);
        let activations = model.backbone.forward_until(image.clone(), model.backbone.stage_count());
        let [_, channels, height, width] = activations.dims();
        for class in [0, 2] {
            let map = block_on(grad_cam(&model, image.clone(), Some(class))).unwrap();
            assert_eq!((map.class, map.width, map.height), (class, width, height));
            let row = model.fc.weight.val().slice([0..channels, class..class + 1]).reshape([1, channels, 1, 1]);
            let expected = relu((activations.clone() * row).sum_dim(1)).reshape([height * width]);
            let expected: Vec<f32> = expected.into_data().try_to_vec().unwrap();
            let (low, high) =
                expected.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &v| (l.min(v), h.max(v)));
            for (value, expected) in map.values.iter().zip(&expected) {
                let expected = if high > low { (expected - low) / (high - low) } else { 0.0 };
                assert!((value - expected).abs() < 1e-4, "class {class}: {value} vs {expected}");
            }
        }
        assert!(block_on(grad_cam(&model, image, Some(3))).unwrap_err().to_string().contains("no class 3"));
    }

    /// Every architecture gives a map of its last stage's size, in [0, 1], for its predicted class.
    #[test]
    fn every_architecture_has_a_map() {
        let device = Device::flex();
        for architecture in Architecture::ALL {
            let model = ImageClassifier::random(architecture, 2, &device);
            let side = architecture.min_input_side();
            let image = Tensor::<4>::random([1, 3, side, side], Distribution::Normal(0.0, 1.0), &device);
            let predicted = argmax(&model.forward(image.clone()).into_data().try_to_vec::<f32>().unwrap());
            let map = block_on(grad_cam(&model, image, None)).unwrap();
            assert_eq!(map.class, predicted, "{architecture:?}");
            assert_eq!(map.values.len(), map.width * map.height, "{architecture:?}");
            assert!(map.values.iter().all(|v| (0.0..=1.0).contains(v)), "{architecture:?}");
        }
    }
}

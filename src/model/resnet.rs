//! The ResNet18 backbone: torchvision's `resnet18` without `fc`.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNormConfig, PaddingConfig2d};
use burn::tensor::Tensor;

use super::ParamSource;
use super::fold::{FoldableNorm, conv_norm_act, fold_pair};
use crate::kernels::Activation;

/// Width of the pooled feature vector the backbone produces.
pub const FEATURES: usize = 512;

/// The smallest input side the five stride-2 stages can take (the last feature map is then 1×1).
pub const MIN_INPUT_SIDE: usize = 32;

/// torchvision's `BasicBlock`: two 3×3 convolutions with a residual connection.
#[derive(Module, Debug)]
pub struct BasicBlock {
    pub conv1: Conv2d,
    pub bn1: FoldableNorm,
    pub conv2: Conv2d,
    pub bn2: FoldableNorm,
    /// Present where the block changes width or stride (torchvision's `downsample` Sequential).
    pub downsample: Option<Downsample>,
}

/// torchvision's `downsample = Sequential(conv1x1, BatchNorm2d)`; its keys are `downsample.0`
/// (the convolution) and `downsample.1` (the norm).
#[derive(Module, Debug)]
pub struct Downsample {
    pub conv: Conv2d,
    pub bn: FoldableNorm,
}

/// The ResNet18 feature extractor.
///
/// # Shapes
/// - input: `[batch, 3, height, width]`, height and width ≥ 32, ImageNet-normalised
/// - output: `[batch, 512]`, the globally average-pooled features
#[derive(Module, Debug)]
pub struct ResNet18 {
    pub conv1: Conv2d,
    pub bn1: FoldableNorm,
    pub maxpool: MaxPool2d,
    pub layer1: Vec<BasicBlock>,
    pub layer2: Vec<BasicBlock>,
    pub layer3: Vec<BasicBlock>,
    pub layer4: Vec<BasicBlock>,
    pub avgpool: AdaptiveAvgPool2d,
}

fn conv(in_channels: usize, out_channels: usize, kernel: usize, stride: usize) -> Conv2dConfig {
    let pad = kernel / 2;
    Conv2dConfig::new([in_channels, out_channels], [kernel, kernel])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_bias(false)
}

fn norm(channels: usize) -> BatchNormConfig {
    // torchvision's BatchNorm2d defaults: eps 1e-5, momentum 0.1
    BatchNormConfig::new(channels).with_epsilon(1e-5).with_momentum(0.1)
}

impl BasicBlock {
    fn build(source: &mut impl ParamSource, key: &str, in_ch: usize, out_ch: usize, stride: usize) -> Self {
        let downsample = (stride != 1 || in_ch != out_ch).then(|| Downsample {
            conv: source.conv2d(&format!("{key}.downsample.0"), &conv(in_ch, out_ch, 1, stride)),
            bn: FoldableNorm::BatchNorm(source.batch_norm(&format!("{key}.downsample.1"), &norm(out_ch))),
        });
        Self {
            conv1: source.conv2d(&format!("{key}.conv1"), &conv(in_ch, out_ch, 3, stride)),
            bn1: FoldableNorm::BatchNorm(source.batch_norm(&format!("{key}.bn1"), &norm(out_ch))),
            conv2: source.conv2d(&format!("{key}.conv2"), &conv(out_ch, out_ch, 3, 1)),
            bn2: FoldableNorm::BatchNorm(source.batch_norm(&format!("{key}.bn2"), &norm(out_ch))),
            downsample,
        }
    }

    /// # Shapes
    /// `[B, in, H, W] → [B, out, H/stride, W/stride]`
    pub fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        let identity = match &self.downsample {
            Some(down) => conv_norm_act(&down.conv, &down.bn, input.clone(), None, Activation::Identity),
            None => input.clone(),
        };
        let out = conv_norm_act(&self.conv1, &self.bn1, input, None, Activation::Relu);
        conv_norm_act(&self.conv2, &self.bn2, out, Some(identity), Activation::Relu)
    }

    /// The same block with every BatchNorm folded into its convolution, for inference.
    pub fn folded(&self) -> Self {
        let (conv1, bn1) = fold_pair(&self.conv1, &self.bn1);
        let (conv2, bn2) = fold_pair(&self.conv2, &self.bn2);
        let downsample = self.downsample.as_ref().map(|down| {
            let (conv, bn) = fold_pair(&down.conv, &down.bn);
            Downsample { conv, bn }
        });
        Self { conv1, bn1, conv2, bn2, downsample }
    }
}

impl ResNet18 {
    /// Builds the backbone, taking each parameter from `source` under its torchvision key.
    pub fn build(source: &mut impl ParamSource) -> Self {
        let mut stage = |name: &str, in_ch: usize, out_ch: usize, stride: usize| {
            vec![
                BasicBlock::build(source, &format!("{name}.0"), in_ch, out_ch, stride),
                BasicBlock::build(source, &format!("{name}.1"), out_ch, out_ch, 1),
            ]
        };
        let layer1 = stage("layer1", 64, 64, 1);
        let layer2 = stage("layer2", 64, 128, 2);
        let layer3 = stage("layer3", 128, 256, 2);
        let layer4 = stage("layer4", 256, 512, 2);
        Self {
            conv1: source.conv2d("conv1", &conv(3, 64, 7, 2)),
            bn1: FoldableNorm::BatchNorm(source.batch_norm("bn1", &norm(64))),
            maxpool: MaxPool2dConfig::new([3, 3])
                .with_strides([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(),
            layer1,
            layer2,
            layer3,
            layer4,
            avgpool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
        }
    }

    /// # Shapes
    /// `[B, 3, H, W] → [B, 512]` (H, W ≥ 32)
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let x = conv_norm_act(&self.conv1, &self.bn1, images, None, Activation::Relu);
        let mut x = self.maxpool.forward(x);
        for block in self.layer1.iter().chain(&self.layer2).chain(&self.layer3).chain(&self.layer4) {
            x = block.forward(x);
        }
        self.avgpool.forward(x).flatten(1, 3)
    }

    /// The same network with every BatchNorm folded into its convolution: the same features
    /// with less work, for feature extraction with frozen weights.
    pub fn folded(&self) -> Self {
        let (conv1, bn1) = fold_pair(&self.conv1, &self.bn1);
        let fold_stage = |stage: &[BasicBlock]| stage.iter().map(BasicBlock::folded).collect();
        Self {
            conv1,
            bn1,
            maxpool: self.maxpool.clone(),
            layer1: fold_stage(&self.layer1),
            layer2: fold_stage(&self.layer2),
            layer3: fold_stage(&self.layer3),
            layer4: fold_stage(&self.layer4),
            avgpool: self.avgpool.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FreshInit;
    use burn::tensor::Device;

    #[test]
    fn features_are_512_wide_for_any_input_of_at_least_32() {
        let device = Device::flex();
        let backbone = ResNet18::build(&mut FreshInit::new(&device));
        for [h, w] in [[32, 32], [45, 64]] {
            let features = backbone.forward(Tensor::zeros([2, 3, h, w], &device));
            assert_eq!(features.dims(), [2, FEATURES]);
        }
    }

    #[test]
    fn has_torchvision_block_layout() {
        let backbone = ResNet18::build(&mut FreshInit::new(&Device::flex()));
        let stages = [&backbone.layer1, &backbone.layer2, &backbone.layer3, &backbone.layer4];
        assert!(stages.iter().all(|blocks| blocks.len() == 2));
        assert!(backbone.layer1[0].downsample.is_none());
        for stage in &stages[1..] {
            assert!(stage[0].downsample.is_some() && stage[1].downsample.is_none());
        }
        // torchvision's 11,176,512 backbone parameters (11,689,512 minus fc's 513,000), plus the
        // 9,600 BatchNorm running statistics, which Burn counts too.
        assert_eq!(backbone.num_params(), 11_176_512 + 9_600);
    }
}

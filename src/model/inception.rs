//! torchvision's Inception v3 without `fc`: a stem of five convolutions with two max-pools, then
//! eleven Inception blocks (`Mixed_5b` … `Mixed_7c`), each the concatenation of parallel branches
//! of convolutions, one of which starts with a pooling; then global average pooling to 2048
//! features. Every convolution is torchvision's `BasicConv2d`: convolution without bias,
//! BatchNorm (eps 0.001), ReLU, so folding merges every BatchNorm.
//!
//! The layout is data (`inception_layout.rs`) and the network follows it: the five kinds of
//! torchvision's blocks (`InceptionA` … `InceptionE`) differ only in their branches.
//!
//! torchvision's pretrained weights come with `transform_input=True`, which turns ImageNet-normalised
//! input into `(x − 0.5) / 0.5`; this version normalises that way directly
//! ([`crate::model::Architecture::preprocess`]), the same affine map. Their auxiliary classifier
//! (`AuxLogits`) only adds a loss term in torchvision's training; this version has none (as
//! `inception_v3(aux_logits=False)`), and the loader leaves its weights out.

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::MaxPool2dConfig;
use burn::nn::{BatchNormConfig, PaddingConfig2d};
use burn::tensor::Tensor;
use burn::tensor::module::adaptive_avg_pool2d;

use super::ParamSource;
use super::fold::{ConvNorm, FoldableNorm};
use super::inception_layout::{
    BranchPool, ConvSpec, INCEPTION_STAGE_STARTS, STEM, inception_v3_blocks, inception_v3_convs,
};
use crate::kernels::{Activation, conv2d_activation};

/// Width of the pooled features.
pub const INCEPTION_FEATURES: usize = 2048;

/// The smallest input side (torchvision's): `Mixed_7a` then sees a 3×3 map.
pub const INCEPTION_MIN_INPUT_SIDE: usize = 75;

/// torchvision's `BasicConv2d` under `key`: convolution without bias, BatchNorm (eps 0.001).
fn basic_conv(source: &mut impl ParamSource, key: &str, in_channels: usize, spec: &ConvSpec) -> ConvNorm {
    let [kh, kw] = spec.kernel;
    let [ph, pw] = if spec.padded { [kh / 2, kw / 2] } else { [0, 0] };
    let config = Conv2dConfig::new([in_channels, spec.out_channels], spec.kernel)
        .with_stride([spec.stride, spec.stride])
        .with_padding(PaddingConfig2d::Explicit(ph, pw, ph, pw))
        .with_bias(false);
    let norm = BatchNormConfig::new(spec.out_channels).with_epsilon(1e-3).with_momentum(0.1);
    ConvNorm {
        conv: source.conv2d(&format!("{key}.conv"), &config),
        bn: FoldableNorm::BatchNorm(source.batch_norm(&format!("{key}.bn"), &norm)),
    }
}

/// `F.avg_pool2d(x, 3, stride=1, padding=1)` with torchvision's `count_include_pad`: each output
/// is the sum of its 3×3 square (zeros in the padding) divided by 9. Computed as a depthwise
/// convolution with constant weights 1/9: the mobile networks' fused depthwise kernel on the CPU, a
/// grouped convolution elsewhere. A pooling kernel of its own (on the CPU, on WebGPU, and their
/// gradients) would add about 7 kB to the gzipped download.
fn average_3x3(x: Tensor<4>) -> Tensor<4> {
    let [_, channels, ..] = x.dims();
    let device = x.device();
    let mean = Conv2d {
        weight: Param::from_tensor(Tensor::full([channels, 1, 3, 3], 1.0 / 9.0, &device)).set_require_grad(false),
        bias: Some(Param::from_tensor(Tensor::zeros([channels], &device)).set_require_grad(false)),
        stride: [1, 1],
        kernel_size: [3, 3],
        dilation: [1, 1],
        groups: channels,
        padding: PaddingConfig2d::Explicit(1, 1, 1, 1),
    };
    conv2d_activation(&mean, None, x, None, Activation::Identity)
}

/// `F.max_pool2d(x, 3, stride=2)`, unpadded.
fn max_pool_3x3(x: Tensor<4>) -> Tensor<4> {
    MaxPool2dConfig::new([3, 3]).with_strides([2, 2]).init().forward(x)
}

/// torchvision's Inception v3 feature extractor. Its blocks' convolutions are one list laid out
/// by [`inception_v3_blocks`] (a module type per block and branch would cost download size).
///
/// # Shapes
/// - input: `[batch, 3, height, width]`, height and width ≥ 75, normalised to `(x − 0.5) / 0.5`
/// - output: `[batch, 2048]`, the globally average-pooled features
#[derive(Module, Debug)]
pub struct InceptionV3 {
    pub stem: Vec<ConvNorm>,
    /// The blocks' convolutions, in the order of [`inception_v3_convs`].
    pub convs: Vec<ConvNorm>,
}

impl InceptionV3 {
    /// Builds the network, taking each parameter from `source` under its torchvision key.
    pub fn build(source: &mut impl ParamSource) -> Self {
        let mut channels = 3;
        let stem = STEM
            .iter()
            .map(|(spec, _)| {
                let conv = basic_conv(source, spec.name, channels, spec);
                channels = spec.out_channels;
                conv
            })
            .collect();
        let convs = inception_v3_convs()
            .iter()
            .map(|conv| basic_conv(source, &conv.key, conv.in_channels, &conv.spec))
            .collect();
        Self { stem, convs }
    }

    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.forward_from(self.forward_until(images, 0), 0)
    }

    /// The stem and the first `blocks` blocks: the activations [`Self::forward_from`] takes.
    pub fn forward_until(&self, images: Tensor<4>, blocks: usize) -> Tensor<4> {
        let mut x = images;
        for (conv, (_, pool_after)) in self.stem.iter().zip(STEM) {
            x = conv.forward(x, None, Activation::Relu);
            if pool_after {
                x = max_pool_3x3(x);
            }
        }
        self.blocks(x, 0..blocks)
    }

    /// The blocks after the first `blocks`, and the pooling.
    pub fn forward_from(&self, x: Tensor<4>, blocks: usize) -> Tensor<2> {
        adaptive_avg_pool2d(self.blocks(x, blocks..usize::MAX), [1, 1]).flatten(1, 3)
    }

    /// The blocks `range` of [`inception_v3_blocks`].
    fn blocks(&self, mut x: Tensor<4>, range: std::ops::Range<usize>) -> Tensor<4> {
        let relu = |conv: &ConvNorm, x| conv.forward(x, None, Activation::Relu);
        let mut convs = self.convs.as_slice();
        for (index, block) in inception_v3_blocks().iter().enumerate() {
            let mut outputs = Vec::with_capacity(block.branches.len());
            for branch in &block.branches {
                let (row, rest) = convs.split_at(branch.convs.len());
                let (fork, rest) = rest.split_at(branch.fork.len());
                convs = rest;
                if !range.contains(&index) {
                    continue;
                }
                let mut y = match branch.pool {
                    BranchPool::None => x.clone(),
                    BranchPool::Average => average_3x3(x.clone()),
                    BranchPool::Max => max_pool_3x3(x.clone()),
                };
                for conv in row {
                    y = relu(conv, y);
                }
                match fork {
                    [] => outputs.push(y),
                    fork => outputs.extend(fork.iter().map(|conv| relu(conv, y.clone()))),
                }
            }
            if !outputs.is_empty() {
                x = Tensor::cat(outputs, 1);
            }
        }
        x
    }

    /// The same network with every BatchNorm folded into its convolution.
    pub fn folded(&self) -> Self {
        Self {
            stem: self.stem.iter().map(ConvNorm::folded).collect(),
            convs: self.convs.iter().map(ConvNorm::folded).collect(),
        }
    }

    /// The first block of each stage's in [`Self::convs`], as positions there.
    pub(super) fn stage_conv_starts() -> Vec<usize> {
        let convs = inception_v3_convs();
        INCEPTION_STAGE_STARTS
            .iter()
            .map(|&block| convs.iter().position(|conv| conv.block == block).unwrap_or(0))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FreshInit;
    use burn::tensor::{Device, Distribution, Int, TensorData};

    /// torchvision's inception_v3 without `fc` and `AuxLogits` (27,161,264 − 2,049,000 −
    /// 3,326,696 parameters), plus the BatchNorm running statistics, which Burn counts too.
    #[test]
    fn inception_v3_has_torchvision_sizes() {
        let device = Device::flex();
        let net = InceptionV3::build(&mut FreshInit::new(&device));
        // torchvision's 94 BasicConv2d outside AuxLogits: 5 in the stem, 89 in the blocks.
        assert_eq!((net.stem.len(), net.convs.len()), (5, 89));
        assert_eq!(net.num_params(), 27_161_264 - 2_049_000 - 3_326_696 + 2 * 17_216);
        let side = INCEPTION_MIN_INPUT_SIDE;
        assert_eq!(net.forward(Tensor::zeros([1, 3, side, side], &device)).dims(), [1, INCEPTION_FEATURES]);
        let convs = inception_v3_convs();
        let fork = convs.iter().find(|conv| conv.key == "Mixed_7b.branch3x3dbl_3b").expect("a forked convolution");
        assert_eq!((fork.block, fork.in_channels), (9, 384));
        assert_eq!(
            convs.last().map(|conv| (conv.key.as_str(), conv.in_channels)),
            Some(("Mixed_7c.branch_pool", 2048))
        );
        assert_eq!(InceptionV3::stage_conv_starts(), [0, 21, 45, 65]);
    }

    /// The poolings follow torchvision's: the average one counts the padding (a corner of a 3×3 map
    /// of ones averages four ones and five zeros); the max-pool is unpadded (5×5 → 2×2).
    #[test]
    fn poolings_match_torchvisions() {
        let device = Device::flex();
        let ones = Tensor::<4>::ones([1, 2, 3, 3], &device);
        let pooled = average_3x3(ones).into_data().try_to_vec::<f32>().unwrap();
        let expected = [4.0, 6.0, 4.0, 6.0, 9.0, 6.0, 4.0, 6.0, 4.0].map(|sum: f32| sum / 9.0);
        for (value, expected) in pooled.iter().zip(expected.iter().chain(&expected)) {
            assert!((value - expected).abs() < 1e-6, "{value} ≠ {expected}");
        }
        let x = Tensor::<1, Int>::arange(0..25, &device).float().reshape([1, 1, 5, 5]);
        assert_eq!(max_pool_3x3(x).into_data(), TensorData::from([[[[12.0f32, 14.0], [22.0, 24.0]]]]));
    }

    /// The average pooling trains: each input's gradient is the share of the 3×3 windows that
    /// contain it (a corner is in four windows, an edge in six, each weighing it 1/9).
    #[test]
    fn average_pooling_passes_gradients_back() {
        let device = Device::flex().autodiff();
        let x = Tensor::<4>::ones([1, 1, 3, 3], &device).require_grad();
        let grads = average_3x3(x.clone()).sum().backward();
        let grad = x.grad(&grads).expect("a gradient for the input").into_data().try_to_vec::<f32>().unwrap();
        let expected = [4.0, 6.0, 4.0, 6.0, 9.0, 6.0, 4.0, 6.0, 4.0].map(|windows: f32| windows / 9.0);
        for (value, expected) in grad.iter().zip(expected) {
            assert!((value - expected).abs() < 1e-6, "{value} ≠ {expected}");
        }
    }

    /// Folding merges every BatchNorm, 1×7 and 7×1 convolutions included, and keeps the features.
    #[test]
    fn folding_keeps_the_features() {
        let device = Device::flex();
        device.seed(3);
        let net = InceptionV3::build(&mut FreshInit::new(&device));
        let x = Tensor::<4>::random([1, 3, 80, 91], Distribution::Normal(0.0, 1.0), &device);
        let expected = net.forward(x.clone()).into_data();
        net.folded().forward(x).into_data().assert_approx_eq::<f32>(&expected, burn::tensor::Tolerance::absolute(1e-4));
    }
}

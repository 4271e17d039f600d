//! torchvision's plain convolutional networks, VGG (VGG11 with BatchNorm, VGG16) and AlexNet:
//! stages of convolutions (each with its BatchNorm where the variant has one) and ReLUs, a max-pool
//! after each stage, average pooling to a fixed grid, then the classifier's two hidden layers
//! (Linear 4096 + ReLU). Their output is the features; the head replaced is `classifier.6`.
//!
//! The classifier's Dropout layers are not applied, as for the other backbones: features are
//! extracted in evaluation mode; where the hidden layers train (the last stage), PyTorch would
//! drop half their inputs.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::Tensor;
use burn::tensor::activation::relu;

use super::ParamSource;
use super::fold::{FoldableNorm, conv_norm_act, fold_pair, prepare_bare_conv};
use crate::kernels::{Activation, conv2d_activation};

/// A convolution of a stage: output channels, square kernel, stride and padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlainConv {
    pub out_channels: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
}

/// The layout of a plain network.
#[derive(Debug)]
pub struct PlainSpec {
    /// The convolutions of each stage; a max-pool follows every stage.
    pub stages: &'static [&'static [PlainConv]],
    /// Side and stride of the max-pools.
    pub pool: [usize; 2],
    /// Whether a BatchNorm follows each convolution (VGG's `_bn` variants).
    pub batch_norm: bool,
    /// Side of the grid the last feature map is average-pooled to.
    pub grid: usize,
    /// Indices of the two hidden Linear layers in `classifier`.
    pub hidden: [usize; 2],
}

/// Width of the hidden layers, and so of the features.
pub const PLAIN_FEATURES: usize = 4096;

impl PlainSpec {
    /// The `features.{i}` indices of every convolution (and of its BatchNorm), in order: each
    /// convolution, BatchNorm, ReLU and max-pool takes one index of torchvision's Sequential.
    pub fn conv_keys(&self) -> Vec<(String, String)> {
        let mut index = 0;
        let mut keys = Vec::new();
        for stage in self.stages {
            for _ in stage.iter() {
                keys.push((format!("features.{index}"), format!("features.{}", index + 1)));
                index += if self.batch_norm { 3 } else { 2 };
            }
            index += 1;
        }
        keys
    }

    /// The keys of the two hidden Linear layers.
    pub fn hidden_keys(&self) -> [String; 2] {
        self.hidden.map(|index| format!("classifier.{index}"))
    }

    /// Where each stage's first convolution is in the flat list of convolutions.
    pub fn stage_starts(&self) -> Vec<usize> {
        self.stages.iter().scan(0, |start, stage| Some(std::mem::replace(start, *start + stage.len()))).collect()
    }

    pub fn build(&self, source: &mut impl ParamSource) -> PlainNet {
        let keys = self.conv_keys();
        let mut in_channels = 3;
        let mut convs = Vec::new();
        for layer in self.stages.iter().flat_map(|stage| stage.iter()) {
            let (conv_key, norm_key) = &keys[convs.len()];
            let config = Conv2dConfig::new([in_channels, layer.out_channels], [layer.kernel, layer.kernel])
                .with_stride([layer.stride, layer.stride])
                .with_padding(PaddingConfig2d::Explicit(layer.padding, layer.padding, layer.padding, layer.padding));
            let conv = source.conv2d(conv_key, &config);
            let norm = self.batch_norm.then(|| {
                // torchvision's BatchNorm2d defaults: eps 1e-5, momentum 0.1.
                let config = BatchNormConfig::new(layer.out_channels).with_epsilon(1e-5).with_momentum(0.1);
                FoldableNorm::BatchNorm(source.batch_norm(norm_key, &config))
            });
            convs.push(ConvRelu { conv, norm });
            in_channels = layer.out_channels;
        }
        let [first, second] = self.hidden_keys();
        let flat = in_channels * self.grid * self.grid;
        PlainNet {
            convs,
            pool: MaxPool2dConfig::new([self.pool[0], self.pool[0]]).with_strides([self.pool[1], self.pool[1]]).init(),
            avgpool: AdaptiveAvgPool2dConfig::new([self.grid, self.grid]).init(),
            hidden: vec![
                source.linear(&first, &LinearConfig::new(flat, PLAIN_FEATURES)),
                source.linear(&second, &LinearConfig::new(PLAIN_FEATURES, PLAIN_FEATURES)),
            ],
            stage_starts: self.stage_starts(),
        }
    }
}

/// A convolution with bias, its BatchNorm if the network has them, and a ReLU.
#[derive(Module, Debug)]
pub struct ConvRelu {
    pub conv: Conv2d,
    pub norm: Option<FoldableNorm>,
}

impl ConvRelu {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match &self.norm {
            Some(norm) => conv_norm_act(&self.conv, norm, x, None, Activation::Relu),
            None => conv2d_activation(&self.conv, None, x, None, Activation::Relu),
        }
    }

    /// BatchNorm folded in; on the CPU a 3×3 stride-1 convolution keeps Winograd's weights.
    fn folded(&self) -> Self {
        let (conv, norm) = match &self.norm {
            Some(norm) => fold_pair(&self.conv, norm),
            None => {
                let (conv, transformed) = prepare_bare_conv(&self.conv);
                (conv, FoldableNorm::Folded(transformed))
            }
        };
        Self { conv, norm: Some(norm) }
    }
}

/// VGG or AlexNet without its last Linear layer.
///
/// # Shapes
/// - input: `[batch, 3, height, width]` (at least 32×32 for VGG, 63×63 for AlexNet)
/// - output: `[batch, 4096]`
#[derive(Module, Debug)]
pub struct PlainNet {
    pub convs: Vec<ConvRelu>,
    pub pool: MaxPool2d,
    pub avgpool: AdaptiveAvgPool2d,
    pub hidden: Vec<Linear>,
    /// Where each stage starts in `convs`; a max-pool ends each stage.
    #[module(skip)]
    pub stage_starts: Vec<usize>,
}

impl PlainNet {
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.forward_from(self.forward_until(images, 0), 0)
    }

    /// The first `convs` convolutions, each stage's max-pool included: the activations
    /// [`Self::forward_from`] takes.
    pub fn forward_until(&self, images: Tensor<4>, convs: usize) -> Tensor<4> {
        self.convolutions(images, 0..convs)
    }

    /// The convolutions after the first `convs`, the pooling and the hidden layers.
    pub fn forward_from(&self, x: Tensor<4>, convs: usize) -> Tensor<2> {
        let x = self.convolutions(x, convs..self.convs.len());
        let mut features = self.avgpool.forward(x).flatten(1, 3);
        for linear in &self.hidden {
            features = relu(linear.forward(features));
        }
        features
    }

    /// The convolutions `range`, each followed by the max-pool where a stage ends.
    fn convolutions(&self, mut x: Tensor<4>, range: std::ops::Range<usize>) -> Tensor<4> {
        for (index, conv) in self.convs.iter().enumerate().take(range.end).skip(range.start) {
            x = conv.forward(x);
            if self.stage_starts.contains(&(index + 1)) || index + 1 == self.convs.len() {
                x = self.pool.forward(x);
            }
        }
        x
    }

    /// The same network with every BatchNorm folded into its convolution, for feature extraction.
    pub fn folded(&self) -> Self {
        Self {
            convs: self.convs.iter().map(ConvRelu::folded).collect(),
            pool: self.pool.clone(),
            avgpool: self.avgpool.clone(),
            hidden: self.hidden.clone(),
            stage_starts: self.stage_starts.clone(),
        }
    }
}

/// A VGG convolution: 3×3, stride 1, padding 1.
const fn vgg(out_channels: usize) -> PlainConv {
    PlainConv { out_channels, kernel: 3, stride: 1, padding: 1 }
}

/// torchvision's `vgg11_bn` (configuration "A" with BatchNorm).
pub const VGG11_BN: PlainSpec = PlainSpec {
    stages: &[&[vgg(64)], &[vgg(128)], &[vgg(256), vgg(256)], &[vgg(512), vgg(512)], &[vgg(512), vgg(512)]],
    pool: [2, 2],
    batch_norm: true,
    grid: 7,
    hidden: [0, 3],
};

/// torchvision's `vgg16` (configuration "D", no BatchNorm).
pub const VGG16: PlainSpec = PlainSpec {
    stages: &[
        &[vgg(64), vgg(64)],
        &[vgg(128), vgg(128)],
        &[vgg(256), vgg(256), vgg(256)],
        &[vgg(512), vgg(512), vgg(512)],
        &[vgg(512), vgg(512), vgg(512)],
    ],
    pool: [2, 2],
    batch_norm: false,
    grid: 7,
    hidden: [0, 3],
};

/// torchvision's `alexnet` (the "one weird trick" variant: 64, 192, 384, 256, 256 channels);
/// `classifier = Sequential(Dropout, Linear, ReLU, Dropout, Linear, ReLU, Linear)`.
pub const ALEXNET: PlainSpec = PlainSpec {
    stages: &[
        &[PlainConv { out_channels: 64, kernel: 11, stride: 4, padding: 2 }],
        &[PlainConv { out_channels: 192, kernel: 5, stride: 1, padding: 2 }],
        &[
            PlainConv { out_channels: 384, kernel: 3, stride: 1, padding: 1 },
            PlainConv { out_channels: 256, kernel: 3, stride: 1, padding: 1 },
            PlainConv { out_channels: 256, kernel: 3, stride: 1, padding: 1 },
        ],
    ],
    pool: [3, 2],
    batch_norm: false,
    grid: 6,
    hidden: [1, 4],
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_count_every_layer_of_torchvisions_sequential() {
        let vgg11 = VGG11_BN.conv_keys();
        assert_eq!(vgg11[0], ("features.0".into(), "features.1".into()));
        assert_eq!(vgg11[1].0, "features.4");
        assert_eq!(vgg11.last().map(|k| k.1.as_str()), Some("features.26"));
        assert_eq!(VGG16.conv_keys().last().map(|k| k.0.as_str()), Some("features.28"));
        let alexnet: Vec<String> = ALEXNET.conv_keys().into_iter().map(|k| k.0).collect();
        assert_eq!(alexnet, ["features.0", "features.3", "features.6", "features.8", "features.10"]);
        assert_eq!(ALEXNET.hidden_keys(), ["classifier.1", "classifier.4"]);
        assert_eq!(VGG16.stage_starts(), [0, 2, 4, 7, 10]);
    }
}

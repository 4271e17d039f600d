//! Each family's forward pass as ONNX ops, step for step as `model/` computes it: the model's
//! own modules and specs are read, so a network exports as it was built. BatchNorms are written as
//! `BatchNormalization` nodes (the runtimes fold them on loading); an already folded convolution
//! as the convolution with its bias.

use burn::nn::conv::Conv2d;

use super::graph::{Graph, Value};
use crate::kernels::Activation;
use crate::model::{Backbone, ResidualBlock};
use crate::model::{
    BasicBlock, Bottleneck, BranchPool, ConvNorm, DenseNet, FoldableNorm, Gate, INCEPTION_STEM, ImageClassifier,
    InceptionV3, InvertedResidual, InvertedResidualNet, PlainNet, ResNet, SqueezeExcite, inception_v3_blocks,
};

/// Logits of `model` for `images`.
pub fn classifier(graph: &mut Graph, model: &ImageClassifier, images: &Value) -> Value {
    let features = backbone(graph, &model.backbone, images);
    graph.linear(&features, &model.fc)
}

fn backbone(graph: &mut Graph, backbone: &Backbone, images: &Value) -> Value {
    match backbone {
        Backbone::ResNet18(net) | Backbone::ResNet34(net) => resnet(graph, net, images),
        Backbone::ResNet50(net) => resnet(graph, net, images),
        Backbone::MobileNetV2(net)
        | Backbone::MobileNetV3Small(net)
        | Backbone::MobileNetV3Large(net)
        | Backbone::EfficientNetLite0(net)
        | Backbone::EfficientNetB0(net) => inverted_residual_net(graph, net, images),
        Backbone::Vgg11Bn(net) | Backbone::Vgg16(net) | Backbone::AlexNet(net) => plain(graph, net, images),
        Backbone::DenseNet121(net) => densenet(graph, net, images),
        Backbone::InceptionV3(net) => inception(graph, net, images),
    }
}

/// `activation(bn(conv(x)) + residual)`, as [`crate::model::ConvNorm::forward`].
fn conv_norm_act(
    graph: &mut Graph,
    conv: &Conv2d,
    norm: &FoldableNorm,
    x: &Value,
    residual: Option<&Value>,
    activation: Activation,
) -> Value {
    let y = graph.conv(x, conv);
    let y = match norm.batch_norm() {
        Some(bn) => graph.batch_norm(&y, bn),
        None => y,
    };
    let y = match residual {
        Some(residual) => graph.add(&y, residual),
        None => y,
    };
    graph.activation(y, activation)
}

fn conv_norm(
    graph: &mut Graph,
    layer: &ConvNorm,
    x: &Value,
    residual: Option<&Value>,
    activation: Activation,
) -> Value {
    conv_norm_act(graph, &layer.conv, &layer.bn, x, residual, activation)
}

/// A ResNet block as ONNX ops.
trait BlockGraph: ResidualBlock {
    fn graph(&self, graph: &mut Graph, x: &Value) -> Value;
}

fn identity(graph: &mut Graph, downsample: &Option<ConvNorm>, x: &Value) -> Value {
    match downsample {
        Some(down) => conv_norm(graph, down, x, None, Activation::Identity),
        None => x.clone(),
    }
}

impl BlockGraph for BasicBlock {
    fn graph(&self, graph: &mut Graph, x: &Value) -> Value {
        let identity = identity(graph, &self.downsample, x);
        let y = conv_norm_act(graph, &self.conv1, &self.bn1, x, None, Activation::Relu);
        conv_norm_act(graph, &self.conv2, &self.bn2, &y, Some(&identity), Activation::Relu)
    }
}

impl BlockGraph for Bottleneck {
    fn graph(&self, graph: &mut Graph, x: &Value) -> Value {
        let identity = identity(graph, &self.downsample, x);
        let y = conv_norm_act(graph, &self.conv1, &self.bn1, x, None, Activation::Relu);
        let y = conv_norm_act(graph, &self.conv2, &self.bn2, &y, None, Activation::Relu);
        conv_norm_act(graph, &self.conv3, &self.bn3, &y, Some(&identity), Activation::Relu)
    }
}

fn resnet<B: BlockGraph>(graph: &mut Graph, net: &ResNet<B>, images: &Value) -> Value {
    let x = conv_norm_act(graph, &net.conv1, &net.bn1, images, None, Activation::Relu);
    let mut x = graph.max_pool(&x, &net.maxpool);
    for block in net.stages().into_iter().flatten() {
        x = block.graph(graph, &x);
    }
    let pooled = graph.adaptive_average_pool(&x, net.avgpool.output_size);
    graph.flatten(&pooled)
}

fn squeeze_excite(graph: &mut Graph, se: &SqueezeExcite, x: &Value) -> Value {
    let means = graph.adaptive_average_pool(x, [1, 1]);
    let squeezed = graph.conv(&means, &se.fc1);
    let squeezed = graph.activation(squeezed, se.activation);
    let excitation = graph.conv(&squeezed, &se.fc2);
    let gate = match se.gate {
        Gate::Hardsigmoid => graph.hard_sigmoid(&excitation, 1.0 / 6.0, 0.5),
        Gate::Sigmoid => graph.sigmoid(&excitation),
    };
    graph.mul(x, &gate)
}

fn inverted_residual(graph: &mut Graph, block: &InvertedResidual, input: &Value) -> Value {
    let x = match &block.expand {
        Some(expand) => conv_norm(graph, expand, input, None, block.activation),
        None => input.clone(),
    };
    let x = conv_norm(graph, &block.depthwise, &x, None, block.activation);
    let x = match &block.squeeze_excite {
        Some(se) => squeeze_excite(graph, se, &x),
        None => x,
    };
    conv_norm(graph, &block.project, &x, block.residual.then_some(input), Activation::Identity)
}

fn inverted_residual_net(graph: &mut Graph, net: &InvertedResidualNet, images: &Value) -> Value {
    let mut x = conv_norm(graph, &net.stem, images, None, net.stem_activation);
    for block in &net.blocks {
        x = inverted_residual(graph, block, &x);
    }
    let x = conv_norm(graph, &net.head, &x, None, net.head_activation);
    let pooled = graph.adaptive_average_pool(&x, net.avgpool.output_size);
    let features = graph.flatten(&pooled);
    match &net.hidden {
        Some(hidden) => {
            let hidden = graph.linear(&features, hidden);
            graph.activation(hidden, Activation::Hardswish)
        }
        None => features,
    }
}

fn plain(graph: &mut Graph, net: &PlainNet, images: &Value) -> Value {
    let mut x = images.clone();
    for (index, layer) in net.convs.iter().enumerate() {
        x = match &layer.norm {
            Some(norm) => conv_norm_act(graph, &layer.conv, norm, &x, None, Activation::Relu),
            None => {
                let y = graph.conv(&x, &layer.conv);
                graph.activation(y, Activation::Relu)
            }
        };
        if net.stage_starts.contains(&(index + 1)) || index + 1 == net.convs.len() {
            x = graph.max_pool(&x, &net.pool);
        }
    }
    let pooled = graph.adaptive_average_pool(&x, net.avgpool.output_size);
    let mut features = graph.flatten(&pooled);
    for linear in &net.hidden {
        let hidden = graph.linear(&features, linear);
        features = graph.activation(hidden, Activation::Relu);
    }
    features
}

fn densenet(graph: &mut Graph, net: &DenseNet, images: &Value) -> Value {
    let x = conv_norm_act(graph, &net.conv0, &net.norm0, images, None, Activation::Relu);
    let mut x = graph.max_pool(&x, &net.pool0);
    for block in 0..net.block_starts.len() {
        for layer in net.block(block) {
            let y = graph.batch_norm(&x, &layer.norm1);
            let y = graph.activation(y, Activation::Relu);
            let y = conv_norm_act(graph, &layer.conv1, &layer.norm2, &y, None, Activation::Relu);
            let new = graph.conv(&y, &layer.conv2);
            x = graph.concat(&[x, new]);
        }
        if let Some(transition) = net.transitions.get(block) {
            let y = graph.batch_norm(&x, &transition.norm);
            let y = graph.activation(y, Activation::Relu);
            let y = graph.conv(&y, &transition.conv);
            // torchvision's AvgPool2d(2, stride=2): an odd last row or column left out.
            x = graph.average_pool(&y, 2, 2, 0);
        }
    }
    let x = graph.batch_norm(&x, &net.norm5);
    let x = graph.activation(x, Activation::Relu);
    let pooled = graph.adaptive_average_pool(&x, net.avgpool.output_size);
    graph.flatten(&pooled)
}

/// torchvision's unpadded `F.max_pool2d(x, 3, stride=2)`.
fn max_pool_3x3(graph: &mut Graph, x: &Value) -> Value {
    let pool = burn::nn::pool::MaxPool2dConfig::new([3, 3]).with_strides([2, 2]).init();
    graph.max_pool(x, &pool)
}

fn inception(graph: &mut Graph, net: &InceptionV3, images: &Value) -> Value {
    let mut x = images.clone();
    for (conv, (_, pool_after)) in net.stem.iter().zip(INCEPTION_STEM) {
        x = conv_norm(graph, conv, &x, None, Activation::Relu);
        if pool_after {
            x = max_pool_3x3(graph, &x);
        }
    }
    let mut convs = net.convs.as_slice();
    for block in inception_v3_blocks() {
        let mut outputs = Vec::with_capacity(block.branches.len());
        for branch in &block.branches {
            let (row, rest) = convs.split_at(branch.convs.len());
            let (fork, rest) = rest.split_at(branch.fork.len());
            convs = rest;
            let mut y = match branch.pool {
                BranchPool::None => x.clone(),
                BranchPool::Average => graph.average_pool(&x, 3, 1, 1),
                BranchPool::Max => max_pool_3x3(graph, &x),
            };
            for conv in row {
                y = conv_norm(graph, conv, &y, None, Activation::Relu);
            }
            match fork {
                [] => outputs.push(y),
                fork => outputs.extend(fork.iter().map(|conv| conv_norm(graph, conv, &y, None, Activation::Relu))),
            }
        }
        x = graph.concat(&outputs);
    }
    let pooled = graph.adaptive_average_pool(&x, [1, 1]);
    graph.flatten(&pooled)
}

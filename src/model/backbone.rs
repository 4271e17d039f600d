//! The backbone is a choice: torchvision's ResNet18, ResNet34, ResNet50, MobileNetV2,
//! MobileNetV3-Small or -Large, EfficientNet-B0, VGG11-BN, VGG16, AlexNet, DenseNet121 or Inception v3,
//! or EfficientNet-Lite0 (see [`Architecture`]).
//! Everything after the pooled features (heads, strategies, training, the page) is the same for all.

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::tensor::Tensor;

use super::architecture::Architecture;
use super::densenet::DenseNet;
use super::inception::InceptionV3;
use super::plain::PlainNet;
use super::resnet::{BasicBlock, Bottleneck, ResNet};
use super::{
    EFFICIENTNET_B0, EFFICIENTNET_LITE0, InvertedResidualNet, InvertedResidualSpec, MOBILENET_V2, MOBILENET_V3_LARGE,
    MOBILENET_V3_SMALL,
};

/// # Shapes
/// `[batch, 3, H, W] → [batch, features]`
// A model holds one backbone, built once: the size difference between variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Backbone {
    ResNet18(ResNet<BasicBlock>),
    ResNet34(ResNet<BasicBlock>),
    ResNet50(ResNet<Bottleneck>),
    MobileNetV2(InvertedResidualNet),
    MobileNetV3Small(InvertedResidualNet),
    MobileNetV3Large(InvertedResidualNet),
    EfficientNetLite0(InvertedResidualNet),
    EfficientNetB0(InvertedResidualNet),
    Vgg11Bn(PlainNet),
    Vgg16(PlainNet),
    AlexNet(PlainNet),
    DenseNet121(DenseNet),
    InceptionV3(InceptionV3),
}

/// The ids of a module's trainable (float) parameters, as the optimiser knows them.
pub fn param_ids(module: &impl Module) -> Vec<ParamId> {
    struct Collector(Vec<ParamId>);
    impl ModuleVisitor for Collector {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.push(param.id);
        }
    }
    let mut collector = Collector(Vec::new());
    module.visit(&mut collector);
    collector.0
}

impl Backbone {
    pub fn architecture(&self) -> Architecture {
        match self {
            Backbone::ResNet18(_) => Architecture::ResNet18,
            Backbone::ResNet34(_) => Architecture::ResNet34,
            Backbone::ResNet50(_) => Architecture::ResNet50,
            Backbone::MobileNetV2(_) => Architecture::MobileNetV2,
            Backbone::MobileNetV3Small(_) => Architecture::MobileNetV3Small,
            Backbone::MobileNetV3Large(_) => Architecture::MobileNetV3Large,
            Backbone::EfficientNetLite0(_) => Architecture::EfficientNetLite0,
            Backbone::EfficientNetB0(_) => Architecture::EfficientNetB0,
            Backbone::Vgg11Bn(_) => Architecture::Vgg11Bn,
            Backbone::Vgg16(_) => Architecture::Vgg16,
            Backbone::AlexNet(_) => Architecture::AlexNet,
            Backbone::DenseNet121(_) => Architecture::DenseNet121,
            Backbone::InceptionV3(_) => Architecture::InceptionV3,
        }
    }

    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        match self {
            Backbone::ResNet18(net) | Backbone::ResNet34(net) => net.forward(images),
            Backbone::ResNet50(net) => net.forward(images),
            Backbone::MobileNetV2(net)
            | Backbone::MobileNetV3Small(net)
            | Backbone::MobileNetV3Large(net)
            | Backbone::EfficientNetLite0(net)
            | Backbone::EfficientNetB0(net) => net.forward(images),
            Backbone::Vgg11Bn(net) | Backbone::Vgg16(net) | Backbone::AlexNet(net) => net.forward(images),
            Backbone::DenseNet121(net) => net.forward(images),
            Backbone::InceptionV3(net) => net.forward(images),
        }
    }

    /// The same backbone with its BatchNorms folded into the convolutions (see [`super::fold`]):
    /// for extracting features with frozen weights; it cannot be trained or exported.
    pub fn folded(&self) -> Self {
        match self {
            Backbone::ResNet18(net) => Backbone::ResNet18(net.folded()),
            Backbone::ResNet34(net) => Backbone::ResNet34(net.folded()),
            Backbone::ResNet50(net) => Backbone::ResNet50(net.folded()),
            Backbone::MobileNetV2(net) => Backbone::MobileNetV2(net.folded()),
            Backbone::MobileNetV3Small(net) => Backbone::MobileNetV3Small(net.folded()),
            Backbone::MobileNetV3Large(net) => Backbone::MobileNetV3Large(net.folded()),
            Backbone::EfficientNetLite0(net) => Backbone::EfficientNetLite0(net.folded()),
            Backbone::EfficientNetB0(net) => Backbone::EfficientNetB0(net.folded()),
            Backbone::Vgg11Bn(net) => Backbone::Vgg11Bn(net.folded()),
            Backbone::Vgg16(net) => Backbone::Vgg16(net.folded()),
            Backbone::AlexNet(net) => Backbone::AlexNet(net.folded()),
            Backbone::DenseNet121(net) => Backbone::DenseNet121(net.folded()),
            Backbone::InceptionV3(net) => Backbone::InceptionV3(net.folded()),
        }
    }

    /// The parameters of each of the last `stages` stages, the last stage first, as
    /// [`Backbone::freeze_early_stages`] counts them: for learning rates that fall with depth.
    pub fn stage_params(&self, stages: usize) -> Vec<Vec<ParamId>> {
        match self {
            Backbone::ResNet18(net) | Backbone::ResNet34(net) => net.last_stages_params(stages),
            Backbone::ResNet50(net) => net.last_stages_params(stages),
            Backbone::MobileNetV2(net)
            | Backbone::MobileNetV3Small(net)
            | Backbone::MobileNetV3Large(net)
            | Backbone::EfficientNetLite0(net)
            | Backbone::EfficientNetB0(net) => {
                let Some(spec) = self.architecture().inverted_residual_spec() else { return Vec::new() };
                let starts = spec.stage_starts();
                (0..stages.min(starts.len()))
                    .map(|i| {
                        let first = starts[starts.len() - 1 - i];
                        let end = if i == 0 { net.blocks.len() } else { starts[starts.len() - i] };
                        let mut group = net.blocks[first..end].iter().flat_map(param_ids).collect::<Vec<_>>();
                        // The final 1×1 convolution (and MobileNetV3's linear layer) trains with the last stage.
                        if i == 0 {
                            group.extend(param_ids(&net.head));
                            group.extend(net.hidden.iter().flat_map(param_ids));
                        }
                        group
                    })
                    .collect()
            }
            Backbone::Vgg11Bn(net) | Backbone::Vgg16(net) | Backbone::AlexNet(net) => {
                let count = net.stage_starts.len();
                (0..stages.min(count))
                    .map(|i| {
                        let mut group = net.stage(count - 1 - i).iter().flat_map(param_ids).collect::<Vec<_>>();
                        // The hidden layers train with the last stage.
                        if i == 0 {
                            group.extend(net.hidden.iter().flat_map(param_ids));
                        }
                        group
                    })
                    .collect()
            }
            Backbone::DenseNet121(net) => net.last_stages_params(stages),
            Backbone::InceptionV3(net) => net.last_stages_params(stages),
        }
    }

    /// Freezes (no gradients, BatchNorm in evaluation mode) all but the last `trained_stages`
    /// stages: the ResNets' layer1–layer4, the seven block groups of MobileNetV2 and EfficientNet
    /// (their final 1×1 convolution trains with the last stage), the convolution stages of VGG and
    /// AlexNet (their hidden layers train with the last), DenseNet's dense blocks with the transition
    /// after each (its last BatchNorm trains with the last), Inception v3's four groups of blocks. The
    /// stem is always frozen.
    pub fn freeze_early_stages(self, trained_stages: usize) -> Self {
        let freeze_mobile = |net: InvertedResidualNet, spec: &InvertedResidualSpec| {
            let starts = spec.stage_starts();
            let first_trained = starts[starts.len().saturating_sub(trained_stages.max(1))];
            net.freeze_before(first_trained, trained_stages == 0)
        };
        let freeze_plain = |net: PlainNet| {
            let first_trained = net.stage_starts.len().saturating_sub(trained_stages.max(1));
            net.freeze_before(first_trained, trained_stages == 0)
        };
        match self {
            Backbone::ResNet18(net) => Backbone::ResNet18(net.freeze_early_stages(trained_stages)),
            Backbone::ResNet34(net) => Backbone::ResNet34(net.freeze_early_stages(trained_stages)),
            Backbone::ResNet50(net) => Backbone::ResNet50(net.freeze_early_stages(trained_stages)),
            Backbone::MobileNetV2(net) => Backbone::MobileNetV2(freeze_mobile(net, &MOBILENET_V2)),
            Backbone::MobileNetV3Small(net) => Backbone::MobileNetV3Small(freeze_mobile(net, &MOBILENET_V3_SMALL)),
            Backbone::MobileNetV3Large(net) => Backbone::MobileNetV3Large(freeze_mobile(net, &MOBILENET_V3_LARGE)),
            Backbone::EfficientNetLite0(net) => Backbone::EfficientNetLite0(freeze_mobile(net, &EFFICIENTNET_LITE0)),
            Backbone::EfficientNetB0(net) => Backbone::EfficientNetB0(freeze_mobile(net, &EFFICIENTNET_B0)),
            Backbone::Vgg11Bn(net) => Backbone::Vgg11Bn(freeze_plain(net)),
            Backbone::Vgg16(net) => Backbone::Vgg16(freeze_plain(net)),
            Backbone::AlexNet(net) => Backbone::AlexNet(freeze_plain(net)),
            Backbone::DenseNet121(net) => Backbone::DenseNet121(net.freeze_early_stages(trained_stages)),
            Backbone::InceptionV3(net) => Backbone::InceptionV3(net.freeze_early_stages(trained_stages)),
        }
    }
}

//! The backbone is a choice: torchvision's ResNet18, ResNet34, ResNet50, MobileNetV2,
//! MobileNetV3-Small or -Large, EfficientNet-B0, VGG11-BN, VGG16, AlexNet, DenseNet121 or Inception v3,
//! or EfficientNet-Lite0 (see [`Architecture`]).
//! Everything after the pooled features (heads, strategies, training, the page) is the same for all.

use burn::module::{Module, ParamGroup, ParamId};
use burn::tensor::Tensor;

use super::InvertedResidualNet;
use super::architecture::Architecture;
use super::densenet::DenseNet;
use super::inception::InceptionV3;
use super::inception_layout::{INCEPTION_STAGE_STARTS, inception_v3_blocks};
use super::params::find_params;
use super::plain::PlainNet;
use super::resnet::{BasicBlock, Bottleneck, ResNet};

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

    /// The stem and the first `stages` stages, as [`Backbone::freeze_early_stages`] counts them:
    /// what a run that trains only the later stages can compute without autodiff, folded.
    ///
    /// # Shapes
    /// `[batch, 3, H, W] → [batch, channels, h, w]`, the activations [`Backbone::forward_from`] takes
    pub fn forward_until(&self, images: Tensor<4>, stages: usize) -> Tensor<4> {
        let at = self.stage_start(stages);
        match self {
            Backbone::ResNet18(net) | Backbone::ResNet34(net) => net.forward_until(images, at),
            Backbone::ResNet50(net) => net.forward_until(images, at),
            Backbone::MobileNetV2(net)
            | Backbone::MobileNetV3Small(net)
            | Backbone::MobileNetV3Large(net)
            | Backbone::EfficientNetLite0(net)
            | Backbone::EfficientNetB0(net) => net.forward_until(images, at),
            Backbone::Vgg11Bn(net) | Backbone::Vgg16(net) | Backbone::AlexNet(net) => net.forward_until(images, at),
            Backbone::DenseNet121(net) => net.forward_until(images, at),
            Backbone::InceptionV3(net) => net.forward_until(images, at),
        }
    }

    /// The stages after the first `stages` and what follows them, on [`Backbone::forward_until`]'s
    /// activations: `forward_from(forward_until(x, k), k)` is `forward(x)` for every `k`.
    ///
    /// # Shapes
    /// `[batch, channels, h, w] → [batch, features]`
    pub fn forward_from(&self, x: Tensor<4>, stages: usize) -> Tensor<2> {
        let at = self.stage_start(stages);
        match self {
            Backbone::ResNet18(net) | Backbone::ResNet34(net) => net.forward_from(x, at),
            Backbone::ResNet50(net) => net.forward_from(x, at),
            Backbone::MobileNetV2(net)
            | Backbone::MobileNetV3Small(net)
            | Backbone::MobileNetV3Large(net)
            | Backbone::EfficientNetLite0(net)
            | Backbone::EfficientNetB0(net) => net.forward_from(x, at),
            Backbone::Vgg11Bn(net) | Backbone::Vgg16(net) | Backbone::AlexNet(net) => net.forward_from(x, at),
            Backbone::DenseNet121(net) => net.forward_from(x, at),
            Backbone::InceptionV3(net) => net.forward_from(x, at),
        }
    }

    /// The number of stages [`Backbone::freeze_early_stages`] counts.
    pub fn stage_count(&self) -> usize {
        self.param_stages().0
    }

    /// Where stage `stage` starts, in what the family's forward passes count: the ResNets' layers,
    /// the inverted-residual blocks, VGG's and AlexNet's convolutions, DenseNet's dense blocks,
    /// Inception's blocks (past the last stage: their end).
    fn stage_start(&self, stage: usize) -> usize {
        let start_in = |starts: &[usize], end: usize| starts.get(stage).copied().unwrap_or(end);
        match self {
            Backbone::ResNet18(_) | Backbone::ResNet34(_) | Backbone::ResNet50(_) => stage.min(4),
            Backbone::MobileNetV2(net)
            | Backbone::MobileNetV3Small(net)
            | Backbone::MobileNetV3Large(net)
            | Backbone::EfficientNetLite0(net)
            | Backbone::EfficientNetB0(net) => {
                let starts = self.architecture().inverted_residual_spec().map(|spec| spec.stage_starts());
                start_in(&starts.unwrap_or_default(), net.blocks.len())
            }
            Backbone::Vgg11Bn(net) | Backbone::Vgg16(net) | Backbone::AlexNet(net) => {
                start_in(&net.stage_starts, net.convs.len())
            }
            Backbone::DenseNet121(net) => stage.min(net.block_starts.len()),
            Backbone::InceptionV3(_) => start_in(&INCEPTION_STAGE_STARTS, inception_v3_blocks().len()),
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

    /// The float parameters of each of the last `stages` stages, the last stage first, as
    /// [`Backbone::freeze_early_stages`] counts them: for learning rates that fall with depth.
    pub fn stage_params(&self, stages: usize) -> Vec<Vec<ParamId>> {
        let (count, params) = self.param_stages();
        let mut groups = vec![Vec::new(); stages.min(count)];
        for param in params.into_iter().filter(|param| param.is_float) {
            let from_top = param.stage.and_then(|stage| count.checked_sub(stage + 1));
            if let Some(group) = from_top.and_then(|from_top| groups.get_mut(from_top)) {
                group.push(param.id);
            }
        }
        groups
    }

    /// Freezes (no gradients, BatchNorm in evaluation mode) all but the last `trained_stages`
    /// stages: the ResNets' layer1–layer4, the seven block groups of MobileNetV2 and EfficientNet
    /// (their final 1×1 convolution trains with the last stage), the convolution stages of VGG and
    /// AlexNet (their hidden layers train with the last), DenseNet's dense blocks with the transition
    /// after each (its last BatchNorm trains with the last), Inception v3's four groups of blocks. The
    /// stem is always frozen.
    pub fn freeze_early_stages(self, trained_stages: usize) -> Self {
        let (count, params) = self.param_stages();
        let first_trained = count.saturating_sub(trained_stages);
        let frozen = params.into_iter().filter(|param| param.stage.is_none_or(|stage| stage < first_trained));
        self.freeze_group(ParamGroup::from_ids(frozen.map(|param| param.id).collect()))
    }

    /// The number of stages, and the stage of each parameter (training flags included). Stages
    /// are read from where a parameter sits: its first field and list position.
    fn param_stages(&self) -> (usize, Vec<StagedParam>) {
        type StageOf<'a> = Box<dyn Fn(&str, Option<usize>) -> Option<usize> + 'a>;
        // Stages that start at `starts` in the list `list`; the fields in `with_last` train with the last.
        let listed = |list: &'static str, starts: Vec<usize>, with_last: &'static [&'static str]| -> (usize, StageOf) {
            let (count, last) = (starts.len(), starts.len().checked_sub(1));
            let stage_of = move |field: &str, position: Option<usize>| match (field, position) {
                (_, Some(position)) if field == list => {
                    starts.partition_point(|&start| start <= position).checked_sub(1)
                }
                _ if with_last.contains(&field) => last,
                _ => None,
            };
            (count, Box::new(stage_of))
        };
        let (count, stage_of): (usize, StageOf) = match self {
            Backbone::ResNet18(_) | Backbone::ResNet34(_) | Backbone::ResNet50(_) => (
                4,
                Box::new(|field, _| ["layer1", "layer2", "layer3", "layer4"].iter().position(|&layer| layer == field)),
            ),
            Backbone::MobileNetV2(_)
            | Backbone::MobileNetV3Small(_)
            | Backbone::MobileNetV3Large(_)
            | Backbone::EfficientNetLite0(_)
            | Backbone::EfficientNetB0(_) => {
                let starts = self.architecture().inverted_residual_spec().map(|spec| spec.stage_starts());
                listed("blocks", starts.unwrap_or_default(), &["head", "hidden"])
            }
            Backbone::Vgg11Bn(net) | Backbone::Vgg16(net) | Backbone::AlexNet(net) => {
                listed("convs", net.stage_starts.clone(), &["hidden"])
            }
            Backbone::DenseNet121(net) => {
                let (count, layer_stage) = listed("layers", net.block_starts.clone(), &["norm5"]);
                // Each transition trains with the block before it.
                let stage_of = move |field: &str, position: Option<usize>| match field {
                    "transitions" => position,
                    _ => layer_stage(field, position),
                };
                (count, Box::new(stage_of))
            }
            Backbone::InceptionV3(_) => listed("convs", InceptionV3::stage_conv_starts(), &[]),
        };
        let params = find_params(self, false)
            .into_iter()
            .map(|param| {
                let field = param.path.first().map_or("", String::as_str);
                let position = param.path.get(1).and_then(|position| position.parse().ok());
                StagedParam { id: param.id, stage: stage_of(field, position), is_float: param.shape.is_some() }
            })
            .collect();
        (count, params)
    }
}

/// A parameter of a backbone, as [`Backbone::param_stages`] places it.
struct StagedParam {
    id: ParamId,
    /// The stage that trains it, counted from the first; `None` for the stem, always frozen.
    stage: Option<usize>,
    /// A float tensor rather than a training flag.
    is_float: bool,
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use burn::optim::GradientsParams;
    use burn::tensor::{Device, Distribution, Tolerance};

    use super::*;
    use crate::model::FreshInit;

    /// The ids of the float tensors that get gradients.
    fn trainable(backbone: &Backbone) -> HashSet<ParamId> {
        find_params(backbone, false).into_iter().filter(|param| param.trainable).map(|param| param.id).collect()
    }

    /// How many numbers the optimiser updates.
    fn trainable_size(backbone: &Backbone) -> usize {
        let trainable = find_params(backbone, false).into_iter().filter(|param| param.trainable);
        trainable.map(|param| param.shape.map_or(0, |shape| shape.iter().product::<usize>())).sum()
    }

    /// Split at any stage, the forward pass computes the whole pass's features; and the part after
    /// the split holds every parameter that freezing the stages before it leaves trainable, so
    /// that training can run the frozen part outside the training graph.
    #[test]
    fn the_forward_pass_splits_at_every_stage_with_the_trained_part_after_it() {
        let device = Device::flex();
        device.seed(5);
        for (architecture, side) in [
            (Architecture::ResNet18, 32),
            (Architecture::MobileNetV3Small, 32),
            (Architecture::AlexNet, 63),
            (Architecture::DenseNet121, 32),
            (Architecture::InceptionV3, 75),
        ] {
            let backbone = architecture.build(&mut FreshInit::new(&device)).fork(&device.clone().autodiff()).train();
            let images = Tensor::<4>::random([2, 3, side, side], Distribution::Normal(0.0, 1.0), &device);
            let evaluated = backbone.valid();
            let whole = evaluated.forward(images.clone()).into_data();
            let count = backbone.stage_count();
            for frozen in 0..=count {
                let split = evaluated.forward_from(evaluated.forward_until(images.clone(), frozen), frozen);
                split.into_data().assert_approx_eq::<f32>(&whole, Tolerance::absolute(1e-5));

                let trained = backbone.clone().freeze_early_stages(count - frozen);
                if frozen == count {
                    assert!(trainable(&trained).is_empty(), "{architecture:?}: all stages frozen");
                    continue;
                }
                let activations = trained.valid().forward_until(images.clone(), frozen);
                let features =
                    trained.forward_from(activations.to_device(&device.clone().autodiff()).autodiff(), frozen);
                let grads = GradientsParams::from_grads(features.sum().backward(), &trained);
                assert_eq!(grads.len(), trainable(&trained).len(), "{architecture:?}, {frozen} stages frozen");
            }
        }
    }

    /// Freezing all but the last k stages leaves trainable exactly the parameters that
    /// `stage_params(k)` groups (so that each trained stage has its learning rate), the last stage
    /// first, for each way the backbones lay out their stages.
    #[test]
    fn the_stages_left_trainable_are_the_stages_grouped() {
        let device = Device::flex();
        for architecture in [
            Architecture::ResNet18,
            Architecture::MobileNetV3Small,
            Architecture::AlexNet,
            Architecture::DenseNet121,
            Architecture::InceptionV3,
        ] {
            let backbone = architecture.build(&mut FreshInit::new(&device)).fork(&device.clone().autodiff()).train();
            let all = trainable(&backbone);
            assert!(!all.is_empty(), "{architecture:?}");
            let count = backbone.param_stages().0;
            for trained in 0..=count + 1 {
                let groups = backbone.stage_params(trained);
                assert_eq!(groups.len(), trained.min(count), "{architecture:?}");
                assert!(groups.iter().all(|group| !group.is_empty()), "{architecture:?}: an empty stage");
                let grouped: HashSet<ParamId> =
                    groups.iter().flatten().filter(|id| all.contains(id)).copied().collect();
                let left = trainable(&backbone.clone().freeze_early_stages(trained));
                assert_eq!(left, grouped, "{architecture:?} with {trained} stages trained");
            }
            // torchvision's layer4 (conv and BatchNorm weights), and AlexNet's features.6–.10 with
            // classifier.1 and .4.
            let last_stage_size = match architecture {
                Architecture::ResNet18 => Some(8_393_728),
                Architecture::AlexNet => Some(56_673_152),
                _ => None,
            };
            if let Some(size) = last_stage_size {
                assert_eq!(trainable_size(&backbone.clone().freeze_early_stages(1)), size, "{architecture:?}");
            }
            // The last stage comes first: it holds the network's last parameter.
            let ids = find_params(&backbone, false).into_iter().map(|param| param.id);
            let last = ids.filter(|id| all.contains(id)).last();
            assert!(last.is_some_and(|last| backbone.stage_params(1)[0].contains(&last)), "{architecture:?}");
        }
    }
}

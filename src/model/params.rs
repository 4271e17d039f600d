//! Where a module's parameters come from while it is built, and where they are found again.

use burn::module::{Flag, Module, ModuleVisitor, Param, ParamId};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

/// Supplies the parameters of each layer, addressed by its torchvision key prefix
/// (`"layer1.0.conv1"`). Implemented by fresh initialisation and by the weights loader.
pub trait ParamSource {
    fn conv2d(&mut self, key: &str, config: &Conv2dConfig) -> Conv2d;
    fn batch_norm(&mut self, key: &str, config: &BatchNormConfig) -> BatchNorm;
    fn linear(&mut self, key: &str, config: &LinearConfig) -> Linear;
}

/// Burn's default initialisers (Kaiming uniform for conv and linear, ones/zeros for BatchNorm).
pub struct FreshInit {
    device: Device,
}

impl FreshInit {
    pub fn new(device: &Device) -> Self {
        Self { device: device.clone() }
    }
}

impl ParamSource for FreshInit {
    fn conv2d(&mut self, _key: &str, config: &Conv2dConfig) -> Conv2d {
        config.init(&self.device)
    }
    fn batch_norm(&mut self, _key: &str, config: &BatchNormConfig) -> BatchNorm {
        config.init(&self.device)
    }
    fn linear(&mut self, _key: &str, config: &LinearConfig) -> Linear {
        config.init(&self.device)
    }
}

/// A parameter found by [`find_params`], where it sits in the module.
pub struct FoundParam {
    /// Field names and list positions from the module walked, enum variants left out
    /// (`["layer1", "0", "conv1", "weight"]`).
    pub path: Vec<String>,
    pub id: ParamId,
    /// A float tensor's shape (a weight's, a bias's, a running statistic's); `None` for a module's
    /// training flag (BatchNorm's: whether it runs in training mode).
    pub shape: Option<Vec<usize>>,
    /// A float tensor's values, flattened, when they were asked for.
    pub values: Option<Tensor<1>>,
    /// Whether it gets gradients: a float tensor that is not frozen, on the autodiff device.
    pub trainable: bool,
}

/// Every parameter of `module` with its path, in field order; the float tensors' values too
/// when `with_values`. The one walk over modules that this crate makes (export, stage groups,
/// freezing): each kind of walk is compiled once for every module type it passes through, and
/// that code is part of the download.
pub fn find_params(module: &impl Module, with_values: bool) -> Vec<FoundParam> {
    let mut finder = ParamFinder { path: Vec::new(), with_values, found: Vec::new() };
    module.visit(&mut finder);
    finder.found
}

/// The ids of a module's float tensors, as the optimiser knows them.
pub fn param_ids(module: &impl Module) -> Vec<ParamId> {
    find_params(module, false).into_iter().filter(|param| param.shape.is_some()).map(|param| param.id).collect()
}

struct ParamFinder {
    path: Vec<String>,
    with_values: bool,
    found: Vec<FoundParam>,
}

impl ParamFinder {
    fn push(&mut self, id: ParamId, shape: Option<Vec<usize>>, values: Option<Tensor<1>>, trainable: bool) {
        self.found.push(FoundParam { path: self.path.clone(), id, shape, values, trainable });
    }
}

impl ModuleVisitor for ParamFinder {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        if !container_type.starts_with("Enum:") {
            self.path.push(name.to_string());
        }
    }

    fn exit_module(&mut self, _name: &str, container_type: &str) {
        if !container_type.starts_with("Enum:") {
            self.path.pop();
        }
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let tensor = param.val();
        let trainable = tensor.is_require_grad();
        let shape = tensor.dims().to_vec();
        let values = self.with_values.then(|| tensor.reshape([shape.iter().product::<usize>()]));
        self.push(param.id, Some(shape), values, trainable);
    }

    fn visit_flag(&mut self, flag: &Param<Flag>) {
        self.push(flag.id, None, None, false);
    }
}

//! Strategy (a) and the fitted classifiers: a head on features of the frozen backbone, computed
//! once per image by the backbone's folded copy (the extractor, dropped once extraction is done).

use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::{Device, Tensor, TensorData};

use crate::error::{Error, Result};
use crate::model::{Backbone, FeatureExtractor, ImageClassifier};
use crate::train::linear_fit::Design;
use crate::train::{HeadTrainer, TrainConfig};

pub(in crate::train) struct CachedFeatures {
    backbone: Backbone,
    extractor: Option<FeatureExtractor>,
    trainer: HeadTrainer,
    /// One row per dataset example, once extracted.
    features: Vec<Option<Vec<f32>>>,
    /// Width of the backbone's features.
    width: usize,
}

impl CachedFeatures {
    /// Trains `head` on the features of `backbone` for a dataset of `examples`.
    pub fn new(backbone: Backbone, head: Linear, examples: usize, config: &TrainConfig) -> Self {
        Self {
            extractor: Some(FeatureExtractor::new(&backbone)),
            width: backbone.architecture().features(),
            backbone,
            trainer: HeadTrainer::new(head, config),
            features: vec![None; examples],
        }
    }

    /// What extracts the features, while they are being extracted.
    pub fn extractor(&self) -> Option<&FeatureExtractor> {
        self.extractor.as_ref()
    }

    /// Keeps the features of `examples`, one row of `values` each, in order.
    pub fn store(&mut self, examples: &[usize], values: &[f32]) {
        for (row, &i) in examples.iter().enumerate() {
            self.features[i] = Some(values[row * self.width..(row + 1) * self.width].to_vec());
        }
    }

    /// Every feature is in: the extractor's memory goes.
    pub fn extraction_done(&mut self) {
        self.extractor = None;
    }

    pub fn width(&self) -> usize {
        self.width
    }

    /// The features of example `index`, once extracted.
    pub fn features(&self, index: usize) -> Option<&[f32]> {
        self.features.get(index)?.as_deref()
    }

    /// The training examples `(index, label)` whose features were extracted, as the fitted
    /// classifiers see them.
    pub fn design(&self, train: &[(usize, usize)], classes: usize) -> Design<'_> {
        let (rows, labels) = train.iter().filter_map(|&(i, label)| Some((self.features(i)?, label))).unzip();
        Design::new(rows, labels, classes)
    }

    /// Makes a fitted classifier the head: `weight` `[width, classes]` row-major, `bias` `[classes]`.
    pub fn adopt(&mut self, weight: Vec<f32>, bias: Vec<f32>, config: &TrainConfig, device: &Device) {
        let classes = bias.len();
        let weight = Tensor::from_data(TensorData::new(weight, [self.width, classes]), device);
        let bias = Tensor::from_data(TensorData::new(bias, [classes]), device);
        let head = Linear { weight: Param::from_tensor(weight), bias: Some(Param::from_tensor(bias)) };
        self.trainer = HeadTrainer::new(head, config);
    }

    /// The cached features of `indices` as one batch.
    ///
    /// # Shapes
    /// - returns: `[indices.len(), width]`
    fn batch(&self, indices: &[usize], device: &Device) -> Result<Tensor<2>> {
        let mut values = Vec::with_capacity(indices.len() * self.width);
        for &i in indices {
            values.extend_from_slice(self.features(i).ok_or_else(|| Error::Backend("a feature is missing".into()))?);
        }
        Ok(Tensor::from_data(TensorData::new(values, [indices.len(), self.width]), device))
    }

    pub fn train_step(
        &mut self,
        indices: &[usize],
        labels: &[usize],
        device: &Device,
    ) -> Result<(Tensor<1>, Tensor<2>)> {
        let batch = self.batch(indices, device)?;
        Ok(self.trainer.step(batch, labels))
    }

    pub fn evaluate(&self, indices: &[usize], device: &Device) -> Result<Tensor<2>> {
        Ok(self.trainer.head().forward(self.batch(indices, device)?))
    }

    pub fn model(&self) -> ImageClassifier {
        ImageClassifier { backbone: self.backbone.clone(), fc: self.trainer.head() }
    }
}

//! An ONNX graph built op by op from Burn's modules, each op computing what the module's forward
//! computes. Every value keeps its shape (the batch left open), so that what depends on the input
//! side — TensorFlow's "SAME" padding, adaptive pooling — is written out for the export's side.
//! Weights are kept as Burn tensors until [`Graph::into_model`] reads them back, one at a time.
//! Given calibration images, each op also computes its value for them (with the same modules), so
//! that an int8 graph can quantise the activations with their real ranges.

use burn::nn::conv::Conv2d;
use burn::nn::pool::MaxPool2d;
use burn::nn::{BatchNorm, Linear, PaddingConfig2d};
use burn::tensor::Tensor;
use burn::tensor::activation::{sigmoid, softmax};
use burn::tensor::module::{adaptive_avg_pool2d, avg_pool2d};
use burn::tensor::ops::AvgPoolOptions;

use super::proto::{DataType, Message, attribute, entry, graph, model, node, opset, tensor, value_info};
use crate::backend::read_back;
use crate::error::Result;
use crate::kernels::{self, Activation};

/// The opset the graph's ops are written for (HardSwish needs 14; 17 is the floor and
/// what onnxruntime and the converters all read).
pub const OPSET: i64 = 17;
/// The IR version of opset 17.
const IR_VERSION: i64 = 8;

/// A value's shape without the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `[batch, channels, height, width]`
    Map { channels: usize, height: usize, width: usize },
    /// `[batch, features]`
    Flat(usize),
}

/// A value of the graph: its name, its shape and, in a calibrated graph, what it holds for the
/// calibration images.
#[derive(Debug, Clone)]
pub struct Value {
    pub name: String,
    pub shape: Shape,
    /// `[images, channels, height, width]`; a flat value as `[images, features, 1, 1]`.
    pub calibration: Option<Tensor<4>>,
}

impl Value {
    /// Channels, height and width of a feature map.
    fn map(&self) -> [usize; 3] {
        match self.shape {
            Shape::Map { channels, height, width } => [channels, height, width],
            Shape::Flat(features) => [features, 1, 1],
        }
    }

    fn with_map(&self, name: String, [channels, height, width]: [usize; 3], calibration: Option<Tensor<4>>) -> Value {
        Value { name, shape: Shape::Map { channels, height, width }, calibration }
    }

    /// `op` applied to the calibration images' value, where the graph has them.
    fn then(&self, op: impl FnOnce(Tensor<4>) -> Tensor<4>) -> Option<Tensor<4>> {
        self.calibration.clone().map(op)
    }
}

enum Attribute {
    Int(i64),
    Ints(Vec<i64>),
    Float(f32),
}

struct Node {
    op: &'static str,
    inputs: Vec<String>,
    output: String,
    attributes: Vec<(&'static str, Attribute)>,
}

/// An initializer's numbers: a parameter to read back from the device, or numbers made here.
// A few hundred per graph: the size difference between the variants costs nothing.
#[allow(clippy::large_enum_variant)]
enum Numbers {
    Param(Tensor<1>),
    /// Whole numbers in −127..=127, written as int8.
    Int8(Tensor<1>),
    Floats(Vec<f32>),
    Int64s(Vec<i64>),
    Int8s(Vec<i8>),
    /// Whole numbers in 0..=255, written as uint8.
    UInt8(Tensor<1>),
}

struct Initializer {
    name: String,
    dims: Vec<usize>,
    numbers: Numbers,
}

/// The graph being written.
#[derive(Default)]
pub struct Graph {
    nodes: Vec<Node>,
    initializers: Vec<Initializer>,
    /// Convolution and linear weights stored as int8, per output channel (see [`Graph::weight`]).
    int8_weights: bool,
}

/// Output side of a convolution or pooling along one axis.
fn output_side(input: usize, kernel: usize, stride: usize, dilation: usize, [begin, end]: [usize; 2]) -> usize {
    (input + begin + end - dilation * (kernel - 1) - 1) / stride + 1
}

/// A convolution's or max-pooling's window on a `height × width` input: ONNX's attributes for it
/// and the output's side.
struct Window {
    input: [usize; 2],
    kernel: [usize; 2],
    stride: [usize; 2],
    dilation: [usize; 2],
    pads: [usize; 4],
}

impl Window {
    fn new(
        padding: &PaddingConfig2d,
        input: [usize; 2],
        kernel: [usize; 2],
        stride: [usize; 2],
        dilation: [usize; 2],
    ) -> Self {
        Self { input, kernel, stride, dilation, pads: pads(padding, input, kernel, stride) }
    }

    fn attributes(&self) -> Vec<(&'static str, Attribute)> {
        vec![
            ("kernel_shape", ints(self.kernel)),
            ("strides", ints(self.stride)),
            ("dilations", ints(self.dilation)),
            ("pads", ints(self.pads)),
        ]
    }

    /// The output's height and width; `ceil`: the last window may hang over the end (PyTorch's
    /// `ceil_mode`).
    fn output(&self, ceil: bool) -> [usize; 2] {
        [0, 1].map(|axis| {
            let extra = if ceil { self.stride[axis] - 1 } else { 0 };
            let padding = [self.pads[axis], self.pads[axis + 2] + extra];
            output_side(self.input[axis], self.kernel[axis], self.stride[axis], self.dilation[axis], padding)
        })
    }
}

/// ONNX's `pads` (`[top, left, bottom, right]`) of Burn's padding on a `height × width` input:
/// "SAME" as Burn computes it, the extra pixel after.
fn pads(padding: &PaddingConfig2d, [height, width]: [usize; 2], kernel: [usize; 2], stride: [usize; 2]) -> [usize; 4] {
    let same = |size: usize, kernel: usize, stride: usize| {
        let total = ((size.div_ceil(stride) - 1) * stride + kernel).saturating_sub(size);
        [total / 2, total - total / 2]
    };
    match padding {
        PaddingConfig2d::Valid => [0; 4],
        PaddingConfig2d::Same => {
            let ([top, bottom], [left, right]) =
                (same(height, kernel[0], stride[0]), same(width, kernel[1], stride[1]));
            [top, left, bottom, right]
        }
        PaddingConfig2d::Explicit(top, left, bottom, right) => [*top, *left, *bottom, *right],
    }
}

/// The `[h·w, out_h·out_w]` matrix that maps a flattened `h × w` map to its adaptive average
/// pooling (PyTorch's bins: `⌊i·h/out_h⌋ .. ⌈(i+1)·h/out_h⌉`, likewise along the width).
fn adaptive_pooling_matrix([height, width]: [usize; 2], [out_height, out_width]: [usize; 2]) -> Vec<f32> {
    let bins = |input: usize, output: usize| -> Vec<std::ops::Range<usize>> {
        (0..output).map(|i| i * input / output..((i + 1) * input).div_ceil(output)).collect()
    };
    let (rows, columns) = (bins(height, out_height), bins(width, out_width));
    let mut matrix = vec![0.0f32; height * width * out_height * out_width];
    for (i, row_bin) in rows.iter().enumerate() {
        for (j, column_bin) in columns.iter().enumerate() {
            let weight = 1.0 / (row_bin.len() * column_bin.len()) as f32;
            for row in row_bin.clone() {
                for column in column_bin.clone() {
                    matrix[(row * width + column) * out_height * out_width + i * out_width + j] = weight;
                }
            }
        }
    }
    matrix
}

fn ints(values: impl IntoIterator<Item = usize>) -> Attribute {
    Attribute::Ints(values.into_iter().map(|value| value as i64).collect())
}

impl Graph {
    /// A graph whose convolution and linear weights are written as int8 when `int8_weights`.
    pub fn new(int8_weights: bool) -> Self {
        Self { int8_weights, ..Self::default() }
    }

    /// A node with one output, named after its op and its place in the graph.
    fn node(&mut self, op: &'static str, inputs: Vec<String>, attributes: Vec<(&'static str, Attribute)>) -> String {
        let name = self.next_node(op);
        self.named_node(name, op, inputs, attributes)
    }

    /// A node whose name was taken with [`Graph::next_node`] before its initializers were made
    /// (an int8 weight's `DequantizeLinear` node may have come in between): they share the name.
    fn named_node(
        &mut self,
        name: String,
        op: &'static str,
        inputs: Vec<String>,
        attributes: Vec<(&'static str, Attribute)>,
    ) -> String {
        self.nodes.push(Node { op, inputs, output: name.clone(), attributes });
        name
    }

    fn initializer(&mut self, name: String, dims: Vec<usize>, numbers: Numbers) -> String {
        self.initializers.push(Initializer { name: name.clone(), dims, numbers });
        name
    }

    /// A parameter as an initializer named after the node it feeds.
    fn param<const D: usize>(&mut self, node: &str, role: &str, tensor: Tensor<D>) -> String {
        let dims = tensor.dims().to_vec();
        let flat = tensor.reshape([dims.iter().product::<usize>()]);
        self.initializer(format!("{node}.{role}"), dims, Numbers::Param(flat))
    }

    /// A convolution's or linear layer's weight, `channel_axis` its output channels. With int8
    /// weights: symmetric per-channel quantisation, `q = round(w / s)` with `s = max|w| / 127`
    /// over the channel, stored as int8 and turned back into floats by a `DequantizeLinear` node
    /// (a quarter of the size; the runtime computes in float or fuses it into int8 kernels).
    fn weight<const D: usize>(&mut self, node: &str, tensor: Tensor<D>, channel_axis: usize) -> String {
        if !self.int8_weights {
            return self.param(node, "weight", tensor);
        }
        let dims = tensor.dims();
        let channels = dims[channel_axis];
        let mut per_channel = tensor.clone().abs();
        for axis in (0..D).filter(|&axis| axis != channel_axis) {
            per_channel = per_channel.max_dim(axis);
        }
        // An all-zero channel keeps a scale of 1 (its integers are all 0).
        let scale = (per_channel.clone() / 127.0).mask_fill(per_channel.equal_elem(0.0), 1.0);
        let integers = (tensor / scale.clone()).round().clamp(-127.0, 127.0);
        let quantized = self.initializer(
            format!("{node}.weight_int8"),
            dims.to_vec(),
            Numbers::Int8(integers.reshape([dims.iter().product::<usize>()])),
        );
        let scales =
            self.initializer(format!("{node}.weight_scale"), vec![channels], Numbers::Param(scale.reshape([channels])));
        let zero_points =
            self.initializer(format!("{node}.weight_zero_point"), vec![channels], Numbers::Int8s(vec![0; channels]));
        self.node(
            "DequantizeLinear",
            vec![quantized, scales, zero_points],
            vec![("axis", Attribute::Int(channel_axis as i64))],
        )
    }

    /// The name under which a convolution or linear layer named `node` reads `x`. In an int8
    /// graph with calibration images, `x` is quantised to uint8 and back (`QuantizeLinear`,
    /// `DequantizeLinear`: the standard static-quantisation form, which runtimes turn into int8
    /// kernels), one scale and zero point for the tensor, from its range over the calibration
    /// images widened to hold 0 (onnxruntime's MinMax calibration).
    fn input(&mut self, node: &str, x: &Value) -> String {
        let Some(values) = x.calibration.clone().filter(|_| self.int8_weights) else {
            return x.name.clone();
        };
        let low = values.clone().min().clamp_max(0.0);
        let high = values.max().clamp_min(0.0);
        let range = high - low.clone();
        // A value that is 0 on every image keeps a scale of 1.
        let scale = (range.clone() / 255.0).mask_fill(range.equal_elem(0.0), 1.0);
        let zero_point = (low.neg() / scale.clone()).round().clamp(0.0, 255.0);
        let scale = self.initializer(format!("{node}.input_scale"), Vec::new(), Numbers::Param(scale));
        let zero_point = self.initializer(format!("{node}.input_zero_point"), Vec::new(), Numbers::UInt8(zero_point));
        let quantized =
            self.node("QuantizeLinear", vec![x.name.clone(), scale.clone(), zero_point.clone()], Vec::new());
        self.node("DequantizeLinear", vec![quantized, scale, zero_point], Vec::new())
    }

    /// The name the next node will get, for naming its initializers before it exists. Unique:
    /// at least one node is added between two calls, and names made at the same place differ
    /// in their op.
    fn next_node(&self, op: &str) -> String {
        format!("{}_{}", op.to_lowercase(), self.nodes.len())
    }

    /// `conv(x)`, its padding written out for `x`'s side.
    pub fn conv(&mut self, x: &Value, conv: &Conv2d) -> Value {
        let [_, height, width] = x.map();
        let weight = conv.weight.val();
        let [out_channels, ..] = weight.dims();
        let window = Window::new(&conv.padding, [height, width], conv.kernel_size, conv.stride, conv.dilation);
        let at = self.next_node("Conv");
        let mut inputs = vec![self.input(&at, x), self.weight(&at, weight, 0)];
        if let Some(bias) = &conv.bias {
            inputs.push(self.param(&at, "bias", bias.val()));
        }
        let mut attributes = window.attributes();
        attributes.push(("group", Attribute::Int(conv.groups as i64)));
        let output = self.named_node(at, "Conv", inputs, attributes);
        let [out_height, out_width] = window.output(false);
        let calibration = x.then(|values| kernels::conv2d_activation(conv, None, values, None, Activation::Identity));
        x.with_map(output, [out_channels, out_height, out_width], calibration)
    }

    /// A BatchNorm in evaluation mode (its running statistics).
    pub fn batch_norm(&mut self, x: &Value, bn: &BatchNorm) -> Value {
        let at = self.next_node("BatchNormalization");
        let inputs = vec![
            x.name.clone(),
            self.param(&at, "weight", bn.gamma.val()),
            self.param(&at, "bias", bn.beta.val()),
            self.param(&at, "running_mean", bn.running_mean.value()),
            self.param(&at, "running_var", bn.running_var.value()),
        ];
        let epsilon = vec![("epsilon", Attribute::Float(bn.epsilon as f32))];
        let output = self.named_node(at, "BatchNormalization", inputs, epsilon);
        x.with_map(output, x.map(), x.then(|values| kernels::batch_norm(bn, values, Activation::Identity)))
    }

    fn same_shape(
        &mut self,
        op: &'static str,
        x: &Value,
        attributes: Vec<(&'static str, Attribute)>,
        calibration: Option<Tensor<4>>,
    ) -> Value {
        Value { name: self.node(op, vec![x.name.clone()], attributes), shape: x.shape, calibration }
    }

    pub fn activation(&mut self, x: Value, activation: Activation) -> Value {
        let activated = |x: &Value| x.then(|values| kernels::add_and_activate(values, None, activation));
        match activation {
            Activation::Identity => x,
            Activation::Relu => self.same_shape("Relu", &x, Vec::new(), activated(&x)),
            Activation::Relu6 => {
                let at = self.next_node("Clip");
                let min = self.initializer(format!("{at}.min"), Vec::new(), Numbers::Floats(vec![0.0]));
                let max = self.initializer(format!("{at}.max"), Vec::new(), Numbers::Floats(vec![6.0]));
                let calibration = activated(&x);
                Value {
                    name: self.named_node(at, "Clip", vec![x.name, min, max], Vec::new()),
                    shape: x.shape,
                    calibration,
                }
            }
            Activation::Hardswish => self.same_shape("HardSwish", &x, Vec::new(), activated(&x)),
            Activation::Silu => {
                let gate = self.sigmoid(&x);
                self.mul(&x, &gate)
            }
        }
    }

    pub fn sigmoid(&mut self, x: &Value) -> Value {
        self.same_shape("Sigmoid", x, Vec::new(), x.then(sigmoid))
    }

    /// `clamp(alpha·x + beta, 0, 1)`.
    pub fn hard_sigmoid(&mut self, x: &Value, alpha: f32, beta: f32) -> Value {
        let calibration = x.then(|values| (values * alpha + beta).clamp(0.0, 1.0));
        self.same_shape(
            "HardSigmoid",
            x,
            vec![("alpha", Attribute::Float(alpha)), ("beta", Attribute::Float(beta))],
            calibration,
        )
    }

    /// Softmax over the classes.
    pub fn softmax(&mut self, x: &Value) -> Value {
        self.same_shape("Softmax", x, vec![("axis", Attribute::Int(1))], x.then(|values| softmax(values, 1)))
    }

    /// `a + b`, of the same shape.
    pub fn add(&mut self, a: &Value, b: &Value) -> Value {
        let calibration = a.calibration.clone().zip(b.calibration.clone()).map(|(a, b)| a + b);
        Value { name: self.node("Add", vec![a.name.clone(), b.name.clone()], Vec::new()), shape: a.shape, calibration }
    }

    /// `a · b`, `b` broadcast over `a`'s shape.
    pub fn mul(&mut self, a: &Value, b: &Value) -> Value {
        let calibration = a.calibration.clone().zip(b.calibration.clone()).map(|(a, b)| a * b);
        Value { name: self.node("Mul", vec![a.name.clone(), b.name.clone()], Vec::new()), shape: a.shape, calibration }
    }

    pub fn max_pool(&mut self, x: &Value, pool: &MaxPool2d) -> Value {
        let [channels, height, width] = x.map();
        let window = Window::new(&pool.padding, [height, width], pool.kernel_size, pool.stride, pool.dilation);
        let mut attributes = window.attributes();
        attributes.push(("ceil_mode", Attribute::Int(pool.ceil_mode as i64)));
        let output = self.node("MaxPool", vec![x.name.clone()], attributes);
        let [out_height, out_width] = window.output(pool.ceil_mode);
        x.with_map(output, [channels, out_height, out_width], x.then(|values| pool.forward(values)))
    }

    /// Average pooling that counts the padding (PyTorch's `count_include_pad=True`).
    pub fn average_pool(&mut self, x: &Value, kernel: usize, stride: usize, padding: usize) -> Value {
        let [channels, height, width] = x.map();
        let attributes = vec![
            ("kernel_shape", ints([kernel; 2])),
            ("strides", ints([stride; 2])),
            ("pads", ints([padding; 4])),
            ("count_include_pad", Attribute::Int(1)),
        ];
        let output = self.node("AveragePool", vec![x.name.clone()], attributes);
        let side = |side: usize| output_side(side, kernel, stride, 1, [padding; 2]);
        let options = AvgPoolOptions {
            kernel_size: [kernel; 2],
            stride: [stride; 2],
            padding: [(padding, padding); 2],
            count_include_pad: true,
            ceil_mode: false,
        };
        x.with_map(output, [channels, side(height), side(width)], x.then(|values| avg_pool2d(values, options)))
    }

    /// PyTorch's adaptive average pooling to `size`: output cell `i` averages input rows
    /// `⌊i·H/h⌋ .. ⌈(i+1)·H/h⌉` (and likewise columns). Written as the cheapest op that computes
    /// exactly that on the export's side: nothing, a global pooling, an average pooling whose
    /// windows tile the input, or else a product with the pooling matrix.
    pub fn adaptive_average_pool(&mut self, x: &Value, [out_height, out_width]: [usize; 2]) -> Value {
        let [channels, height, width] = x.map();
        if [height, width] == [out_height, out_width] {
            return x.clone();
        }
        let calibration = x.then(|values| adaptive_avg_pool2d(values, [out_height, out_width]));
        if [out_height, out_width] == [1, 1] {
            let output = self.node("GlobalAveragePool", vec![x.name.clone()], Vec::new());
            return x.with_map(output, [channels, 1, 1], calibration);
        }
        if height % out_height == 0 && width % out_width == 0 {
            let kernel = [height / out_height, width / out_width];
            let attributes = vec![("kernel_shape", ints(kernel)), ("strides", ints(kernel))];
            let output = self.node("AveragePool", vec![x.name.clone()], attributes);
            return x.with_map(output, [channels, out_height, out_width], calibration);
        }
        let matrix = adaptive_pooling_matrix([height, width], [out_height, out_width]);
        let at = self.next_node("Reshape");
        let flat_shape = self.initializer(
            format!("{at}.input_shape"),
            vec![3],
            Numbers::Int64s(vec![0, channels as i64, (height * width) as i64]),
        );
        let flat = self.named_node(at, "Reshape", vec![x.name.clone(), flat_shape], Vec::new());
        let at = self.next_node("MatMul");
        let pooling = self.initializer(
            format!("{at}.pooling"),
            vec![height * width, out_height * out_width],
            Numbers::Floats(matrix),
        );
        let pooled = self.named_node(at, "MatMul", vec![flat, pooling], Vec::new());
        let at = self.next_node("Reshape");
        let map_shape = self.initializer(
            format!("{at}.shape"),
            vec![4],
            Numbers::Int64s(vec![0, channels as i64, out_height as i64, out_width as i64]),
        );
        let output = self.named_node(at, "Reshape", vec![pooled, map_shape], Vec::new());
        x.with_map(output, [channels, out_height, out_width], calibration)
    }

    /// `[batch, c, h, w] → [batch, c·h·w]`, in PyTorch's `flatten(1)` order.
    pub fn flatten(&mut self, x: &Value) -> Value {
        let [channels, height, width] = x.map();
        let output = self.node("Flatten", vec![x.name.clone()], vec![("axis", Attribute::Int(1))]);
        let calibration = x.then(|values| {
            let [images, ..] = values.dims();
            values.reshape([images, channels * height * width, 1, 1])
        });
        Value { name: output, shape: Shape::Flat(channels * height * width), calibration }
    }

    /// `x·W + b`, Burn's `[in, out]` weight as it is.
    pub fn linear(&mut self, x: &Value, linear: &Linear) -> Value {
        let weight = linear.weight.val();
        let [_, outputs] = weight.dims();
        let at = self.next_node("Gemm");
        let mut inputs = vec![self.input(&at, x), self.weight(&at, weight, 1)];
        if let Some(bias) = &linear.bias {
            inputs.push(self.param(&at, "bias", bias.val()));
        }
        let calibration = x.then(|values| {
            let [images, features, ..] = values.dims();
            linear.forward(values.reshape([images, features])).reshape([images, outputs, 1, 1])
        });
        Value { name: self.named_node(at, "Gemm", inputs, Vec::new()), shape: Shape::Flat(outputs), calibration }
    }

    /// The maps of `parts` side by side along the channels.
    pub fn concat(&mut self, parts: &[Value]) -> Value {
        let channels = parts.iter().map(|part| part.map()[0]).sum();
        let [_, height, width] = parts[0].map();
        let output = self.node(
            "Concat",
            parts.iter().map(|part| part.name.clone()).collect(),
            vec![("axis", Attribute::Int(1))],
        );
        let calibration = parts
            .iter()
            .map(|part| part.calibration.clone())
            .collect::<Option<Vec<_>>>()
            .map(|values| Tensor::cat(values, 1));
        parts[0].with_map(output, [channels, height, width], calibration)
    }

    /// `x` under `name`, for the graph's output.
    pub fn rename(&mut self, x: Value, name: &str) -> Value {
        if let Some(node) = self.nodes.iter_mut().find(|node| node.output == x.name) {
            node.output = name.to_string();
        }
        Value { name: name.to_string(), shape: x.shape, calibration: x.calibration }
    }

    /// The model file: this graph from `input` (its batch dimension named `batch`) to `output`,
    /// with `metadata` in `metadata_props`.
    pub async fn into_model(self, input: &Value, output: &Value, metadata: &[(String, String)]) -> Result<Vec<u8>> {
        let mut graph_message = Message::new();
        graph_message.string(graph::NAME, "browser-finetune");
        for node in self.nodes {
            graph_message.message(graph::NODE, node_message(node));
        }
        graph_message.message(graph::INPUT, value_info_message(input));
        graph_message.message(graph::OUTPUT, value_info_message(output));
        for Initializer { name, dims, numbers } in self.initializers {
            let (data_type, raw): (DataType, Vec<u8>) = match numbers {
                Numbers::Param(values) => {
                    (DataType::Float, read_back(values).await?.iter().flat_map(|v| v.to_le_bytes()).collect())
                }
                Numbers::Floats(values) => (DataType::Float, values.iter().flat_map(|v| v.to_le_bytes()).collect()),
                Numbers::Int64s(values) => (DataType::Int64, values.iter().flat_map(|v| v.to_le_bytes()).collect()),
                Numbers::Int8(values) => {
                    (DataType::Int8, read_back(values).await?.iter().map(|&v| v as i8 as u8).collect())
                }
                Numbers::Int8s(values) => (DataType::Int8, values.iter().map(|&v| v as u8).collect()),
                Numbers::UInt8(values) => {
                    (DataType::UInt8, read_back(values).await?.iter().map(|&v| v as u8).collect())
                }
            };
            let mut message = Message::new();
            for dim in dims {
                message.int(tensor::DIMS, dim as i64);
            }
            message.int(tensor::DATA_TYPE, data_type as i64).string(tensor::NAME, &name).bytes(tensor::RAW_DATA, &raw);
            graph_message.message(graph::INITIALIZER, message);
        }
        let mut opset_message = Message::new();
        opset_message.string(opset::DOMAIN, "").int(opset::VERSION, OPSET);
        let mut model_message = Message::new();
        model_message
            .int(model::IR_VERSION, IR_VERSION)
            .string(model::PRODUCER_NAME, "browser-finetune")
            .string(model::PRODUCER_VERSION, env!("CARGO_PKG_VERSION"))
            .message(model::OPSET_IMPORT, opset_message);
        for (key, value) in metadata {
            let mut entry_message = Message::new();
            entry_message.string(entry::KEY, key).string(entry::VALUE, value);
            model_message.message(model::METADATA_PROPS, entry_message);
        }
        model_message.message(model::GRAPH, graph_message);
        Ok(model_message.into_bytes())
    }
}

fn node_message(Node { op, inputs, output, attributes }: Node) -> Message {
    let mut message = Message::new();
    for input in &inputs {
        message.string(node::INPUT, input);
    }
    message.string(node::OUTPUT, &output).string(node::NAME, &output).string(node::OP_TYPE, op);
    for (name, value) in attributes {
        let mut attribute_message = Message::new();
        attribute_message.string(attribute::NAME, name);
        match value {
            Attribute::Int(value) => {
                attribute_message.int(attribute::TYPE, attribute::TYPE_INT).int(attribute::I, value)
            }
            Attribute::Float(value) => {
                attribute_message.int(attribute::TYPE, attribute::TYPE_FLOAT).float(attribute::F, value)
            }
            Attribute::Ints(values) => {
                attribute_message.int(attribute::TYPE, attribute::TYPE_INTS);
                for value in values {
                    attribute_message.int(attribute::INTS, value);
                }
                &mut attribute_message
            }
        };
        message.message(node::ATTRIBUTE, attribute_message);
    }
    message
}

/// A float tensor's name, type and shape, its first dimension the symbolic `batch`.
fn value_info_message(value: &Value) -> Message {
    let dims: Vec<usize> = match value.shape {
        Shape::Map { channels, height, width } => vec![channels, height, width],
        Shape::Flat(features) => vec![features],
    };
    let mut shape = Message::new();
    let mut batch = Message::new();
    batch.string(value_info::DIM_PARAM, "batch");
    shape.message(value_info::SHAPE_DIM, batch);
    for dim in dims {
        let mut dim_message = Message::new();
        dim_message.int(value_info::DIM_VALUE, dim as i64);
        shape.message(value_info::SHAPE_DIM, dim_message);
    }
    let mut tensor_type = Message::new();
    tensor_type.int(value_info::TENSOR_ELEM_TYPE, DataType::Float as i64).message(value_info::TENSOR_SHAPE, shape);
    let mut type_message = Message::new();
    type_message.message(value_info::TYPE_TENSOR, tensor_type);
    let mut message = Message::new();
    message.string(value_info::NAME, &value.name).message(value_info::TYPE, type_message);
    message
}

#[cfg(test)]
mod tests {
    use burn::tensor::module::adaptive_avg_pool2d;
    use burn::tensor::{Device, Distribution, Tolerance};

    use super::*;

    /// The pooling matrix computes Burn's (and PyTorch's) adaptive average pooling where the bins
    /// overlap and differ in size: 7×5 to 3×2, and 6×6 to 4×4.
    #[test]
    fn the_pooling_matrix_pools_as_adaptive_average_pooling() {
        let device = Device::flex();
        device.seed(3);
        for ([height, width], [out_height, out_width]) in [([7, 5], [3, 2]), ([6, 6], [4, 4])] {
            let x = Tensor::<4>::random([2, 3, height, width], Distribution::Normal(0.0, 1.0), &device);
            let expected = adaptive_avg_pool2d(x.clone(), [out_height, out_width]);
            let matrix = adaptive_pooling_matrix([height, width], [out_height, out_width]);
            let matrix =
                Tensor::<1>::from_floats(matrix.as_slice(), &device).reshape([height * width, out_height * out_width]);
            let pooled = x.reshape([6, height * width]).matmul(matrix).reshape([2, 3, out_height, out_width]);
            pooled.into_data().assert_approx_eq::<f32>(&expected.into_data(), Tolerance::absolute(1e-6));
        }
    }

    /// With int8 weights a `DequantizeLinear` node comes before the layer it feeds (and, with
    /// calibration images, a `QuantizeLinear` and a `DequantizeLinear` before its input): each
    /// initializer is still named after the node that takes it (directly or dequantised), and
    /// no two nodes share a name.
    #[test]
    fn initializers_are_named_after_their_node_with_int8_weights() {
        for calibrated in [false, true] {
            initializers_are_named_after_their_node(calibrated);
        }
    }

    fn initializers_are_named_after_their_node(calibrated: bool) {
        use burn::nn::conv::Conv2dConfig;
        use burn::nn::{BatchNormConfig, LinearConfig};

        let device = Device::flex();
        let mut graph = Graph::new(true);
        let calibration = calibrated.then(|| Tensor::random([2, 3, 7, 7], Distribution::Normal(0.0, 1.0), &device));
        let images =
            Value { name: "images".into(), shape: Shape::Map { channels: 3, height: 7, width: 7 }, calibration };
        let x = graph.conv(&images, &Conv2dConfig::new([3, 4], [3, 3]).init(&device));
        let x = graph.batch_norm(&x, &BatchNormConfig::new(4).init(&device));
        let x = graph.activation(x, Activation::Relu6);
        let x = graph.adaptive_average_pool(&x, [2, 2]);
        let x = graph.flatten(&x);
        graph.linear(&x, &LinearConfig::new(16, 3).init(&device));

        let outputs: Vec<&str> = graph.nodes.iter().map(|node| node.output.as_str()).collect();
        let mut unique = outputs.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), outputs.len(), "{outputs:?}");
        let takes = |node: &Node, name: &str| {
            node.inputs.iter().any(|input| {
                input == name
                    || graph.nodes.iter().any(|dequantize| {
                        dequantize.output == *input
                            && dequantize.op == "DequantizeLinear"
                            && dequantize.inputs.iter().any(|i| i == name)
                    })
            })
        };
        for initializer in &graph.initializers {
            let (owner, _) = initializer.name.split_once('.').expect("named node.role");
            let node = graph.nodes.iter().find(|node| node.output == owner && node.op != "DequantizeLinear");
            assert!(node.is_some_and(|node| takes(node, &initializer.name)), "{} in {outputs:?}", initializer.name);
        }
        let quantized = graph.nodes.iter().filter(|node| node.op == "QuantizeLinear").count();
        assert_eq!(quantized, if calibrated { 2 } else { 0 }, "the convolution's and the linear layer's inputs");
    }

    /// "SAME" padding as Burn computes it: the extra pixel after (TensorFlow's, ONNX's SAME_UPPER).
    #[test]
    fn same_padding_puts_the_odd_pixel_after() {
        assert_eq!(pads(&PaddingConfig2d::Same, [224, 224], [3, 3], [2, 2]), [0, 0, 1, 1]);
        assert_eq!(pads(&PaddingConfig2d::Same, [112, 112], [5, 5], [1, 1]), [2, 2, 2, 2]);
        assert_eq!(pads(&PaddingConfig2d::Explicit(1, 2, 3, 4), [9, 9], [3, 3], [1, 1]), [1, 2, 3, 4]);
    }
}

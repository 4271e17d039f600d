// The browser peer of the training benchmark (bench-training.js): TensorFlow.js 4.22 training the
// same networks in the same browser, built with its layers API from seeded random weights. Its
// packages come from bench-peers/ (installed by `./build.sh bench-training` only). Each network
// is torchvision's, in NHWC: ResNet18's basic blocks, MobileNetV2's and EfficientNet-Lite0's
// inverted residuals (Lite0: ReLU6, no squeeze-excitation), torchvision's Dropout before the
// classifier; "same" padding everywhere, which gives torchvision's output shapes at 224×224
// (so the same work). A stage is a row of the inverted-residual spec (the last one with the 1×1
// head convolution) or a ResNet layer, as our stages are; `last_stages:1` freezes every layer
// before the last stage (`trainable = false`; TensorFlow.js's BatchNorm still normalises with
// the batch's statistics there, as Keras did before TF 2). A step is `trainOnBatch`: forward,
// cross-entropy, backward, Adam 1e-3, the loss read back. Inputs are random pixels already on
// the backend (decoding and augmentation excluded).
// Query: backends=wasm,webgl,webgpu (cpu too if named; it is the slowest), models=resnet18,
// mobilenet_v2,efficientnet_lite0, strategies=last_stages:1,full, steps=1 (timed after one
// untimed warm-up step, which compiles the backend's shaders), budget=S: a warm-up step longer
// than S seconds (default 300) is the figure itself (`first_step_only=1`: shader compilation
// included, so the steady rate is at least that). webgl and webgpu are the GPU-path peers: on a
// software renderer (SwiftShader, llvmpipe: a machine without a GPU) they are skipped unless
// software=1, as one MobileNetV2 step there takes about ten minutes. Lines in
// window.benchResults: `tfjs-BACKEND model=M strategy=S batch=32 train_images_per_s=X`, or
// `tfjs-BACKEND error="…"` / `skipped="…"` where the backend cannot or does not train; then
// window.benchDone.
import { list, params, show } from "./bench-page.js";

const PEERS = "../bench-peers/node_modules/@tensorflow";
const backends = list("backends", "wasm,webgl,webgpu");
const models = list("models", "resnet18,mobilenet_v2,efficientnet_lite0");
const strategies = list("strategies", "last_stages:1,full");
const steps = Number(params.get("steps") || 1);
const budgetSeconds = Number(params.get("budget") || 300);
const timeSoftwareRenderers = params.get("software") === "1";
const BATCH = 32;
const SIDE = 224;
const CLASSES = 2;

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = src;
    script.onload = resolve;
    script.onerror = () => reject(new Error(`${src} did not load: run ./build.sh bench-training, which installs bench-peers/`));
    document.head.append(script);
  });
}

/** The kernels a convolutional network's backward pass needs that a backend may lack. */
const TRAINING_KERNELS = ["Conv2DBackpropFilter", "Conv2DBackpropInput", "DepthwiseConv2dNativeBackpropFilter", "DepthwiseConv2dNativeBackpropInput"];
const SOFTWARE_RENDERER = /swiftshader|llvmpipe|lavapipe|software/i;

/** The renderer behind `backend` where it is a GPU one: WebGL's unmasked renderer, WebGPU's adapter. */
async function renderer(backend) {
  if (backend === "webgl") {
    const gl = document.createElement("canvas").getContext("webgl2");
    const info = gl?.getExtension("WEBGL_debug_renderer_info");
    return info ? String(gl.getParameter(info.UNMASKED_RENDERER_WEBGL)) : "";
  }
  if (backend === "webgpu") {
    const adapter = await navigator.gpu?.requestAdapter();
    return adapter ? `${adapter.info?.vendor} ${adapter.info?.architecture} ${adapter.info?.description}${adapter.isFallbackAdapter ? " software" : ""}` : "";
  }
  return "";
}

/** Why `backend` is not timed here, or null. */
async function reasonToSkip(backend) {
  const missing = TRAINING_KERNELS.find((kernel) => !tf.getKernel(kernel, backend));
  if (missing) return { error: `Kernel '${missing}' not registered for backend '${backend}'` };
  const on = await renderer(backend);
  if (!timeSoftwareRenderers && SOFTWARE_RENDERER.test(on)) {
    return { skipped: `a software renderer (${on.trim()}): no GPU here; software=1 (BENCH_TFJS_SOFTWARE=1) times it anyway` };
  }
  return null;
}

/**
 * Builds a network layer by layer, noting which stage each layer belongs to ("stem", 0, 1, …,
 * "head"), so that a strategy can freeze the stages before its last ones.
 */
class NetworkBuilder {
  constructor() {
    this.stage = "stem";
    this.stages = new Map();
    this.seed = 0;
  }

  /** Applies a new layer to `input`, counting it in the current stage. */
  apply(layer, input) {
    if (!this.stages.has(this.stage)) this.stages.set(this.stage, []);
    this.stages.get(this.stage).push(layer);
    return layer.apply(input);
  }

  kernelInit() {
    return tf.initializers.heNormal({ seed: ++this.seed });
  }

  conv(x, filters, kernelSize, strides = 1) {
    return this.apply(tf.layers.conv2d({ filters, kernelSize, strides, padding: "same", useBias: false, kernelInitializer: this.kernelInit() }), x);
  }

  depthwise(x, kernelSize, strides) {
    return this.apply(tf.layers.depthwiseConv2d({ kernelSize, strides, padding: "same", useBias: false, depthwiseInitializer: this.kernelInit() }), x);
  }

  /** BatchNorm (PyTorch's momentum 0.1 and eps 1e-5), then ReLU, ReLU6 or nothing. */
  norm(x, activation) {
    const y = this.apply(tf.layers.batchNormalization({ momentum: 0.9, epsilon: 1e-5 }), x);
    if (activation === "relu") return this.apply(tf.layers.reLU(), y);
    if (activation === "relu6") return this.apply(tf.layers.reLU({ maxValue: 6 }), y);
    return y;
  }

  add(a, b) {
    return this.apply(tf.layers.add(), [a, b]);
  }

  /** Global average pooling, torchvision's Dropout (if any), the linear classifier with softmax. */
  head(x, dropout) {
    this.stage = "head";
    let y = this.apply(tf.layers.globalAveragePooling2d({}), x);
    if (dropout) y = this.apply(tf.layers.dropout({ rate: dropout, seed: ++this.seed }), y);
    return this.apply(tf.layers.dense({ units: CLASSES, activation: "softmax", kernelInitializer: tf.initializers.glorotUniform({ seed: ++this.seed }) }), y);
  }
}

function resnet18(net, input) {
  let x = net.norm(net.conv(input, 64, 7, 2), "relu");
  x = net.apply(tf.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: "same" }), x);
  let channels = 64;
  [[64, 1], [128, 2], [256, 2], [512, 2]].forEach(([filters, stride], stage) => {
    net.stage = stage;
    for (let block = 0; block < 2; block++) {
      const strides = block === 0 ? stride : 1;
      let y = net.norm(net.conv(x, filters, 3, strides), "relu");
      y = net.norm(net.conv(y, filters, 3), null);
      const shortcut = strides !== 1 || channels !== filters ? net.norm(net.conv(x, filters, 1, strides), null) : x;
      x = net.apply(tf.layers.reLU(), net.add(y, shortcut));
      channels = filters;
    }
  });
  return net.head(x, 0);
}

/** Rows of (expansion, channels, repeats, stride, kernel), as torchvision and the Lite0 package. */
const INVERTED_RESIDUAL_SPECS = {
  mobilenet_v2: [[1, 16, 1, 1, 3], [6, 24, 2, 2, 3], [6, 32, 3, 2, 3], [6, 64, 4, 2, 3], [6, 96, 3, 1, 3], [6, 160, 3, 2, 3], [6, 320, 1, 1, 3]],
  efficientnet_lite0: [[1, 16, 1, 1, 3], [6, 24, 2, 2, 3], [6, 40, 2, 2, 5], [6, 80, 3, 2, 3], [6, 112, 3, 1, 5], [6, 192, 4, 2, 5], [6, 320, 1, 1, 3]],
};

function invertedResidualNetwork(spec, net, input) {
  let x = net.norm(net.conv(input, 32, 3, 2), "relu6");
  let channels = 32;
  spec.forEach(([expansion, filters, repeats, stride, kernel], stage) => {
    net.stage = stage;
    for (let block = 0; block < repeats; block++) {
      const strides = block === 0 ? stride : 1;
      let y = expansion === 1 ? x : net.norm(net.conv(x, channels * expansion, 1), "relu6");
      y = net.norm(net.depthwise(y, kernel, strides), "relu6");
      y = net.norm(net.conv(y, filters, 1), null);
      x = strides === 1 && channels === filters ? net.add(x, y) : y;
      channels = filters;
    }
  });
  x = net.norm(net.conv(x, 1280, 1), "relu6");
  return net.head(x, 0.2);
}

const NETWORKS = {
  resnet18,
  mobilenet_v2: (net, input) => invertedResidualNetwork(INVERTED_RESIDUAL_SPECS.mobilenet_v2, net, input),
  efficientnet_lite0: (net, input) => invertedResidualNetwork(INVERTED_RESIDUAL_SPECS.efficientnet_lite0, net, input),
};

/** The model for `name` with every layer before its last `trained` stages frozen (null: none). */
function buildModel(name, trained) {
  const net = new NetworkBuilder();
  const input = tf.input({ shape: [SIDE, SIDE, 3] });
  const model = tf.model({ inputs: input, outputs: NETWORKS[name](net, input) });
  if (trained !== null) {
    const numbered = [...net.stages.keys()].filter((stage) => typeof stage === "number");
    const kept = new Set(numbered.slice(numbered.length - trained));
    for (const [stage, layers] of net.stages) {
      if (stage !== "head" && !kept.has(stage)) for (const layer of layers) layer.trainable = false;
    }
  }
  model.compile({ optimizer: tf.train.adam(1e-3), loss: "categoricalCrossentropy" });
  return model;
}

/** Images/s through `trainOnBatch` at batch 32, or the warm-up step's when it ran past the budget. */
async function trainingRate(model) {
  const inputs = tf.randomUniform([BATCH, SIDE, SIDE, 3], 0, 1, "float32", 1);
  const labels = tf.oneHot(tf.tensor1d(Array.from({ length: BATCH }, (_, i) => i % CLASSES), "int32"), CLASSES);
  try {
    let began = performance.now();
    await model.trainOnBatch(inputs, labels);
    const warmUp = (performance.now() - began) / 1000;
    if (warmUp > budgetSeconds) return { rate: BATCH / warmUp, extra: " first_step_only=1" };
    began = performance.now();
    for (let step = 0; step < steps; step++) await model.trainOnBatch(inputs, labels);
    return { rate: (steps * BATCH) / ((performance.now() - began) / 1000), extra: "" };
  } finally {
    inputs.dispose();
    labels.dispose();
  }
}

try {
  await loadScript(`${PEERS}/tfjs-core/dist/tf-core.min.js`);
  for (const name of ["tfjs-backend-cpu/dist/tf-backend-cpu", "tfjs-backend-webgl/dist/tf-backend-webgl", "tfjs-layers/dist/tf-layers",
    "tfjs-backend-wasm/dist/tf-backend-wasm", "tfjs-backend-webgpu/dist/tf-backend-webgpu"]) {
    await loadScript(`${PEERS}/${name}.min.js`);
  }
  tf.wasm.setWasmPaths(`${PEERS}/tfjs-backend-wasm/dist/`);
  for (const backend of backends) {
    const runtime = `tfjs-${backend}`;
    let ready = false;
    try {
      ready = await tf.setBackend(backend);
    } catch (err) {
      show(`${runtime} error=${JSON.stringify(String(err?.message ?? err))}`);
    }
    if (!ready) continue;
    const skip = await reasonToSkip(backend);
    if (skip) {
      show(`${runtime} ${Object.entries(skip).map(([key, why]) => `${key}=${JSON.stringify(why)}`).join(" ")}`);
      continue;
    }
    for (const name of models) {
      for (const strategy of strategies) {
        const trained = strategy === "full" ? null : Number(strategy.split(":")[1]);
        const label = `${runtime} model=${name} strategy=${strategy} batch=${BATCH}`;
        let model;
        try {
          model = buildModel(name, trained);
          const { rate, extra } = await trainingRate(model);
          show(`${label} train_images_per_s=${rate.toFixed(3)}${extra}`);
        } catch (err) {
          show(`${label} error=${JSON.stringify(String(err?.message ?? err))}`);
        } finally {
          model?.dispose();
        }
      }
    }
  }
} catch (err) {
  show(`error ${err?.message ?? err}`);
}
window.benchDone = true;

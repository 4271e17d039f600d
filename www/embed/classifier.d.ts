// Types of the embeddable classifier (classifier.js). The engine's own types come from the
// declarations wasm-pack generates beside its inference build (inference/browser_finetune.d.ts).
import type { Architecture, BackendInfo, TrainingSummary, Views } from "./inference/browser_finetune.js";

export type { Architecture, BackendInfo, TrainingSummary, Views };

/** Where the model comes from: a URL (relative to the page), a File or Blob, or the file's bytes. */
export type ModelSource = string | URL | Blob | ArrayBuffer | ArrayBufferView;

/** Anything with pixels: images, canvases, bitmaps, video elements and frames, or an image file. */
export type ImageInput =
  | HTMLImageElement
  | HTMLCanvasElement
  | OffscreenCanvas
  | ImageBitmap
  | HTMLVideoElement
  | VideoFrame
  | ImageData
  | Blob;

export interface LoadOptions {
  /**
   * "cpu" (default): the small CPU build. "webgpu": the WebGPU build, fetched only then (fails
   * without WebGPU). "auto": the WebGPU build where there is a hardware adapter, else the CPU one.
   */
  device?: "auto" | "webgpu" | "cpu";
}

export interface ClassifyOptions {
  /** How many labels to return, most likely first (default: all). */
  topK?: number;
  /**
   * Test-time augmentation: the probabilities averaged over "centre" (default: the centre crop, as
   * in validation), "flip" (it and its mirror image) or "ten_crop" (corners and centre, each
   * mirrored too); 2× and 10× the work.
   */
  views?: Views;
  /**
   * Also say where the model looked for the top label: `.explanation`, a Grad-CAM heat map (about
   * one more forward and backward pass of the centre crop).
   */
  explain?: boolean;
}

/** Where the model looked (Grad-CAM on its last convolutional stage), over the centre crop it sees. */
export interface HeatMap {
  /** The label the map explains: the top one. */
  label: string;
  width: number;
  height: number;
  /** `height` rows of `width` values in [0, 1]: how much each region raised the label's score. */
  values: number[];
  /**
   * The crop's side as a share of the image's shorter side: the map covers the square of that side
   * in the middle of the image.
   */
  cropShare: number;
}

export interface Classification {
  label: string;
  /** Calibrated: a softmax of the logits divided by the model's `temperature`. */
  probability: number;
}

/** The labels, most likely first, and whether the image looks unlike every class. */
export interface Classifications extends Array<Classification> {
  /** The top probability is under the classifier's `unknownBelow`; null when the model has none. */
  unknown: boolean | null;
  /** With `explain`: where the model looked for the top label; else null. */
  explanation: HeatMap | null;
}

export declare class Classifier {
  private constructor();
  /** Opens a model exported by browser-finetune ("Download model") in a worker of its own. */
  static load(source: ModelSource, options?: LoadOptions): Promise<Classifier>;
  /** The class names, in the model's output order. */
  readonly labels: string[];
  readonly architecture: Architecture;
  /** Where the model runs (WebGPU or the CPU) and why. */
  readonly backend: BackendInfo;
  /** How the model was trained, as its file says. */
  readonly training: TrainingSummary | null;
  /**
   * The top-class probability under which an image is called unlike every class: 95 % of the
   * validation images scored above it when the model was trained; null for a model without one.
   */
  readonly unknownBelow: number | null;
  /**
   * The temperature fitted on the validation images when the model was trained: probabilities are a
   * softmax of the logits divided by it, so that 80 % means right about 80 % of the time; 1 when
   * the model has none.
   */
  readonly temperature: number;
  classify(image: ImageInput, options?: ClassifyOptions): Promise<Classifications>;
  /** Stops the worker; later calls reject. */
  dispose(): void;
}

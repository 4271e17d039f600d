// The training form: reading and remembering the user's settings.
import { $ } from "./dom.js";

const SETTINGS_KEY = "browser-finetune-settings";

export function readSettings() {
  const form = $("settings");
  const value = (name) => form.elements[name].value;
  const number = (name) => Number(value(name));
  const kind = value("strategy");
  const strategy = kind === "last_stages" ? { kind, stages: number("stages") }
    : kind === "progressive" ? { kind, every: number("every"), lr_factor: number("lr_factor") }
    : { kind };
  return {
    backend: value("backend"),
    run: {
      strategy,
      epochs: number("epochs"),
      batch_size: number("batch_size"),
      learning_rate: number("learning_rate"),
      optimizer: value("optimizer") === "sgd" ? { kind: "sgd", momentum: number("momentum") } : { kind: "adam" },
      shuffle: true,
      val_fraction: number("val_fraction"),
      // A fixed ?seed= repeats a run exactly (split, order, augmentation); otherwise each run differs.
      seed: Number(new URLSearchParams(location.search).get("seed") ?? Math.floor(Math.random() * 2 ** 32)),
    },
  };
}

export function restoreSettings() {
  const saved = JSON.parse(localStorage.getItem(SETTINGS_KEY) || "{}");
  const form = $("settings");
  for (const [name, value] of Object.entries(saved.fields || {})) if (form.elements[name]) form.elements[name].value = value;
  const params = new URLSearchParams(location.search);
  if (params.get("backend")) form.elements.backend.value = params.get("backend");
  return { weightsUrl: params.get("weights") || saved.weightsUrl, explicitWeights: params.has("weights") };
}

/** Remembers the form and `weightsUrl`, the weights to load next time. */
export function saveSettings(weightsUrl) {
  const form = $("settings");
  const fields = Object.fromEntries([...form.elements].filter((el) => el.name).map((el) => [el.name, el.value]));
  localStorage.setItem(SETTINGS_KEY, JSON.stringify({ fields, weightsUrl }));
}

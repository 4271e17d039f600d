// Image intake on the main thread: reading dropped or picked folders (without blocking), and
// turning paths into labelled images. Decoding happens in the worker.

export const IMAGE_EXTENSIONS = new Set(["jpg", "jpeg", "png", "webp", "gif", "bmp"]);
/** Larger files are skipped before they are read. */
export const MAX_FILE_BYTES = 50 * 1024 * 1024;
const VALIDATION_NAMES = new Set(["val", "valid", "validation"]);
/** Image formats people have that are not read, with what to do instead. */
const UNREAD_FORMATS = {
  svg: "an SVG drawing: vector images are not read; export it as PNG",
  heic: "a HEIC photo, which browsers cannot decode here: export it as JPEG",
  heif: "a HEIF photo, which browsers cannot decode here: export it as JPEG",
  avif: "an AVIF image, which is not read here: export it as JPEG or PNG",
  tif: "a TIFF image, which is not read here: save it as PNG or JPEG",
  tiff: "a TIFF image, which is not read here: save it as PNG or JPEG",
};

/** Every file under the dropped items, with its path, read recursively. */
export async function filesFromDrop(dataTransfer) {
  const entries = [...dataTransfer.items].map((item) => item.webkitGetAsEntry?.()).filter(Boolean);
  const files = [];
  const walk = async (entry, prefix) => {
    const path = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isFile) {
      files.push({ file: await new Promise((resolve, reject) => entry.file(resolve, reject)), path });
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      // readEntries returns at most ~100 entries per call: read until it returns none.
      for (;;) {
        const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
        if (batch.length === 0) break;
        for (const child of batch) await walk(child, path);
      }
    }
  };
  for (const entry of entries) await walk(entry, "");
  return files;
}

/** Files from `<input type="file" webkitdirectory>`. */
export function filesFromPicker(fileList) {
  return [...fileList].map((file) => ({ file, path: file.webkitRelativePath || file.name }));
}

const isHidden = (parts) => parts.some((part) => part.startsWith(".") || part === "__MACOSX" || part === "Thumbs.db");
const extension = (name) => (name.includes(".") ? name.split(".").pop().toLowerCase() : "");

/**
 * Labels each file from its folders: `root/<class>/…`, several dropped `<class>/…` folders, or
 * ImageFolder's `root/train/<class>/…` + `root/val/<class>/…`. Returns the images to decode, the
 * files skipped with their reason, and the layout found. Hidden files are ignored.
 */
export function organise(files) {
  const visible = files
    .map(({ file, path }) => ({ file, path, parts: path.split("/").filter(Boolean) }))
    .filter(({ parts }) => !isHidden(parts));
  // One common root folder with class folders inside, or class folders dropped side by side.
  const roots = new Set(visible.map(({ parts }) => parts[0]));
  const depth = roots.size === 1 && visible.some(({ parts }) => parts.length > 2) ? 1 : 0;
  const splitLayout = visible.some(({ parts }) => {
    const top = (parts[depth] || "").toLowerCase();
    return (top === "train" || VALIDATION_NAMES.has(top)) && parts.length > depth + 2;
  });

  const items = [];
  const skipped = [];
  for (const { file, path, parts } of visible) {
    let subset = null;
    let classIndex = depth;
    if (splitLayout) {
      const top = parts[depth].toLowerCase();
      if (top === "train") subset = "train";
      else if (VALIDATION_NAMES.has(top)) subset = "val";
      else { skipped.push({ name: path, reason: "outside train/ and val/ in an ImageFolder layout" }); continue; }
      classIndex = depth + 1;
    }
    if (parts.length < classIndex + 2) {
      skipped.push({ name: path, reason: "not inside a class folder: put images in one folder per class" });
      continue;
    }
    const ext = extension(file.name);
    if (UNREAD_FORMATS[ext]) {
      skipped.push({ name: path, reason: UNREAD_FORMATS[ext] });
      continue;
    }
    if (!IMAGE_EXTENSIONS.has(ext)) {
      skipped.push({ name: path, reason: `not an image (${ext ? "." + ext : "no extension"}); JPEG, PNG, WebP, GIF and BMP are read` });
      continue;
    }
    if (file.size > MAX_FILE_BYTES) {
      skipped.push({ name: path, reason: `too large (${(file.size / 1048576).toFixed(0)} MB, limit ${MAX_FILE_BYTES / 1048576} MB)` });
      continue;
    }
    items.push({ file, name: path, label: parts[classIndex], subset });
  }
  return { items, skipped, layout: splitLayout ? "imagefolder" : "class-folders" };
}

/** Image counts per class (and per subset in an ImageFolder layout), classes sorted as ImageFolder does. */
export function classCounts(items) {
  const counts = new Map();
  for (const { label, subset } of items) {
    const entry = counts.get(label) || { train: 0, val: 0, total: 0 };
    entry.total += 1;
    if (subset) entry[subset] += 1;
    counts.set(label, entry);
  }
  return [...counts.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

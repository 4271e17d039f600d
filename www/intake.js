// Image intake on the main thread: reading dropped or picked folders (without blocking), and
// turning paths into labelled images. Decoding happens in the worker.

export const IMAGE_EXTENSIONS = new Set(["jpg", "jpeg", "png", "webp", "gif", "bmp"]);
/** Larger files are skipped before they are read. */
export const MAX_FILE_BYTES = 50 * 1024 * 1024;
const VALIDATION_NAMES = new Set(["val", "valid", "validation"]);

/** Code-point order, as Python sorts ImageFolder's names (not the locale's). */
const byText = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

/** Image formats people have that are not read, with what to do instead. */
const UNREAD_FORMATS = {
  svg: "an SVG drawing: vector images are not read; export it as PNG",
  heic: "a HEIC photo, which browsers cannot decode here: export it as JPEG",
  heif: "a HEIF photo, which browsers cannot decode here: export it as JPEG",
  avif: "an AVIF image, which is not read here: export it as JPEG or PNG",
  tif: "a TIFF image, which is not read here: save it as PNG or JPEG",
  tiff: "a TIFF image, which is not read here: save it as PNG or JPEG",
};

/**
 * Every file under the dropped items, with its path, read recursively, and every folder as
 * `{ path, folder: true }`: a drop lists empty folders (a folder picker never does), which the page
 * names rather than losing a class without a word.
 */
export async function filesFromDrop(dataTransfer) {
  const entries = [...dataTransfer.items].map((item) => item.webkitGetAsEntry?.()).filter(Boolean);
  const files = [];
  const walk = async (entry, prefix) => {
    const path = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isFile) {
      files.push({ file: await new Promise((resolve, reject) => entry.file(resolve, reject)), path });
    } else if (entry.isDirectory) {
      files.push({ path, folder: true });
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
 * ImageFolder's `root/train/<class>/…` + `root/val/<class>/…`. Returns the images to decode, what
 * is skipped with its reason (files, and class folders without an image: empty, or only files that
 * are skipped), the layout found, and the class folders of each class (`classFolders`, label →
 * paths). Hidden files and folders are ignored. The layout comes from the files alone.
 */
export function organise(entries) {
  const visible = entries
    .map((entry) => ({ ...entry, parts: entry.path.split("/").filter(Boolean) }))
    .filter(({ parts }) => !isHidden(parts));
  const files = visible.filter((entry) => !entry.folder);
  // One common root folder with class folders inside, or class folders dropped side by side.
  const roots = new Set(files.map(({ parts }) => parts[0]));
  const depth = roots.size === 1 && files.some(({ parts }) => parts.length > 2) ? 1 : 0;
  const splitLayout = files.some(({ parts }) => {
    const top = (parts[depth] || "").toLowerCase();
    return (top === "train" || VALIDATION_NAMES.has(top)) && parts.length > depth + 2;
  });
  /** Where a path's class folder name is, and its subset; null outside train/ and val/. */
  const place = (parts) => {
    if (!splitLayout) return { subset: null, classIndex: depth };
    const top = (parts[depth] || "").toLowerCase();
    if (top === "train") return { subset: "train", classIndex: depth + 1 };
    if (VALIDATION_NAMES.has(top)) return { subset: "val", classIndex: depth + 1 };
    return null;
  };
  const folders = new Map(); // class folder path → { label, fileCount }
  const classFolder = (parts, classIndex) => {
    const path = parts.slice(0, classIndex + 1).join("/");
    if (!folders.has(path)) folders.set(path, { label: parts[classIndex], fileCount: 0 });
    return folders.get(path);
  };

  const items = [];
  const skipped = [];
  for (const { file, path, parts } of files) {
    const where = place(parts);
    if (!where) { skipped.push({ name: path, reason: "outside train/ and val/ in an ImageFolder layout" }); continue; }
    const { subset, classIndex } = where;
    if (parts.length < classIndex + 2) {
      skipped.push({ name: path, reason: "not inside a class folder: put images in one folder per class" });
      continue;
    }
    classFolder(parts, classIndex).fileCount += 1;
    const reason = fileProblem(file);
    if (reason) skipped.push({ name: path, reason });
    else items.push({ file, name: path, label: parts[classIndex], subset });
  }
  for (const { parts } of visible.filter((entry) => entry.folder)) {
    const where = place(parts);
    if (where && parts.length === where.classIndex + 1) classFolder(parts, where.classIndex);
  }

  // ImageFolder's order (training images, then validation; by class, then path), whatever order
  // the browser listed the files in: the images' indices seed their augmentation and the order,
  // so a ?seed= then repeats a run from any drop or picker, and natively (bench_accuracy).
  const rank = (item) => (item.subset === "val" ? 1 : 0);
  items.sort((a, b) => rank(a) - rank(b) || byText(a.label, b.label) || byText(a.name, b.name));

  const labels = new Set(items.map((item) => item.label));
  const classFolders = new Map();
  for (const [path, { label, fileCount }] of folders) {
    if (labels.has(label)) classFolders.set(label, [...(classFolders.get(label) || []), path]);
    else if (fileCount) skipped.push({ name: path, reason: `no images among its ${fileCount} file(s), so it is not a class` });
    else skipped.push({ name: path, reason: "empty folder: no images, so it is not a class" });
  }
  return { items, skipped, layout: splitLayout ? "imagefolder" : "class-folders", classFolders };
}

/** Why a file in a class folder is not read, from its name and size; null when it is read. */
function fileProblem(file) {
  const ext = extension(file.name);
  if (UNREAD_FORMATS[ext]) return UNREAD_FORMATS[ext];
  if (!IMAGE_EXTENSIONS.has(ext)) return `not an image (${ext ? "." + ext : "no extension"}); JPEG, PNG, WebP, GIF and BMP are read`;
  if (file.size > MAX_FILE_BYTES) return `too large (${(file.size / 1048576).toFixed(0)} MB, limit ${MAX_FILE_BYTES / 1048576} MB)`;
  return null;
}

/**
 * Skipped-list entries for the classes of `classFolders` (from `organise`) that `items` no longer
 * has: every file of theirs was refused when its header was checked. Those classes are removed
 * from `classFolders`, so that each is named once.
 */
export function classesLeftEmpty(classFolders, items) {
  const labels = new Set(items.map((item) => item.label));
  const entries = [];
  for (const [label, paths] of classFolders) {
    if (labels.has(label)) continue;
    classFolders.delete(label);
    for (const name of paths) entries.push({ name, reason: "none of its files could be read as an image, so it is not a class" });
  }
  return entries;
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
  return [...counts.entries()].sort(([a], [b]) => byText(a, b));
}

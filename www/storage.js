// Saved models in IndexedDB: the model file (a Blob) and a small record that describes it (name,
// backbone, classes, accuracy, date, settings and the run's report). Both are written in one
// transaction, so a crash mid-write leaves the previous save intact, never half a model. Runs in
// the worker, which owns the model.
const DB_NAME = "browser-finetune";
const RECORDS = "models"; // id → { id, name, architecture, classes, valAccuracy, epochs, date, size, settings, report }
const FILES = "files"; // id → Blob of the .safetensors export

function open() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => {
      request.result.createObjectStore(RECORDS, { keyPath: "id" });
      request.result.createObjectStore(FILES);
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

/** Runs `work(stores)` in one transaction and resolves with its result once the transaction commits. */
async function transaction(mode, work) {
  const db = await open();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction([RECORDS, FILES], mode);
      let result;
      tx.oncomplete = () => resolve(result);
      tx.onabort = () => reject(tx.error || new Error("the browser aborted the write"));
      tx.onerror = () => {}; // reported by onabort
      const request = (r) => new Promise((done) => { r.onsuccess = () => done(r.result); });
      Promise.resolve(work({ records: tx.objectStore(RECORDS), files: tx.objectStore(FILES), request }))
        .then((value) => { result = value; }, (err) => { reject(err); tx.abort(); });
    });
  } finally {
    db.close();
  }
}

/** True for the error a full disk or an exhausted origin quota gives. */
export const isQuotaError = (err) => err?.name === "QuotaExceededError" || /quota/i.test(err?.message || "");

/** Saves (or replaces) a model and its record atomically. */
export function saveModel(record, bytes) {
  const blob = new Blob([bytes], { type: "application/octet-stream" });
  return transaction("readwrite", ({ records, files }) => {
    files.put(blob, record.id);
    records.put(record);
  });
}

/** The records of every saved model, newest first. */
export async function listModels() {
  const all = await transaction("readonly", ({ records, request }) => request(records.getAll()));
  return all.sort((a, b) => (b.date > a.date ? 1 : b.date < a.date ? -1 : 0));
}

/** A saved model's record and file bytes. */
export async function loadModel(id) {
  const [record, blob] = await transaction("readonly", ({ records, files, request }) =>
    Promise.all([request(records.get(id)), request(files.get(id))]));
  if (!record || !blob) throw new Error(`the saved model ${id} is no longer in this browser's storage`);
  return { record, bytes: new Uint8Array(await blob.arrayBuffer()) };
}

export function deleteModel(id) {
  return transaction("readwrite", ({ records, files }) => {
    records.delete(id);
    files.delete(id);
  });
}

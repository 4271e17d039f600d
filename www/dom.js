// Small DOM helpers shared by the page's modules. Text always goes in as text, never as HTML.
export const $ = (id) => document.getElementById(id);

export const percent = (x) => (x == null ? "–" : `${(x * 100).toFixed(1)} %`);

export function setText(id, text, isError = false) {
  const el = $(id);
  el.textContent = text;
  el.classList.toggle("error", isError);
}

export function element(tag, props = {}, children = []) {
  const el = Object.assign(document.createElement(tag), props);
  for (const child of children) el.append(child);
  return el;
}

export function thumbnail(file, title) {
  const img = element("img", { alt: title, title, loading: "lazy", decoding: "async" });
  img.src = URL.createObjectURL(file);
  return img;
}

/** Makes `zone` accept drops (highlighted while dragged over); `onDrop` gets the DataTransfer. */
export function dropTarget(zone, onDrop) {
  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    onDrop(event.dataTransfer);
  });
}

// The images section's views: the classes found, with counts and thumbnails, and the files and
// folders skipped, with why. The page (main.js) decides what to show; these only draw it.
import { classCounts } from "./intake.js";
import { $, element, setText, thumbnail } from "./dom.js";

/** Lists skipped files and class folders with the reason. */
export function addSkipped(entries) {
  if (!entries.length) return;
  const list = $("skipped");
  for (const { name, reason } of entries) {
    list.append(element("li", {}, [element("code", { textContent: name }), ` — ${reason}`]));
  }
  $("skipped-details").hidden = false;
  setText("skipped-summary", `${list.children.length} skipped`);
}

export function clearSkipped() {
  $("skipped").replaceChildren();
  $("skipped-details").hidden = true;
}

/** The class table: each class with its count (split when the folders said) and four thumbnails. */
export function renderClasses(items) {
  const body = $("classes").tBodies[0];
  body.replaceChildren();
  for (const [label, counts] of classCounts(items)) {
    const examples = items.filter((item) => item.label === label).slice(0, 4);
    const count = counts.train + counts.val ? `${counts.total} (${counts.train} train, ${counts.val} val)` : `${counts.total}`;
    body.append(element("tr", {}, [
      element("td", { textContent: label }),
      element("td", { textContent: count }),
      element("td", {}, examples.map((item) => thumbnail(item.file, item.name))),
    ]));
  }
}

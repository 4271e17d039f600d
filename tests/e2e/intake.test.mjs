// The folder-layout rules of www/intake.js, on file lists as the browser reports them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { classCounts, organise } from "../../www/intake.js";

const files = (...paths) => paths.map((path) => ({ path, file: { name: path.split("/").pop(), size: 1000 } }));

test("a root folder of class folders, read recursively; hidden and non-image files handled", () => {
  const { items, skipped, layout } = organise(files(
    "pets/cats/a.jpg", "pets/cats/deep/b.PNG", "pets/dogs/c.webp", "pets/dogs/.hidden.jpg",
    "pets/.DS_Store", "pets/__MACOSX/cats/x.jpg", "pets/dogs/readme.txt", "pets/loose.jpg",
  ));
  assert.equal(layout, "class-folders");
  assert.deepEqual(items.map((i) => [i.name, i.label, i.subset]), [
    ["pets/cats/a.jpg", "cats", null], ["pets/cats/deep/b.PNG", "cats", null], ["pets/dogs/c.webp", "dogs", null],
  ]);
  assert.deepEqual(skipped.map((s) => s.name), ["pets/dogs/readme.txt", "pets/loose.jpg"]);
  assert.match(skipped[0].reason, /not an image \(\.txt\)/);
  assert.match(skipped[1].reason, /not inside a class folder/);
});

test("class folders dropped side by side", () => {
  const { items } = organise(files("cats/a.jpg", "dogs/b.jpg", "dogs/c.jpg"));
  assert.deepEqual(classCounts(items).map(([label, c]) => [label, c.total]), [["cats", 1], ["dogs", 2]]);
});

test("ImageFolder train/ and val/ keep their split", () => {
  const { items, layout } = organise(files(
    "hymenoptera/train/ants/1.jpg", "hymenoptera/train/bees/2.jpg", "hymenoptera/val/ants/3.jpg", "hymenoptera/VAL/bees/4.jpg",
  ));
  assert.equal(layout, "imagefolder");
  assert.deepEqual(items.map((i) => [i.label, i.subset]), [["ants", "train"], ["bees", "train"], ["ants", "val"], ["bees", "val"]]);
});

test("files over the size limit are skipped with their size", () => {
  const [big] = files("a/cats/huge.jpg");
  big.file.size = 80 * 1024 * 1024;
  const { items, skipped } = organise([big, ...files("a/dogs/ok.jpg")]);
  assert.equal(items.length, 1);
  assert.match(skipped[0].reason, /too large \(80 MB, limit 50 MB\)/);
});

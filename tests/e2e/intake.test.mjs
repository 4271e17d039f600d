// The folder-layout rules of www/intake.js, on file lists as the browser reports them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { classCounts, classesLeftEmpty, filesFromDrop, organise } from "../../www/intake.js";

const files = (...paths) => paths.map((path) => ({ path, file: { name: path.split("/").pop(), size: 1000 } }));
const folders = (...paths) => paths.map((path) => ({ path, folder: true }));

/** A dropped folder as the browser's entries API gives it: `tree` maps names to a file (a string) or a folder (an object). */
function entry(name, tree) {
  if (typeof tree === "string") return { name, isFile: true, isDirectory: false, file: (resolve) => resolve({ name, size: tree.length }) };
  // Entries come back two at a time, as a large folder's come back in batches.
  const children = Object.entries(tree).map(([child, subtree]) => entry(child, subtree));
  const createReader = () => {
    let next = 0;
    return { readEntries: (resolve) => { resolve(children.slice(next, next + 2)); next += 2; } };
  };
  return { name, isFile: false, isDirectory: true, createReader };
}

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

test("images come in ImageFolder's order, whatever order the browser listed them in", () => {
  const { items } = organise(files(
    "h/val/bees/9.jpg", "h/train/bees/2.jpg", "h/val/ants/8.jpg", "h/train/ants/b.jpg", "h/train/ants/a.jpg",
  ));
  assert.deepEqual(items.map((i) => i.name), [
    "h/train/ants/a.jpg", "h/train/ants/b.jpg", "h/train/bees/2.jpg", "h/val/ants/8.jpg", "h/val/bees/9.jpg",
  ]);
});

test("files over the size limit are skipped with their size", () => {
  const [big] = files("a/cats/huge.jpg");
  big.file.size = 80 * 1024 * 1024;
  const { items, skipped } = organise([big, ...files("a/dogs/ok.jpg")]);
  assert.equal(items.length, 1);
  assert.match(skipped[0].reason, /too large \(80 MB, limit 50 MB\)/);
});

test("a drop lists every file and folder, empty ones included, in batches", async () => {
  const dropped = entry("pets", { cats: { "a.jpg": "x", "b.jpg": "y", "c.jpg": "z" }, empty: {}, dogs: { deep: { "d.png": "w" } } });
  const listed = await filesFromDrop({ items: [{ webkitGetAsEntry: () => dropped }] });
  assert.deepEqual(listed.map(({ path, folder }) => (folder ? `${path}/` : path)), [
    "pets/", "pets/cats/", "pets/cats/a.jpg", "pets/cats/b.jpg", "pets/cats/c.jpg", "pets/empty/", "pets/dogs/", "pets/dogs/deep/", "pets/dogs/deep/d.png",
  ]);
});

test("a class folder without images is named: empty, hidden files only, or only files that are skipped", () => {
  const { items, skipped, classFolders } = organise([
    ...folders("pets", "pets/cats", "pets/empty", "pets/mac", "pets/notes", "pets/.git", "pets/cats/sub"),
    ...files("pets/cats/a.jpg", "pets/mac/.DS_Store", "pets/notes/list.txt", "pets/notes/todo.md", "pets/.git/HEAD"),
  ]);
  assert.deepEqual(items.map((i) => i.label), ["cats"]);
  assert.deepEqual(skipped.map((s) => [s.name, s.reason]), [
    ["pets/notes/list.txt", "not an image (.txt); JPEG, PNG, WebP, GIF and BMP are read"],
    ["pets/notes/todo.md", "not an image (.md); JPEG, PNG, WebP, GIF and BMP are read"],
    ["pets/notes", "no images among its 2 file(s), so it is not a class"],
    ["pets/empty", "empty folder: no images, so it is not a class"],
    ["pets/mac", "empty folder: no images, so it is not a class"],
  ]);
  assert.deepEqual([...classFolders], [["cats", ["pets/cats"]]]);
});

test("empty class folders side by side and in an ImageFolder layout; folders do not change the layout", () => {
  const sideBySide = organise([...folders("cats", "dogs", "cats/sub"), ...files("cats/a.jpg")]);
  assert.deepEqual(sideBySide.items.map((i) => i.label), ["cats"]);
  assert.deepEqual(sideBySide.skipped.map((s) => s.name), ["dogs"]);
  const split = organise([
    ...folders("h/train/ants", "h/train/bees", "h/val/ants", "h/val/bees", "h/val/wasps", "h/test"),
    ...files("h/train/ants/1.jpg", "h/train/bees/2.jpg", "h/val/ants/3.jpg"),
  ]);
  assert.equal(split.layout, "imagefolder");
  // val/bees is empty but bees has training images: a class, no message.
  assert.deepEqual(split.skipped.map((s) => [s.name, s.reason]), [["h/val/wasps", "empty folder: no images, so it is not a class"]]);
  assert.deepEqual([...split.classFolders], [["ants", ["h/train/ants", "h/val/ants"]], ["bees", ["h/train/bees", "h/val/bees"]]]);
});

test("a class whose every file fails its header check is named once", () => {
  const { items, classFolders } = organise(files("p/cats/a.jpg", "p/dogs/b.jpg", "p/dogs/c.jpg"));
  const kept = items.filter((item) => item.label === "cats");
  assert.deepEqual(classesLeftEmpty(classFolders, kept), [{ name: "p/dogs", reason: "none of its files could be read as an image, so it is not a class" }]);
  assert.deepEqual(classesLeftEmpty(classFolders, kept), []);
});

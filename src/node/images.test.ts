import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { imageRepository, parseImageTable, resolveImage } from "./images.ts";

const table = parseImageTable(
  `images:
  - {name: python, root: /}
  - name: updraft/runtime-*
    root: /
    binds: [{hostPath: "\${REPO}", path: /app}]
`,
  { REPO: "/src/updraft" },
);

describe("image table", () => {
  const cases: Array<[string, string]> = [
    ["python:3.12-slim", "python"],
    ["docker.io/library/python:3.12", "python"],
    ["python@sha256:abc", "python"],
    ["localhost:5000/app:1", "localhost:5000/app"],
    ["updraft/runtime-nodejs24:0.1.0", "updraft/runtime-nodejs24"],
  ];
  for (const [image, repo] of cases)
    it(`${image} is repository ${repo}`, () => assert.equal(imageRepository(image), repo));
  it("matches names with any tag, and prefixes ending in *", () => {
    assert.equal(resolveImage(table, "python:3.11")?.name, "python");
    assert.equal(resolveImage(table, "updraft/runtime-python3.12:0.1.0")?.binds[0]?.hostPath, "/src/updraft");
  });
  it("an image not in the table is not found (a failed pull)", () => {
    assert.equal(resolveImage(table, "example.com/unknown:1"), undefined);
    assert.equal(resolveImage(table, "pythonista:1"), undefined);
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { tailLines } from "./logs.ts";

describe("tailLines", () => {
  it("keeps the last n lines", () => assert.equal(tailLines("a\nb\nc\n", 2), "b\nc\n"));
  it("n larger than the file keeps it all", () => assert.equal(tailLines("a\nb\n", 5), "a\nb\n"));
  it("zero lines is empty", () => assert.equal(tailLines("a\n", 0), ""));
  it("an empty file stays empty", () => assert.equal(tailLines("", 3), ""));
});

import assert from "node:assert/strict";
import { test } from "node:test";
import { PNG } from "pngjs";
import {
  type Chart,
  chartDomain,
  niceStep,
  plotArea,
  type Rgb,
  renderChart,
  toPixel,
} from "../../bench/chart.ts";

const RED: Rgb = [255, 0, 0];
const BLUE: Rgb = [0, 0, 255];

function decode(chart: Chart) {
  const png = PNG.sync.read(renderChart(chart));
  const at = (x: number, y: number): number[] => [
    ...png.data.subarray((y * png.width + x) * 4, (y * png.width + x) * 4 + 4),
  ];
  const count = (c: Rgb, x0: number, y0: number, x1: number, y1: number): number => {
    let n = 0;
    for (let y = y0; y < y1; y++)
      for (let x = x0; x < x1; x++) if (at(x, y).slice(0, 3).join() === c.join()) n++;
    return n;
  };
  return { png, at, count };
}

const flat: Chart = {
  title: "Load over time",
  xLabel: "time (s)",
  yLabel: "instances",
  yMax: 10,
  series: [
    {
      name: "load",
      color: RED,
      points: [
        [0, 5],
        [10, 5],
      ],
    },
  ],
};

test("default size is 1000×500 and the background is opaque white", () => {
  const { png, at } = decode(flat);
  assert.equal(png.width, 1000);
  assert.equal(png.height, 500);
  assert.deepEqual(at(0, 0), [255, 255, 255, 255]);
  assert.deepEqual(at(999, 499), [255, 255, 255, 255]);
});

test("honours width and height", () => {
  const { png } = decode({ ...flat, width: 640, height: 360 });
  assert.equal(png.width, 640);
  assert.equal(png.height, 360);
});

test("a constant series is drawn at its value across the plot area", () => {
  const { png, at } = decode(flat);
  const area = plotArea(png.width, png.height);
  const dom = chartDomain(flat);
  assert.deepEqual(dom, { xMin: 0, xMax: 10, yMax: 10 });
  for (const x of [1, 3.3, 5, 9]) {
    const [px, py] = toPixel(area, dom, x, 5);
    assert.equal(py, Math.round((area.top + area.bottom) / 2));
    assert.deepEqual(at(px, py), [...RED, 255], `x=${x}`);
    assert.deepEqual(at(px, py + 1), [...RED, 255], "lines are 2 px thick");
    assert.notDeepEqual(at(px, py - 20), [...RED, 255]);
  }
});

test("a step series holds its value and rises vertically at the next point", () => {
  const points: Array<[number, number]> = [
    [0, 2],
    [5, 8],
    [10, 8],
  ];
  const chart = (step: boolean): Chart => ({
    ...flat,
    series: [{ name: "ready", color: BLUE, points, step }],
  });
  const stepped = decode(chart(true));
  const area = plotArea(1000, 500);
  const dom = chartDomain(chart(true));
  const blue = [...BLUE, 255];
  for (const y of [3, 5, 7]) {
    const [px, py] = toPixel(area, dom, 5, y);
    assert.deepEqual(stepped.at(px, py), blue, `vertical segment at x=5, y=${y}`);
  }
  // Held at 2 until x=5: no sloped line through (2.5, 5).
  assert.deepEqual(stepped.at(...toPixel(area, dom, 4, 2)), blue);
  assert.notDeepEqual(stepped.at(...toPixel(area, dom, 2.5, 5)), blue);
  // The same points without `step` are joined by a slope instead.
  const sloped = decode(chart(false));
  assert.deepEqual(sloped.at(...toPixel(area, dom, 2.5, 5)), blue);
  assert.notDeepEqual(sloped.at(...toPixel(area, dom, 5, 3)), blue);
});

test("draws title, tick labels, legend swatches and clips data above yMax", () => {
  const chart: Chart = {
    ...flat,
    series: [
      { name: "load", color: RED, points: flat.series[0]!.points },
      {
        name: "desired",
        color: BLUE,
        points: [
          [0, 1],
          [10, 50],
        ],
      },
    ],
  };
  const { png, count } = decode(chart);
  const area = plotArea(png.width, png.height);
  assert.ok(count([0, 0, 0], 0, 0, png.width, 30) > 50, "title pixels");
  assert.ok(count(RED, 0, 30, png.width, area.top) > 0, "red legend swatch");
  assert.ok(count(BLUE, 0, 30, png.width, area.top) > 0, "blue legend swatch");
  assert.ok(count([0, 0, 0], 0, area.top, area.left - 8, area.bottom) > 50, "y tick labels");
  assert.ok(count([0, 0, 0], area.left, area.bottom + 8, png.width, png.height - 24) > 50, "x tick labels");
  // "desired" climbs to 50 with yMax 10: drawn up to the top edge, cut off above it.
  assert.ok(count(BLUE, area.left, area.top, area.left + 100, area.bottom) > 100, "line below yMax");
  assert.equal(count(BLUE, 0, 0, png.width, 40), 0, "nothing above the legend swatch");
  assert.equal(count(BLUE, 0, 45, png.width, area.top), 0, "nothing between legend and plot");
});

test("nice tick steps and an automatic yMax on a round tick", () => {
  assert.equal(niceStep(10), 2);
  assert.equal(niceStep(100), 20);
  assert.equal(niceStep(13), 2.5);
  assert.equal(niceStep(0.6), 0.1);
  assert.equal(
    chartDomain({ ...flat, yMax: undefined, series: [{ ...flat.series[0]!, points: [[0, 37]] }] }).yMax,
    40,
  );
});

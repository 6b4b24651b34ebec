/**
 * PNG line charts for the scaling benches ("load, desired and ready instances over time").
 * Rasterised by hand onto an RGBA buffer and encoded with pngjs, so a bench needs no browser,
 * canvas or native module: the charts can be drawn on a CI runner or next to a kind cluster.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { PNG } from "pngjs";

export type Rgb = [number, number, number];
export interface Series {
  name: string;
  color: Rgb;
  points: Array<[number, number]>;
  /** Hold each value until the next point: instance counts change in steps, not along slopes. */
  step?: boolean;
}
export interface Chart {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  width?: number;
  height?: number;
  yMax?: number;
}
export interface Area {
  left: number;
  top: number;
  right: number;
  bottom: number;
}
/** Data range shown: the y axis always starts at 0 because the benches plot counts and rates. */
export interface Domain {
  xMin: number;
  xMax: number;
  yMax: number;
}

const WHITE: Rgb = [255, 255, 255];
const BLACK: Rgb = [0, 0, 0];
const GRID: Rgb = [225, 225, 225];
const SCALE = 2; // 5×7 glyphs are unreadable at 1×
const CHAR_W = 6 * SCALE; // 5 px glyph + 1 px gap
const CHAR_H = 7 * SCALE;

/**
 * 5×7 bitmap font: 7 rows of 2 hex digits each, bit 4 is the leftmost column. Embedded rather than
 * loading a TTF, which would need a font file and a text shaper. Lower case is drawn as upper case.
 */
// biome-ignore format: one glyph per line would make the table 50 lines long
const FONT: Record<string, string> = {
  "0": "0E11131519110E", "1": "040C040404040E", "2": "0E11010204081F", "3": "1F02040201110E",
  "4": "02060A121F0202", "5": "1F101E0101110E", "6": "0608101E11110E", "7": "1F010204080808",
  "8": "0E11110E11110E", "9": "0E11110F01020C", A: "0E11111F111111", B: "1E11111E11111E",
  C: "0E11101010110E", D: "1C12111111121C", E: "1F10101E10101F", F: "1F10101E101010",
  G: "0E11101711110F", H: "1111111F111111", I: "0E04040404040E", J: "0702020202120C",
  K: "11121418141211", L: "1010101010101F", M: "111B1515111111", N: "11111915131111",
  O: "0E11111111110E", P: "1E11111E101010", Q: "0E11111115120D", R: "1E11111E141211",
  S: "0F10100E01011E", T: "1F040404040404", U: "1111111111110E", V: "11111111110A04",
  W: "1111111515150A", X: "11110A040A1111", Y: "1111110A040404", Z: "1F01020408101F",
  " ": "00000000000000", ".": "00000000000C0C", ",": "000000000C0408", ":": "000C0C000C0C00",
  "-": "0000001F000000", _: "0000000000001F", "/": "01010204081010",
  "(": "02040808080402", ")": "08040202020408", "×": "00110A040A1100", "%": "18190204081303",
  "=": "00001F001F0000", "+": "0004041F040400", "?": "0E110102040004",
};

/** Where the data goes; margins leave room for the title, legend, tick labels and axis labels. */
export function plotArea(width: number, height: number): Area {
  return { left: 100, top: 64, right: width - 30, bottom: height - 56 };
}

/** Maps a data point to the integer pixel it is drawn on (y grows downwards in the image). */
export function toPixel(area: Area, domain: Domain, x: number, y: number): [number, number] {
  const px = area.left + ((x - domain.xMin) / (domain.xMax - domain.xMin)) * (area.right - area.left);
  const py = area.bottom - (y / domain.yMax) * (area.bottom - area.top);
  return [Math.round(px), Math.round(py)];
}

/** Tick spacing of 1, 2, 2.5 or 5 × 10^n giving about `target` ticks: labels stay short and round. */
export function niceStep(range: number, target = 6): number {
  const raw = range / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  return (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 2.5 ? 2.5 : norm <= 5 ? 5 : 10) * mag;
}

/** x spans the data exactly (bench time); y runs to `yMax` or to the first round tick above the data. */
export function chartDomain(chart: Chart): Domain {
  const pts = chart.series
    .flatMap((s) => s.points)
    .filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  let xMin = Math.min(...pts.map((p) => p[0]));
  let xMax = Math.max(...pts.map((p) => p[0]));
  if (!Number.isFinite(xMin)) [xMin, xMax] = [0, 1];
  if (xMax <= xMin) xMax = xMin + 1;
  let yMax = chart.yMax ?? Math.max(0, ...pts.map((p) => p[1]));
  if (chart.yMax === undefined) yMax = yMax > 0 ? Math.ceil(yMax / niceStep(yMax)) * niceStep(yMax) : 1;
  return { xMin, xMax, yMax: yMax > 0 ? yMax : 1 };
}

function ticks(min: number, max: number): number[] {
  const step = niceStep(max - min);
  const out: number[] = [];
  // toPrecision drops float noise such as 0.30000000000000004 from the labels.
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step)
    out.push(Number(v.toPrecision(12)));
  return out;
}

/** A clip rectangle keeps series inside the plot when data exceeds a fixed `yMax`. */
class Canvas {
  readonly png: PNG;
  constructor(width: number, height: number) {
    this.png = new PNG({ width, height });
    for (let i = 0; i < this.png.data.length; i += 4) {
      this.png.data.set([...WHITE, 255], i);
    }
  }
  set(x: number, y: number, c: Rgb, clip?: Area): void {
    if (clip && (x < clip.left || x > clip.right || y < clip.top || y > clip.bottom)) return;
    if (x < 0 || y < 0 || x >= this.png.width || y >= this.png.height) return;
    this.png.data.set(c, (y * this.png.width + x) * 4);
  }
  rect(x: number, y: number, w: number, h: number, c: Rgb, clip?: Area): void {
    for (let j = 0; j < h; j++) for (let i = 0; i < w; i++) this.set(x + i, y + j, c, clip);
  }
  /** Bresenham with a 2×2 pen: 1 px lines vanish when the PNG is scaled down in a report. */
  line(x0: number, y0: number, x1: number, y1: number, c: Rgb, clip?: Area): void {
    const dx = Math.abs(x1 - x0);
    const dy = -Math.abs(y1 - y0);
    const sx = x0 < x1 ? 1 : -1;
    const sy = y0 < y1 ? 1 : -1;
    let err = dx + dy;
    for (;;) {
      this.rect(x0, y0, 2, 2, c, clip);
      if (x0 === x1 && y0 === y1) return;
      const e2 = 2 * err;
      if (e2 >= dy) {
        err += dy;
        x0 += sx;
      }
      if (e2 <= dx) {
        err += dx;
        y0 += sy;
      }
    }
  }
  /** Text with its top-left at (x, y); `up` draws it rotated to read bottom to top from (x, y). */
  text(s: string, x: number, y: number, c: Rgb, up = false): void {
    [...s].forEach((ch, k) => {
      const glyph = FONT[ch] ?? FONT[ch.toUpperCase()] ?? FONT["?"]!;
      for (let row = 0; row < 7; row++) {
        const bits = Number.parseInt(glyph.slice(row * 2, row * 2 + 2), 16);
        for (let col = 0; col < 5; col++) {
          if (!(bits & (0x10 >> col))) continue;
          const u = k * CHAR_W + col * SCALE; // along the text
          const v = row * SCALE; // across it
          if (up) this.rect(x + v, y - u - SCALE, SCALE, SCALE, c);
          else this.rect(x + u, y + v, SCALE, SCALE, c);
        }
      }
    });
  }
}

const textWidth = (s: string): number => s.length * CHAR_W - SCALE;

/** Draws the chart into PNG bytes. Pure (no I/O) so it can be unit-tested and called from any bench. */
export function renderChart(chart: Chart): Buffer {
  const width = chart.width ?? 1000;
  const height = chart.height ?? 500;
  const cv = new Canvas(width, height);
  const area = plotArea(width, height);
  const dom = chartDomain(chart);

  cv.text(chart.title, Math.round((width - textWidth(chart.title)) / 2), 10, BLACK);
  // Legend in one row under the title, so it never hides data.
  let lx = area.left;
  for (const s of chart.series) {
    cv.rect(lx, 40, 24, 4, s.color);
    cv.text(s.name, lx + 30, 35, BLACK);
    lx += 30 + textWidth(s.name) + 24;
  }

  // Grid and tick labels first, so series are drawn over them.
  for (const t of ticks(0, dom.yMax)) {
    const [, py] = toPixel(area, dom, dom.xMin, t);
    cv.line(area.left, py, area.right, py, GRID);
    cv.rect(area.left - 6, py, 6, 2, BLACK);
    const label = String(t);
    cv.text(label, area.left - 10 - textWidth(label), py - CHAR_H / 2, BLACK);
  }
  for (const t of ticks(dom.xMin, dom.xMax)) {
    const [px] = toPixel(area, dom, t, 0);
    cv.line(px, area.top, px, area.bottom, GRID);
    cv.rect(px, area.bottom, 2, 6, BLACK);
    const label = String(t);
    cv.text(label, px - Math.round(textWidth(label) / 2), area.bottom + 10, BLACK);
  }
  cv.line(area.left, area.top, area.left, area.bottom, BLACK);
  cv.line(area.left, area.bottom, area.right, area.bottom, BLACK);
  cv.text(
    chart.xLabel,
    Math.round((area.left + area.right - textWidth(chart.xLabel)) / 2),
    height - 22,
    BLACK,
  );
  cv.text(chart.yLabel, 12, Math.round((area.top + area.bottom + textWidth(chart.yLabel)) / 2), BLACK, true);

  for (const s of chart.series) {
    const pts = s.points
      .filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y))
      .map(([x, y]) => toPixel(area, dom, x, y));
    if (pts.length === 1) cv.rect(pts[0]![0], pts[0]![1], 2, 2, s.color, area);
    for (let i = 1; i < pts.length; i++) {
      const [x0, y0] = pts[i - 1]!;
      const [x1, y1] = pts[i]!;
      if (s.step) {
        cv.line(x0, y0, x1, y0, s.color, area);
        cv.line(x1, y0, x1, y1, s.color, area);
      } else cv.line(x0, y0, x1, y1, s.color, area);
    }
  }
  return PNG.sync.write(cv.png);
}

export function writeChartPng(path: string, chart: Chart): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, renderChart(chart));
}

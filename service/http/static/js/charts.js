// Charts drawn as SVG: shares as bars, auto mode's trade-off curve, latency distributions.
// Every chart has a title and a text description for screen readers.

import { fmt, h, newId, s } from "./dom.js";

//
// Each SVG is drawn at its figure's real width, one unit a CSS pixel, so that its text keeps the
// size the stylesheet gives it (12 px) on a laptop and on a phone; it is drawn again when the width
// changes (a turned phone, a resized window).

/** The width a chart is drawn at before the page has laid it out. */
const FIRST_WIDTH = 720;

/**
 * A figure whose chart fills its box: ``draw(width)`` returns {svg, desc} drawn at that width.
 * ``note``: a sentence under the chart (null: none).
 */
function figure(title, draw, legend, note) {
  const titleId = newId("chart-title");
  const fig = h("figure", { class: "chart" });
  const caption = h("figcaption", {}, title, legend || null);
  let width = 0;
  let svgEl = null;
  const paint = (w) => {
    const at = Math.max(260, Math.floor(w));
    if (Math.abs(at - width) < 2) return;
    width = at;
    const drawn = draw(at);
    drawn.svg.setAttribute("role", "img");
    drawn.svg.setAttribute("aria-labelledby", titleId);
    drawn.svg.dataset.width = String(at);
    drawn.svg.prepend(s("title", { id: titleId }, title), s("desc", {}, drawn.desc));
    if (svgEl) svgEl.replaceWith(drawn.svg);
    else fig.prepend(drawn.svg);
    svgEl = drawn.svg;
  };
  paint(FIRST_WIDTH);
  fig.append(caption);
  if (note) fig.append(h("p", { class: "chart-note" }, note));
  if (typeof ResizeObserver !== "undefined") {
    // drawn on the next frame: a redraw inside the observer's callback would be a resize loop
    new ResizeObserver((entries) => {
      const w = entries[0].contentRect.width;
      if (w > 0) requestAnimationFrame(() => paint(w));
    }).observe(fig);
  }
  return fig;
}

function shorten(text, max) {
  return text.length > max ? `…${text.slice(text.length - max + 1)}` : text;
}

/** About how many characters of 12 px text fit in `px` pixels. */
const charsIn = (px) => Math.max(6, Math.floor(px / 7));

/** Horizontal bars: rows of {label, value}; each bar's length is its share of the total. */
export function shareBars(title, rows) {
  const total = rows.reduce((acc, r) => acc + (r.value || 0), 0) || 1;
  const desc = rows.map((r) => `${r.label} ${fmt.pct((r.value || 0) / total)}`).join("; ");
  return figure(title, (width) => {
    const rowH = 24;
    const labelW = Math.min(200, Math.round(width * 0.34));
    const barW = width - labelW - 56;
    const svgEl = s("svg", { viewBox: `0 0 ${width} ${rows.length * rowH + 8}`, class: "bars" });
    rows.forEach((r, i) => {
      const share = (r.value || 0) / total;
      const y = 4 + i * rowH;
      svgEl.append(
        s("text", { x: labelW - 8, y: y + 16, "text-anchor": "end", class: "axis-label" }, shorten(r.label, charsIn(labelW - 8))),
        s("rect", { x: labelW, y: y + 4, width: barW, height: rowH - 9, class: "bar-bg" }),
        s("rect", { x: labelW, y: y + 4, width: Math.max(share * barW, 1), height: rowH - 9, class: "bar" },
          s("title", {}, `${r.label}: ${fmt.pct(share)}`)),
        s("text", { x: labelW + barW + 6, y: y + 16, class: "axis-label" }, fmt.pct(share)));
    });
    return { svg: svgEl, desc };
  });
}

function logScale(lo, hi, a, b) {
  const l0 = Math.log10(lo);
  const l1 = Math.log10(hi);
  return (v) => a + ((Math.log10(Math.max(v, lo)) - l0) / (l1 - l0 || 1)) * (b - a);
}

function linScale(lo, hi, a, b) {
  return (v) => a + ((v - lo) / (hi - lo || 1)) * (b - a);
}

/** Ticks of a log axis: each power of ten, and 2 and 5 times it where the axis spans few decades. */
function logTicks(lo, hi, room) {
  const decades = Math.log10(hi / lo);
  const steps = decades <= room / 3 ? [1, 2, 5] : [1];
  const out = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e += 1) {
    for (const k of steps) {
      const v = Number((k * 10 ** e).toPrecision(3));
      if (v >= lo * 0.999 && v <= hi * 1.001) out.push(v);
    }
  }
  return out;
}

function axes(svgEl, box, xTicks, yTicks, xLabel, yLabel) {
  const { x0, x1, y0, y1, sx, sy } = box;
  svgEl.append(s("line", { x1: x0, y1: y1, x2: x1, y2: y1, class: "axis" }),
    s("line", { x1: x0, y1: y0, x2: x0, y2: y1, class: "axis" }));
  for (const t of xTicks.ticks) {
    svgEl.append(s("line", { x1: sx(t), y1: y0, x2: sx(t), y2: y1, class: "grid" }),
      s("text", { x: sx(t), y: y1 + 17, "text-anchor": "middle", class: "axis-label x-tick" }, xTicks.label(t)));
  }
  for (const t of yTicks.ticks) {
    svgEl.append(s("line", { x1: x0, y1: sy(t), x2: x1, y2: sy(t), class: "grid" }),
      s("text", { x: x0 - 6, y: sy(t) + 4, "text-anchor": "end", class: "axis-label y-tick" }, yTicks.label(t)));
  }
  svgEl.append(s("text", { x: (x0 + x1) / 2, y: y1 + 38, "text-anchor": "middle", class: "axis-title" }, xLabel),
    s("text", { x: 15, y: (y0 + y1) / 2, "text-anchor": "middle", class: "axis-title",
      transform: `rotate(-90 15 ${(y0 + y1) / 2})` }, yLabel));
}

function star(cx, cy, r) {
  const pts = [];
  for (let k = 0; k < 10; k += 1) {
    const rad = k % 2 ? r * 0.45 : r;
    const a = -Math.PI / 2 + (k * Math.PI) / 5;
    pts.push(`${(cx + rad * Math.cos(a)).toFixed(1)},${(cy + rad * Math.sin(a)).toFixed(1)}`);
  }
  return pts.join(" ");
}

/** Where the chosen point sits: its held-out error and measured latency, else its step on the path;
 * and the path's own estimate at that step. */
function chosenPoint(auto, curve) {
  const c = auto.chosen;
  if (!c) return null;
  const onPath = curve.find((r) => r.step === c.step) || null;
  const err = c.held_out_error ?? (onPath ? onPath.estimated_error : null);
  const lat = c.measured_latency_ratio ?? c.predicted_latency_ratio;
  return err === null || lat === null || lat === undefined ? null : { err, lat, step: c.step, onPath };
}

/** Is the measured chosen point far from the path's estimate at its step (twice the error, or 0.1 of the latency)? */
function farFromEstimate(chosen) {
  const p = chosen && chosen.onPath;
  if (!p || !(p.estimated_error > 0) || !(chosen.err > 0)) return false;
  const ratio = chosen.err / p.estimated_error;
  return ratio > 2 || ratio < 0.5 || Math.abs(chosen.lat - p.predicted_latency_ratio) > 0.1;
}

function tradeoffMarks(svgEl, box, curve, chosen) {
  const path = [[box.sx(1), box.sy(box.lo)], ...curve.map((c) => [box.sx(c.predicted_latency_ratio), box.sy(c.estimated_error)])];
  svgEl.append(s("polyline", { points: path.map((p) => p.join(",")).join(" "), class: "path" }));
  for (const c of curve) {
    const estimate = chosen && c.step === chosen.step;
    svgEl.append(s("circle", { cx: box.sx(c.predicted_latency_ratio), cy: box.sy(c.estimated_error), r: estimate ? 5 : 3.5,
      class: estimate ? "point on-chosen" : "point", "data-step": c.step },
    s("title", {}, `step ${c.step}: ${c.layer} → ${c.candidate}, predicted latency ${fmt.ratio(c.predicted_latency_ratio)}, `
      + `estimated error ${fmt.num(c.estimated_error)}${estimate ? " (the chosen step's estimate)" : ""}`)));
    if (c.fit_error !== null && c.fit_error !== undefined) {
      svgEl.append(s("circle", { cx: box.sx(c.predicted_latency_ratio), cy: box.sy(c.fit_error), r: 5.5, class: "fit" },
        s("title", {}, `step ${c.step} converted and refit: error ${fmt.num(c.fit_error)} on the fitting data`)));
    }
  }
  if (chosen) {
    svgEl.append(s("polygon", { points: star(box.sx(chosen.lat), box.sy(chosen.err), 10), class: "chosen" },
      s("title", {}, `chosen (step ${chosen.step}): held-out error ${fmt.num(chosen.err)}, measured latency ${fmt.ratio(chosen.lat)}`)));
  }
}

/** The trade-off's legend: a key for each kind of mark the chart draws, and only those. */
function tradeoffLegend(curve, chosen, budget) {
  const key = (cls, text) => h("span", { class: cls, "data-key": cls }, text);
  return h("span", { class: "legend" },
    curve.length ? key("key-path", "search path (estimated error, predicted latency)") : null,
    chosen && chosen.onPath ? key("key-estimate", "the chosen step on the path (its estimate)") : null,
    curve.some((c) => c.fit_error !== null && c.fit_error !== undefined) ? key("key-fit", "converted and refit (fitting data)")
      : null,
    chosen ? key("key-chosen", "chosen (held-out error, measured latency)") : null,
    budget ? key("key-budget", `error budget ${budget}`) : null);
}

/**
 * Auto mode's trade-off: the search path (estimated output error against predicted latency ratio,
 * step by step from the original at 1), the steps converted and refit, the error budget if any,
 * and the chosen point at its held-out error and measured latency.
 */
export function tradeoff(auto) {
  const curve = (auto.curve || []).filter((c) => c.estimated_error !== null && c.predicted_latency_ratio !== null);
  const chosen = chosenPoint(auto, curve);
  const budget = (auto.budget || {}).max_error;
  const errs = curve.flatMap((c) => [c.estimated_error, c.fit_error]).concat([budget, chosen && chosen.err])
    .filter((e) => typeof e === "number" && e > 0);
  const lo = Math.max(Math.min(...errs, 1) / 2, 1e-6);
  const hi = Math.max(...errs, lo * 10) * 1.5;
  const lats = curve.map((c) => c.predicted_latency_ratio).concat(chosen ? [chosen.lat] : []);
  const xLo = Math.min(0, ...lats);
  const pick = chosen ? `Chosen: step ${chosen.step}, measured latency ratio ${fmt.ratio(chosen.lat)}, `
    + `held-out error ${fmt.num(chosen.err)}.` : "No step was chosen.";
  const draw = (width) => {
    const height = Math.round(Math.min(340, Math.max(250, width * 0.5)));
    const box = { x0: 64, x1: width - 14, y0: 14, y1: height - 48, lo };
    box.sx = linScale(xLo, Math.max(1.05, ...lats), box.x0, box.x1);
    box.sy = logScale(lo, hi, box.y1, box.y0);
    const svgEl = s("svg", { viewBox: `0 0 ${width} ${height}`, class: "tradeoff" });
    const xt = niceTicks(xLo, 1, Math.max(3, Math.min(10, Math.floor((box.x1 - box.x0) / 50))));
    axes(svgEl, box, { ticks: xt.ticks.filter((t) => t <= 1.05), label: (t) => t.toFixed(xt.digits) },
      { ticks: logTicks(lo, hi, (box.y1 - box.y0) / 22), label: (t) => String(t) },
      `latency ratio of the original${width >= 560 ? " (1 = as fast as the original)" : ""}`, "output error (log scale)");
    if (budget) {
      svgEl.append(s("line", { x1: box.x0, y1: box.sy(budget), x2: box.x1, y2: box.sy(budget), class: "budget" }),
        s("text", { x: box.x1 - 4, y: box.sy(budget) - 5, "text-anchor": "end", class: "budget-label" }, `budget ${budget}`));
    }
    tradeoffMarks(svgEl, box, curve, chosen);
    return { svg: svgEl, desc: `${curve.length} steps. ${pick}` };
  };
  const note = farFromEstimate(chosen)
    ? `The path is the fitting estimate: each step's error estimated from the layers' own errors and its latency `
      + `predicted from their timings. The chosen point is measured: its error on held-out data `
      + `(${fmt.num(chosen.err)} against ${fmt.num(chosen.onPath.estimated_error)} estimated), its latency timed in `
      + `the whole model (${fmt.ratio(chosen.lat)} against ${fmt.ratio(chosen.onPath.predicted_latency_ratio)} predicted).`
    : null;
  return figure("Trade-off: error against latency", draw, tradeoffLegend(curve, chosen, budget), note);
}

/** Quantile q (0..1) of sorted numbers, interpolated as numpy's default does. */
function quantile(sorted, q) {
  const pos = (sorted.length - 1) * q;
  const k = Math.floor(pos);
  return k + 1 < sorted.length ? sorted[k] + (sorted[k + 1] - sorted[k]) * (pos - k) : sorted[k];
}

/** About `count` round ticks (1, 2 or 5 times a power of ten) spanning [lo, hi]. */
function niceTicks(lo, hi, count) {
  const raw = (hi - lo) / count || hi || 1;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((k) => k * mag).find((st) => st >= raw * 0.999);
  const first = Math.floor(lo / step + 1e-9) * step;
  const last = Math.max(Math.ceil(hi / step - 1e-9) * step, first + step);
  const ticks = [];
  for (let v = first; v <= last + step / 2; v += step) ticks.push(Number(v.toPrecision(12)));
  return { ticks, step, digits: Math.max(0, -Math.floor(Math.log10(step))) };
}

/**
 * The shared axis of the histograms: from 0 (or, where that would squash them, from just below
 * the fastest run) to past every model's p90 and the bulk of its runs; runs slower than
 * q3 + 3 IQR of their model fall past the axis's end and are pooled in one bar there.
 */
function latencyAxis(series) {
  let lo = Infinity;
  let cap = 0;
  for (const { sorted, p90 } of series) {
    const q1 = quantile(sorted, 0.25);
    const q3 = quantile(sorted, 0.75);
    lo = Math.min(lo, sorted[0]);
    cap = Math.max(cap, Math.min(sorted[sorted.length - 1], q3 + 3 * (q3 - q1)), p90);
  }
  const start = lo < cap / 2 || lo >= cap ? 0 : lo - (cap - lo) * 0.05;
  const t = niceTicks(start, cap, 5);
  return { ...t, lo: t.ticks[0], hi: t.ticks[t.ticks.length - 1] };
}

/** Bins of one width for every model: fine enough for the narrowest model's spread (the
 * Freedman–Diaconis width), 12 to 60 of them across the axis. */
function binWidth(series, axis) {
  const widths = series.map(({ sorted }) => 2 * (quantile(sorted, 0.75) - quantile(sorted, 0.25))
    / Math.cbrt(sorted.length)).filter((w) => w > 0);
  const span = axis.hi - axis.lo;
  const bins = Math.min(60, Math.max(12, Math.ceil(span / (widths.length ? Math.min(...widths) : span / 30))));
  return span / bins;
}

function binCounts(times, axis, width) {
  const bins = Math.round((axis.hi - axis.lo) / width);
  const counts = new Array(bins).fill(0);
  let over = 0;
  for (const t of times) {
    if (t > axis.hi) over += 1;
    else counts[Math.min(bins - 1, Math.max(0, Math.floor((t - axis.lo) / width)))] += 1;
  }
  return { counts, over };
}

/** One model's row of the histograms: its label, bars, a tick per run, median and p90. */
function histogramRow(svgEl, { m, sorted, p90, median }, i, g) {
  const { axis, width, sx, box, bar, rowH, band, wide } = g;
  const key = String(i + 1);
  const top = 10 + i * rowH;
  const head = wide ? 18 : 34;
  const base = top + head + band;
  const { counts, over } = binCounts(sorted, axis, width);
  const most = Math.max(...counts, over, 1);
  const tall = (n, least = 1.5) => Math.max((n / most) * band, least);
  const stats = `median ${fmt.ms(median)} · p90 ${fmt.ms(p90)}`;
  svgEl.append(s("text", { x: box.x0, y: top + 12, class: "axis-label model-label" },
    `${key}: ${shorten(m.name, charsIn(wide ? (box.x1 - box.x0) / 2 : box.x1 - box.x0))}`),
  wide ? s("text", { x: box.over + box.overW, y: top + 12, "text-anchor": "end", class: "axis-label" }, stats)
    : s("text", { x: box.x0, y: top + 28, class: "axis-label" }, stats),
  s("line", { x1: box.x0, y1: base, x2: box.x1, y2: base, class: "axis" }));
  counts.forEach((n, k) => {
    if (!n) return;
    const from = axis.lo + k * width;
    svgEl.append(s("rect", { x: sx(from), y: base - tall(n), width: bar, height: tall(n), class: `bin m${i}`, "data-runs": n },
      s("title", {}, `${key}: ${n} run${n === 1 ? "" : "s"} from ${g.edge(from)} to ${g.edge(from + width)}`)));
  });
  const rug = s("g", { class: `rug m${i}`, "aria-hidden": "true" });  // each run as a tick under the bars
  for (const t of sorted) {
    const x = t > axis.hi ? box.over + box.overW / 2 : sx(t);
    rug.append(s("line", { x1: x, y1: base + 2, x2: x, y2: base + 8, class: "run" }));
  }
  svgEl.append(rug);
  if (over) {
    const slowest = sorted[sorted.length - 1];
    svgEl.append(s("rect", { x: box.over, y: base - tall(over, 4), width: box.overW, height: tall(over, 4),
      class: `bin overflow m${i}`, "data-runs": over },
    s("title", {}, `${key}: ${over} run${over === 1 ? "" : "s"} slower than ${g.tick(axis.hi)}, up to ${fmt.ms(slowest)}`)));
  }
  const at = (v) => sx(Math.min(Math.max(v, axis.lo), axis.hi));
  svgEl.append(s("line", { x1: at(p90), y1: top + head - 2, x2: at(p90), y2: base, class: "p90" }),
    s("line", { x1: at(median), y1: top + head - 2, x2: at(median), y2: base, class: "median" }));
}

/** The histograms drawn `px` wide: a row per model over one shared ms axis. */
function histogramSvg(series, axis, binW, px) {
  const wide = px >= 520;
  const box = { x0: 20, x1: px - 40, over: px - 30, overW: 14 };
  const g = { axis, width: binW, box, wide, rowH: wide ? 92 : 108, band: 58,
    sx: linScale(axis.lo, axis.hi, box.x0, box.x1), tick: (v) => `${v.toFixed(axis.digits)} ms`,
    edge: (v) => `${v.toFixed(Math.min(6, Math.max(0, 1 - Math.floor(Math.log10(binW)))))} ms` };
  g.bar = Math.max(((box.x1 - box.x0) * binW) / (axis.hi - axis.lo), 1);
  const yAxis = 10 + series.length * g.rowH;
  const svgEl = s("svg", { viewBox: `0 0 ${px} ${yAxis + 44}`, class: "latency histogram" });
  const every = Math.ceil(axis.ticks.length / Math.max(2, Math.floor((box.x1 - box.x0) / 56)));
  axis.ticks.forEach((t, k) => {
    svgEl.append(s("line", { x1: g.sx(t), y1: 10, x2: g.sx(t), y2: yAxis, class: "grid" }));
    if (k % every === 0) {
      svgEl.append(s("text", { x: g.sx(t), y: yAxis + 16, "text-anchor": "middle", class: "axis-label" }, t.toFixed(axis.digits)));
    }
  });
  svgEl.append(s("line", { x1: box.x0, y1: yAxis, x2: box.x1, y2: yAxis, class: "axis" }),
    s("text", { x: (box.x0 + box.x1) / 2, y: yAxis + 36, "text-anchor": "middle", class: "axis-title" },
      `latency per run (ms${axis.lo > 0 ? `, axis from ${axis.ticks[0].toFixed(axis.digits)}` : ""})`));
  series.forEach((one, i) => histogramRow(svgEl, one, i, g));
  if (series.some(({ sorted }) => sorted[sorted.length - 1] > axis.hi)) {
    svgEl.append(s("text", { x: box.over + box.overW / 2, y: yAxis + 16, "text-anchor": "middle", class: "axis-label" }, "›"));
  }
  return svgEl;
}

/** Each model's measured runs as a histogram on one ms axis with a tick per run under it, its
 * median (line) and p90 (dashed) marked. */
function histograms(models) {
  const series = models.map((m) => {
    const sorted = m.times_ms.filter((t) => Number.isFinite(t)).sort((a, b) => a - b);
    return { m, sorted, p90: m.p90_ms ?? quantile(sorted, 0.9), median: m.median_ms ?? quantile(sorted, 0.5) };
  });
  const axis = latencyAxis(series);
  const width = binWidth(series, axis);
  const tick = (v) => `${v.toFixed(axis.digits)} ms`;
  const edge = (v) => `${v.toFixed(Math.min(6, Math.max(0, 1 - Math.floor(Math.log10(width)))))} ms`;
  const notes = series.flatMap(({ sorted }, i) => {
    const over = sorted.filter((t) => t > axis.hi).length;
    const key = String(i + 1);
    return over ? [`${over} of ${key}'s runs ${over === 1 ? "is" : "are"} slower than ${tick(axis.hi)} `
      + `(up to ${fmt.ms(sorted[sorted.length - 1])}) and pooled in the bar past the axis's end`] : [];
  });
  const desc = `Histograms of the run times, and a tick per run under each, on one axis from ${tick(axis.lo)} to ${tick(axis.hi)}, bins of ${edge(width)}. `
    + series.map(({ m, sorted, p90, median }, i) => `${String(i + 1)} (${m.name}): `
      + `${sorted.length} runs${m.times_ms_subsampled ? " (an evenly spaced sample of all the runs; median and p90 are of all)" : ""}; `
      + `fastest ${fmt.ms(sorted[0])}, median ${fmt.ms(median)}, p90 ${fmt.ms(p90)}, slowest ${fmt.ms(sorted[sorted.length - 1])}`)
      .join(". ")
    + (notes.length ? `. ${notes.join("; ")}.` : ".");
  const counts = [...new Set(series.map(({ sorted }) => sorted.length))].join(" and ");
  const legend = h("span", { class: "legend" }, h("span", { class: "key-median" }, "median"),
    h("span", { class: "key-p90" }, "p90"), h("span", { class: "key-bars" }, "runs per bin"));
  return figure(`Latency per run: histogram of ${counts} runs per model, a tick per run`,
    (px) => ({ svg: histogramSvg(series, axis, width, px), desc }), legend);
}

/** Min, median, mean and p90 as a range with its middle marked: for results stored before the
 * runs' own times were kept. */
function summaryRanges(models) {
  const hi = Math.max(...models.map((m) => m.p90_ms || m.median_ms)) * 1.1;
  const desc = models.map((m) => `${m.name}: min ${fmt.ms(m.min_ms)}, median ${fmt.ms(m.median_ms)}, `
    + `mean ${fmt.ms(m.mean_ms)}, p90 ${fmt.ms(m.p90_ms)}`).join("; ");
  return figure("Latency per run (line: min to p90; box: median to mean)", (width) => {
    const box = { x0: Math.min(180, Math.round(width * 0.34)), x1: width - 40 };
    const sx = linScale(0, hi, box.x0, box.x1);
    const rowH = 56;
    const svgEl = s("svg", { viewBox: `0 0 ${width} ${models.length * rowH + 40}`, class: "latency" });
    models.forEach((m, i) => {
      const y = 16 + i * rowH;
      const label = `${String(i + 1)}: ${shorten(m.name, charsIn(box.x0 - 8))}`;
      svgEl.append(s("text", { x: box.x0 - 8, y: y + 20, "text-anchor": "end", class: "axis-label" }, label),
        s("line", { x1: sx(m.min_ms), y1: y + 16, x2: sx(m.p90_ms), y2: y + 16, class: `whisker m${i}` }),
        s("rect", { x: sx(Math.min(m.median_ms, m.mean_ms)), y: y + 6, height: 20, class: `box m${i}`,
          width: Math.max(Math.abs(sx(m.mean_ms) - sx(m.median_ms)), 2) }),
        s("line", { x1: sx(m.median_ms), y1: y + 2, x2: sx(m.median_ms), y2: y + 30, class: "median" }),
        s("text", { x: sx(m.median_ms), y: y + 44, "text-anchor": "middle", class: "axis-label" },
          `median ${fmt.ms(m.median_ms)}`));
    });
    const yAxis = models.length * rowH + 20;
    svgEl.append(s("line", { x1: box.x0, y1: yAxis, x2: box.x1, y2: yAxis, class: "axis" }));
    const k = box.x1 - box.x0 >= 300 ? 4 : 2;
    for (let j = 0; j <= k; j += 1) {
      const v = (hi / k) * j;
      svgEl.append(s("text", { x: sx(v), y: yAxis + 15, "text-anchor": "middle", class: "axis-label" }, `${v.toFixed(2)} ms`));
    }
    return { svg: svgEl, desc };
  });
}

/** Latency of one or two models: each one's runs as a histogram where the result has them
 * (``times_ms``), else min, median, mean and p90 as a range. */
export function latencies(models) {
  const real = models.length && models.every((m) => Array.isArray(m.times_ms) && m.times_ms.some(Number.isFinite));
  return real ? histograms(models) : summaryRanges(models);
}

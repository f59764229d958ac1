// A model's variants on one chart: each conversion's output error against what it costs (its
// multiplications, or its measured latency, over the original's), with the Pareto front marked: the
// variants that no other one beats on both. (charts.js keeps its helpers to itself: the few this
// needs are here.)

import { fmt, h, newId, s } from "./dom.js";

export const AXES = {
  macs: { label: "multiplications ratio (of the original's)", short: "multiplications", value: (v) => v.macs_ratio },
  latency: { label: "measured latency ratio (of the original's)", short: "measured latency", value: (v) => v.latency_ratio },
};

/** Indices of the points that no other point beats on both x and y (lower is better on both). */
export function paretoFront(points) {
  const order = [...points.keys()].sort((a, b) => points[a].x - points[b].x || points[a].y - points[b].y);
  const front = [];
  let best = Infinity;
  for (const i of order) {
    if (points[i].y < best) {
      front.push(i);
      best = points[i].y;
    }
  }
  return front;
}

function diamond(cx, cy, r) {
  return [[cx, cy - r], [cx + r, cy], [cx, cy + r], [cx - r, cy]].map((p) => p.map((v) => v.toFixed(1)).join(",")).join(" ");
}

function scales(points) {
  const ys = points.map((p) => p.y).filter((y) => y > 0);
  const lo = 10 ** Math.floor(Math.log10(Math.max(Math.min(...ys, 1) / 2, 1e-9)));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...ys, lo * 10) * 1.2));
  const xHi = Math.max(1.1, ...points.map((p) => p.x * 1.08));
  const box = { x0: 62, x1: 500, y0: 14, y1: 244, lo, hi, xHi };
  box.sx = (v) => box.x0 + (v / xHi) * (box.x1 - box.x0);
  box.sy = (v) => box.y1 - ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * (box.y1 - box.y0);
  return box;
}

function axes(svgEl, box, xLabel) {
  svgEl.append(s("line", { x1: box.x0, y1: box.y1, x2: box.x1, y2: box.y1, class: "axis" }),
    s("line", { x1: box.x0, y1: box.y0, x2: box.x0, y2: box.y1, class: "axis" }));
  for (let t = 0; t <= box.xHi + 1e-9; t += box.xHi > 2 ? 0.5 : 0.25) {
    svgEl.append(s("line", { x1: box.sx(t), y1: box.y0, x2: box.sx(t), y2: box.y1, class: "grid" }),
      s("text", { x: box.sx(t), y: box.y1 + 16, "text-anchor": "middle", class: "axis-label" }, `${t}×`));
  }
  for (let v = box.lo; v <= box.hi * 1.001; v *= 10) {
    svgEl.append(s("line", { x1: box.x0, y1: box.sy(v), x2: box.x1, y2: box.sy(v), class: "grid" }),
      s("text", { x: box.x0 - 6, y: box.sy(v) + 4, "text-anchor": "end", class: "axis-label" }, v.toExponential(0)));
  }
  svgEl.append(s("text", { x: (box.x0 + box.x1) / 2, y: box.y1 + 34, "text-anchor": "middle", class: "axis-title" }, xLabel),
    s("text", { x: 14, y: (box.y0 + box.y1) / 2, "text-anchor": "middle", class: "axis-title",
      transform: `rotate(-90 14 ${(box.y0 + box.y1) / 2})` }, "output error (rel. L2, log)"));
  svgEl.append(s("line", { x1: box.sx(1), y1: box.y0, x2: box.sx(1), y2: box.y1, class: "original-line" }),
    s("text", { x: box.sx(1) + 4, y: box.y0 + 10, class: "axis-label" }, "original"));
}

function marks(svgEl, box, points, front) {
  const onFront = new Set(front);
  const line = front.map((i) => `${box.sx(points[i].x).toFixed(1)},${box.sy(points[i].y).toFixed(1)}`).join(" ");
  if (front.length > 1) svgEl.append(s("polyline", { points: line, class: "front-line" }));
  points.forEach((p, i) => {
    const cx = box.sx(p.x);
    const cy = box.sy(p.y);
    const title = s("title", {}, `#${p.n} ${p.v.tag}: ${fmt.ratio(p.x)} ${p.axis}, error ${fmt.num(p.y)}`
      + `${onFront.has(i) ? " (on the Pareto front)" : ""}`);
    const attrs = { "data-job-id": p.v.job_id, "data-n": p.n };
    svgEl.append(onFront.has(i)
      ? s("polygon", { points: diamond(cx, cy, 7), class: "front-point", ...attrs }, title)
      : s("circle", { cx, cy, r: 4.5, class: "variant-point", ...attrs }, title),
    s("text", { x: cx + 8, y: cy - 6, class: "point-label" }, `#${p.n}`));
  });
}

/**
 * The variants' trade-off: one mark per variant that has a stored model, an output error and a
 * value on the chosen axis (``axis``: "macs" or "latency"); ``numbered`` maps a job id to its row's
 * number in the table. The variants left off are named under the chart, with why.
 */
export function variantsFront(variants, numbered, axis) {
  const ax = AXES[axis];
  const points = [];
  const left = [];
  for (const v of variants) {
    const x = ax.value(v);
    const n = numbered.get(v.job_id);
    if (!v.model_id) left.push(`#${n} (no new model)`);
    else if (v.error === null || v.error === undefined) left.push(`#${n} (not verified)`);
    else if (x === null || x === undefined) left.push(`#${n} (no ${ax.short})`);
    else points.push({ x, y: v.error, n, v, axis: ax.short });
  }
  const front = paretoFront(points);
  const box = scales(points);
  const titleId = newId("chart-title");
  const svgEl = s("svg", { viewBox: "0 0 520 288", class: "variants-front", role: "img", "aria-labelledby": titleId });
  axes(svgEl, box, ax.label);
  marks(svgEl, box, points, front);
  const title = `Variants: output error against ${ax.short}`;
  const desc = points.length ? `${points.length} variants. On the Pareto front: ${front.map((i) => `#${points[i].n} `
    + `(${points[i].v.tag}, ${fmt.ratio(points[i].x)}, error ${fmt.num(points[i].y)})`).join(", ")}.` : "No variant to plot.";
  svgEl.prepend(s("title", { id: titleId }, title), s("desc", {}, desc));
  const legend = h("span", { class: "legend" }, h("span", { class: "key-variant" }, "a variant (#: its row in the table)"),
    h("span", { class: "key-front" }, "on the Pareto front: no other variant is both cheaper and closer"),
    h("span", { class: "key-front-line" }, "the front"), h("span", { class: "key-original" }, "the original (1×)"));
  return h("figure", { class: "chart", id: "variants-chart", "data-axis": axis }, svgEl,
    h("figcaption", {}, title, legend),
    left.length ? h("p", { class: "muted chart-note" }, `Not on the chart: ${left.join(", ")}.`) : null);
}

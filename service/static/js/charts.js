// Charts drawn as SVG: shares as bars, auto mode's trade-off curve, latency distributions.
// Every chart has a title and a text description for screen readers.

import { fmt, h, newId, s } from "./dom.js";

function figure(title, desc, svgEl, legend) {
  const titleId = newId("chart-title");
  svgEl.setAttribute("role", "img");
  svgEl.setAttribute("aria-labelledby", titleId);
  svgEl.prepend(s("title", { id: titleId }, title), s("desc", {}, desc));
  return h("figure", { class: "chart" }, svgEl, h("figcaption", {}, title, legend || null));
}

function shorten(text, max) {
  return text.length > max ? `…${text.slice(text.length - max + 1)}` : text;
}

/** Horizontal bars: rows of {label, value}; each bar's length is its share of the total. */
export function shareBars(title, rows) {
  const total = rows.reduce((acc, r) => acc + (r.value || 0), 0) || 1;
  const rowH = 22;
  const labelW = 150;
  const barW = 230;
  const width = labelW + barW + 60;
  const svgEl = s("svg", { viewBox: `0 0 ${width} ${rows.length * rowH + 8}`, class: "bars" });
  rows.forEach((r, i) => {
    const share = (r.value || 0) / total;
    const y = 4 + i * rowH;
    svgEl.append(
      s("text", { x: labelW - 8, y: y + 15, "text-anchor": "end", class: "axis-label" }, shorten(r.label, 22)),
      s("rect", { x: labelW, y: y + 3, width: barW, height: rowH - 8, class: "bar-bg" }),
      s("rect", { x: labelW, y: y + 3, width: Math.max(share * barW, 1), height: rowH - 8, class: "bar" },
        s("title", {}, `${r.label}: ${fmt.pct(share)}`)),
      s("text", { x: labelW + barW + 6, y: y + 15, class: "axis-label" }, fmt.pct(share)));
  });
  const desc = rows.map((r) => `${r.label} ${fmt.pct((r.value || 0) / total)}`).join("; ");
  return figure(title, desc, svgEl);
}

function logScale(lo, hi, a, b) {
  const l0 = Math.log10(lo);
  const l1 = Math.log10(hi);
  return (v) => a + ((Math.log10(Math.max(v, lo)) - l0) / (l1 - l0 || 1)) * (b - a);
}

function linScale(lo, hi, a, b) {
  return (v) => a + ((v - lo) / (hi - lo || 1)) * (b - a);
}

function logTicks(lo, hi) {
  const out = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e += 1) {
    const v = 10 ** e;
    if (v >= lo * 0.999 && v <= hi * 1.001) out.push(v);
  }
  return out;
}

function axes(svgEl, box, xTicks, yTicks, xLabel, yLabel) {
  const { x0, x1, y0, y1, sx, sy } = box;
  svgEl.append(s("line", { x1: x0, y1: y1, x2: x1, y2: y1, class: "axis" }),
    s("line", { x1: x0, y1: y0, x2: x0, y2: y1, class: "axis" }));
  for (const t of xTicks) {
    svgEl.append(s("line", { x1: sx(t), y1: y0, x2: sx(t), y2: y1, class: "grid" }),
      s("text", { x: sx(t), y: y1 + 16, "text-anchor": "middle", class: "axis-label" }, String(t)));
  }
  for (const t of yTicks) {
    svgEl.append(s("line", { x1: x0, y1: sy(t), x2: x1, y2: sy(t), class: "grid" }),
      s("text", { x: x0 - 6, y: sy(t) + 4, "text-anchor": "end", class: "axis-label" }, t.toFixed(1)));
  }
  svgEl.append(s("text", { x: (x0 + x1) / 2, y: y1 + 34, "text-anchor": "middle", class: "axis-title" }, xLabel),
    s("text", { x: 14, y: (y0 + y1) / 2, "text-anchor": "middle", class: "axis-title",
      transform: `rotate(-90 14 ${(y0 + y1) / 2})` }, yLabel));
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

/** Where the chosen point sits: its held-out error and measured latency, else its step on the path. */
function chosenPoint(auto, curve) {
  const c = auto.chosen;
  if (!c) return null;
  const onPath = curve.find((r) => r.step === c.step);
  const err = c.held_out_error ?? (onPath ? onPath.estimated_error : null);
  const lat = c.measured_latency_ratio ?? c.predicted_latency_ratio;
  return err === null || lat === null || lat === undefined ? null : { err, lat, step: c.step };
}

function tradeoffMarks(svgEl, box, curve, chosen) {
  const path = [[box.sx(box.lo), box.sy(1)], ...curve.map((c) => [box.sx(c.estimated_error), box.sy(c.predicted_latency_ratio)])];
  svgEl.append(s("polyline", { points: path.map((p) => p.join(",")).join(" "), class: "path" }));
  for (const c of curve) {
    svgEl.append(s("circle", { cx: box.sx(c.estimated_error), cy: box.sy(c.predicted_latency_ratio), r: 3.5,
      class: chosen && c.step === chosen.step ? "point on-chosen" : "point", "data-step": c.step },
    s("title", {}, `step ${c.step}: ${c.layer} → ${c.candidate}, predicted latency ${fmt.ratio(c.predicted_latency_ratio)}, `
      + `estimated error ${fmt.num(c.estimated_error)}`)));
    if (c.fit_error !== null && c.fit_error !== undefined) {
      svgEl.append(s("circle", { cx: box.sx(c.fit_error), cy: box.sy(c.predicted_latency_ratio), r: 5, class: "fit" },
        s("title", {}, `step ${c.step} converted and refit: error ${fmt.num(c.fit_error)} on the fitting data`)));
    }
  }
  if (chosen) {
    svgEl.append(s("polygon", { points: star(box.sx(chosen.err), box.sy(chosen.lat), 10), class: "chosen" },
      s("title", {}, `chosen (step ${chosen.step}): held-out error ${fmt.num(chosen.err)}, measured latency ${fmt.ratio(chosen.lat)}`)));
  }
}

/**
 * Auto mode's trade-off: the search path (predicted latency ratio against estimated output error,
 * step by step), the steps converted and refit, the error budget if any, and the chosen point at
 * its held-out error and measured latency.
 */
export function tradeoff(auto) {
  const curve = (auto.curve || []).filter((c) => c.estimated_error !== null && c.predicted_latency_ratio !== null);
  const chosen = chosenPoint(auto, curve);
  const budget = (auto.budget || {}).max_error;
  const errs = curve.flatMap((c) => [c.estimated_error, c.fit_error]).concat([budget, chosen && chosen.err])
    .filter((e) => typeof e === "number" && e > 0);
  const lo = Math.max(Math.min(...errs, 1) / 2, 1e-6);
  const hi = Math.max(...errs, lo * 10) * 1.5;
  const box = { x0: 56, x1: 470, y0: 16, y1: 250, lo };
  box.sx = logScale(lo, hi, box.x0, box.x1);
  box.sy = linScale(0, 1.05, box.y1, box.y0);
  const svgEl = s("svg", { viewBox: "0 0 490 295", class: "tradeoff" });
  axes(svgEl, box, logTicks(lo, hi), [0, 0.2, 0.4, 0.6, 0.8, 1.0], "output error (rel. L2, log scale)",
    "latency ratio");
  if (budget) {
    svgEl.append(s("line", { x1: box.sx(budget), y1: box.y0, x2: box.sx(budget), y2: box.y1, class: "budget" }),
      s("text", { x: box.sx(budget) + 4, y: box.y0 + 12, class: "budget-label" }, `budget ${budget}`));
  }
  tradeoffMarks(svgEl, box, curve, chosen);
  const pick = chosen ? `Chosen: step ${chosen.step}, measured latency ratio ${fmt.ratio(chosen.lat)}, `
    + `held-out error ${fmt.num(chosen.err)}.` : "No step was chosen.";
  const legend = h("span", { class: "legend" }, h("span", { class: "key-path" }, "search path (estimated error)"),
    curve.some((c) => c.fit_error !== null && c.fit_error !== undefined) ? h("span", { class: "key-fit" }, "converted and refit") : null,
    h("span", { class: "key-chosen" }, "chosen (held-out error, measured latency)"),
    budget ? h("span", { class: "key-budget" }, "error budget") : null);
  return figure("Trade-off: latency against error", `${curve.length} steps. ${pick}`, svgEl, legend);
}

/** Latency of one or two models: min, median, mean and p90 as a range with its middle marked. */
export function latencies(models) {
  const hi = Math.max(...models.map((m) => m.p90_ms || m.median_ms)) * 1.1;
  const box = { x0: 170, x1: 500 };
  const sx = linScale(0, hi, box.x0, box.x1);
  const rowH = 56;
  const svgEl = s("svg", { viewBox: `0 0 540 ${models.length * rowH + 40}`, class: "latency" });
  models.forEach((m, i) => {
    const y = 16 + i * rowH;
    const label = `${String.fromCharCode(65 + i)}: ${shorten(m.name, 24)}`;
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
  for (let k = 0; k <= 4; k += 1) {
    const v = (hi / 4) * k;
    svgEl.append(s("text", { x: sx(v), y: yAxis + 14, "text-anchor": "middle", class: "axis-label" }, `${v.toFixed(2)} ms`));
  }
  const desc = models.map((m) => `${m.name}: min ${fmt.ms(m.min_ms)}, median ${fmt.ms(m.median_ms)}, `
    + `mean ${fmt.ms(m.mean_ms)}, p90 ${fmt.ms(m.p90_ms)}`).join("; ");
  return figure("Latency per run (line: min to p90; box: median to mean)", desc, svgEl);
}

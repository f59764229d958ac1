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

/**
 * Auto mode's trade-off: predicted latency ratio against estimated output error for each step of
 * the search (the path), the error budget when there is one, and the chosen point.
 */
export function tradeoff(auto) {
  const curve = (auto.curve || []).filter((c) => c.estimated_error !== null && c.predicted_latency_ratio !== null);
  const chosen = auto.chosen || null;
  const budget = (auto.budget || {}).max_error;
  const errs = curve.map((c) => c.estimated_error).concat(budget ? [budget] : []);
  const lo = Math.max(Math.min(...errs, 1) / 2, 1e-6);
  const hi = Math.max(...errs, lo * 10) * 1.5;
  const box = { x0: 56, x1: 470, y0: 16, y1: 250 };
  box.sx = logScale(lo, hi, box.x0, box.x1);
  box.sy = linScale(0, 1.05, box.y1, box.y0);
  const svgEl = s("svg", { viewBox: "0 0 490 295", class: "tradeoff" });
  axes(svgEl, box, logTicks(lo, hi), [0, 0.2, 0.4, 0.6, 0.8, 1.0], "estimated output error (rel. L2, log scale)",
    "latency ratio");
  if (budget) {
    svgEl.append(s("line", { x1: box.sx(budget), y1: box.y0, x2: box.sx(budget), y2: box.y1, class: "budget" }),
      s("text", { x: box.sx(budget) + 4, y: box.y0 + 12, class: "budget-label" }, `budget ${budget}`));
  }
  const points = [[box.sx(lo), box.sy(1)], ...curve.map((c) => [box.sx(c.estimated_error), box.sy(c.predicted_latency_ratio)])];
  svgEl.append(s("polyline", { points: points.map((p) => p.join(",")).join(" "), class: "path" }));
  for (const c of curve) {
    const isChosen = chosen && c.step === chosen.step;
    svgEl.append(s("circle", { cx: box.sx(c.estimated_error), cy: box.sy(c.predicted_latency_ratio),
      r: isChosen ? 7 : 3.5, class: isChosen ? "chosen" : "point", "data-step": c.step },
    s("title", {}, `step ${c.step}: ${c.layer} → ${c.candidate}, latency ${fmt.ratio(c.predicted_latency_ratio)}, `
      + `error ${fmt.num(c.estimated_error)}`)));
  }
  const pick = chosen ? `Chosen: step ${chosen.step}, predicted latency ratio ${fmt.ratio(chosen.predicted_latency_ratio)}, `
    + `held-out error ${fmt.num(chosen.held_out_error)}.` : "No step was chosen.";
  const legend = h("span", { class: "legend" }, h("span", { class: "key-path" }, "search path"),
    h("span", { class: "key-chosen" }, "chosen point"), budget ? h("span", { class: "key-budget" }, "error budget") : null);
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

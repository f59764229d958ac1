// Building the page from data without innerHTML: text always goes in as text.

const SVG_NS = "http://www.w3.org/2000/svg";

function fill(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "text") el.textContent = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

/** Append children: strings become text, arrays are flattened, null and false are skipped. */
export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** h("p", {class: "x"}, "text", child) */
export function h(tag, attrs, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

export function s(tag, attrs, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attrs, children);
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

let uid = 0;
/** A fresh id for label/aria links. */
export function newId(prefix) {
  uid += 1;
  return `${prefix}-${uid}`;
}

export const fmt = {
  int: (n) => (n === null || n === undefined ? "—" : Math.round(n).toLocaleString("en-US")),
  num: (n, digits = 3) => (n === null || n === undefined ? "—" : Number(n).toPrecision(digits)),
  bytes(n) {
    if (n === null || n === undefined) return "—";
    const units = ["B", "KB", "MB", "GB", "TB"];
    let i = 0;
    while (n >= 1000 && i < units.length - 1) { n /= 1000; i += 1; }
    return `${i === 0 ? n : n.toFixed(n < 10 ? 2 : 1)} ${units[i]}`;
  },
  macs(n) {
    if (n === null || n === undefined) return "—";
    if (n >= 1e9) return `${(n / 1e9).toFixed(2)} G`;
    if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
    if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
    return String(n);
  },
  pct: (x, digits = 1) => (x === null || x === undefined ? "—" : `${(x * 100).toFixed(digits)}%`),
  ratio: (x) => (x === null || x === undefined ? "—" : `${Number(x).toFixed(3)}×`),
  ms: (x) => (x === null || x === undefined ? "—" : `${Number(x).toFixed(x < 1 ? 3 : 2)} ms`),
  shape: (dims) => (dims ? `[${dims.map((d) => (d === null ? "?" : d)).join(", ")}]` : "—"),
  time: (t) => (t ? new Date(t * 1000).toLocaleString() : "—"),
  duration(sec) {
    if (sec === null || sec === undefined || !Number.isFinite(sec)) return "—";
    if (sec < 60) return `${sec.toFixed(1)} s`;
    return `${Math.floor(sec / 60)} min ${Math.round(sec % 60)} s`;
  },
};

/** A labelled value, for the summary cards. */
export function stat(label, value, note) {
  return h("div", { class: "stat" }, h("div", { class: "stat-label", text: label }),
    h("div", { class: "stat-value", text: value }), note ? h("div", { class: "stat-note", text: note }) : null);
}

/** A scrollable wrapper so wide tables scroll inside their box instead of the page; when the
 * table is wider than the box, a hint above it says so (and the edge that hides columns shades). */
export function scroller(label, child) {
  const box = h("div", { class: "scroll", role: "region", "aria-label": label, tabindex: "0" }, child);
  const hint = h("p", { class: "scroll-hint", hidden: true, "aria-hidden": "true" }, "Scroll sideways for more columns →");
  const check = () => {
    const over = box.scrollWidth > box.clientWidth + 1;
    hint.hidden = !over;
    box.dataset.overflow = String(over);
  };
  if (typeof ResizeObserver !== "undefined") new ResizeObserver(check).observe(box);
  return h("div", { class: "scroll-wrap" }, hint, box);
}

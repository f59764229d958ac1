// Tables with sortable columns: each header is a button, and aria-sort says the order.

import { clear, h } from "./dom.js";

/**
 * sortableTable({caption, columns, rows}) where a column is {label, value(row) for sorting,
 * cell(row) -> node or text, numeric}. Clicking a header sorts by it; clicking again reverses.
 */
export function sortableTable({ caption, columns, rows, rowAttrs }) {
  const tbody = h("tbody");
  const heads = columns.map((col, i) => {
    if (col.value === undefined) return h("th", { scope: "col" }, col.label);
    const btn = h("button", { type: "button", class: "sort", onclick: () => sortBy(i) }, col.label);
    return h("th", { scope: "col", class: col.numeric ? "num" : null }, btn);
  });
  let order = { index: -1, dir: 1 };

  function draw(list) {
    clear(tbody);
    for (const row of list) {
      tbody.append(h("tr", rowAttrs ? rowAttrs(row) : {},
        columns.map((col) => h("td", { class: col.numeric ? "num" : null }, col.cell(row)))));
    }
  }

  function sortBy(i) {
    order = { index: i, dir: order.index === i ? -order.dir : (columns[i].numeric ? -1 : 1) };
    const get = columns[i].value;
    const sorted = [...rows].sort((a, b) => {
      const x = get(a);
      const y = get(b);
      if (x === y) return 0;
      if (x === null || x === undefined) return 1;
      if (y === null || y === undefined) return -1;
      return (x < y ? -1 : 1) * order.dir;
    });
    heads.forEach((th, j) => {
      if (j === i) th.setAttribute("aria-sort", order.dir > 0 ? "ascending" : "descending");
      else th.removeAttribute("aria-sort");
    });
    draw(sorted);
  }

  draw(rows);
  return h("table", {}, caption ? h("caption", {}, caption) : null, h("thead", {}, h("tr", {}, heads)), tbody);
}

/** A plain table from rows of cells. */
export function simpleTable({ caption, head, rows, numeric = [] }) {
  const cls = (i) => (numeric.includes(i) ? "num" : null);
  return h("table", {}, caption ? h("caption", {}, caption) : null,
    h("thead", {}, h("tr", {}, head.map((label, i) => h("th", { scope: "col", class: cls(i) }, label)))),
    h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((c, i) => h("td", { class: cls(i) }, c))))));
}

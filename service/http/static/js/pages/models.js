// The home page: upload models and datasets, list them, delete them.

import { api } from "../api.js";
import { deleteButton } from "../confirm.js";
import { clear, fmt, h, scroller } from "../dom.js";
import { tagged } from "../names.js";
import { sortableTable, simpleTable } from "../table.js";
import { dropzone } from "../upload.js";

function modelTable(items, refresh, ctx) {
  if (!items.length) return h("p", { class: "muted" }, "No models yet: upload an .onnx file above.");
  const a = (m) => m.analysis || {};
  return sortableTable({
    caption: "Uploaded and converted models",
    rows: items,
    rowAttrs: (m) => ({ "data-model-id": m.id }),
    columns: [
      { label: "Name", value: (m) => `${m.name} ${m.tag || ""}`.toLowerCase(), cell: (m) => tagged(h("a", { href: `#/models/${m.id}` }, m.name), m.tag) },
      { label: "Size", value: (m) => m.size, numeric: true, cell: (m) => fmt.bytes(m.size) },
      { label: "Opset", value: (m) => m.opset, numeric: true, cell: (m) => m.opset ?? "—" },
      { label: "Convs", value: (m) => a(m).convs, numeric: true,
        cell: (m) => `${a(m).convs ?? "—"}${a(m).eligible_convs !== undefined ? ` (${a(m).eligible_convs} eligible)` : ""}` },
      { label: "Multiplications", value: (m) => a(m).conv_macs, numeric: true, cell: (m) => fmt.macs(a(m).conv_macs) },
      { label: "Made from", value: (m) => m.parent_id || "",
        cell: (m) => (m.parent_id ? h("a", { href: `#/models/${m.parent_id}` }, "a conversion") : "upload") },
      { label: "Uploaded", value: (m) => m.created, cell: (m) => fmt.time(m.created) },
      { label: "", cell: (m) => deleteButton(m.name, () => remove(`/v1/models/${m.id}`, refresh, ctx)) },
    ],
  });
}

function datasetTable(items, refresh, ctx) {
  if (!items.length) return h("p", { class: "muted" }, "No datasets yet: upload an .npz keyed by input name.");
  return simpleTable({
    caption: "Datasets (for verification, calibration and benchmarks)",
    head: ["Name", "Size", "Arrays", ""],
    numeric: [1],
    rows: items.map((d) => [d.name, fmt.bytes(d.size),
      d.arrays.map((x) => `${x.name} ${fmt.shape(x.shape)} ${x.dtype}`).join(", "),
      deleteButton(d.name, () => remove(`/v1/datasets/${d.id}`, refresh, ctx))]),
  });
}

async function remove(path, refresh, ctx) {
  try {
    await api("DELETE", path);
    await refresh();
  } catch (err) {
    ctx.showError(err);
  }
}

export async function render(view, ctx) {
  const modelsBox = h("div", { id: "model-list" });
  const datasetsBox = h("div", { id: "dataset-list" });

  async function refresh() {
    const [ms, ds] = await Promise.all([api("GET", "/v1/models"), api("GET", "/v1/datasets")]);
    if (ctx.signal.aborted) return;
    clear(modelsBox).append(scroller("Models", modelTable(ms.items, refresh, ctx)));
    clear(datasetsBox).append(scroller("Datasets", datasetTable(ds.items, refresh, ctx)));
  }

  view.append(
    h("h1", {}, "Models"),
    h("p", { class: "lead" }, "Upload an ONNX CNN, look at its Conv layers, convert them into cheaper factorized ",
      "pairs, and download the result."),
    h("div", { class: "uploads" },
      dropzone({ title: "Upload a model (.onnx)", hint: "The model is checked and analysed on upload.",
        accept: ".onnx", path: "/v1/models", name: "model-file",
        onUploaded: async (m) => { await refresh(); location.hash = `#/models/${m.id}`; } }),
      dropzone({ title: "Upload a dataset (.npz)", name: "dataset-file",
        hint: "Optional: samples keyed by input name, with 'labels' to check accuracy.",
        accept: ".npz", path: "/v1/datasets", onUploaded: refresh })),
    h("section", { "aria-labelledby": "models-title" }, h("h2", { id: "models-title" }, "Your models"), modelsBox),
    h("section", { "aria-labelledby": "datasets-title" }, h("h2", { id: "datasets-title" }, "Datasets"), datasetsBox),
  );
  await refresh();
}

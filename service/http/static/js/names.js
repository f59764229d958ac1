// Names of models and datasets by id, so that pages say "digits_wide.onnx" where a person reads,
// not "mdl_…". One list call each; a deleted artifact is no error (its id shows instead).

import { api } from "./api.js";
import { h } from "./dom.js";

export async function names() {
  const [models, datasets] = await Promise.all([api("GET", "/v1/models?limit=1000"), api("GET", "/v1/datasets?limit=1000")]);
  return {
    models: Object.fromEntries(models.items.map((m) => [m.id, m.name])),
    tags: Object.fromEntries(models.items.filter((m) => m.tag).map((m) => [m.id, m.tag])),
    datasets: Object.fromEntries(datasets.items.map((d) => [d.id, d.name])),
  };
}

/** One line of an error message, cut to about `max` characters (the whole text stays in a title). */
export function shortText(message, max = 90) {
  const line = String(message || "").split("\n")[0].trim();
  return line.length > max ? `${line.slice(0, max - 1).trimEnd()}…` : line;
}

/** A model's file name with the tag that tells its conversions apart ("auto 1% · int8"), from the service. */
export function tagged(name, tag) {
  return tag ? [name, " ", h("span", { class: "tag", title: "what its conversion asked for" }, tag)] : name;
}

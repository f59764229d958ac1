"""The report's reasons in the service's words: the converter names its options as the CLI's
flags ("--force applies it anyway"); a web or API user sets them as the request's fields
("the force option"), so the texts a job hands back name those instead."""

from __future__ import annotations

import re

#: CLI spellings in the converter's reasons, and the service's, most specific first.
FLAGS = [
    (re.compile(r"\(--force applies it anyway\)"), "(the force option, a forced conversion, applies it anyway)"),
    (re.compile(r"--input-shape \S+=\S+"), "the input_shapes option, the form's input shape"),
    (re.compile(r"--input-shape"), "the input_shapes option, the form's input shape"),
    (re.compile(r"pass --data FILE\.npz"), "choose a dataset"),
    (re.compile(r"--data FILE\.npz"), "a dataset"),
    (re.compile(r"--(include|exclude|force|method|precision|metric|max-accuracy-drop|max-error)\b"),
     lambda m: f"the {m[1].replace('-', '_')} option"),
]


def in_service_words(text: str | None) -> str | None:
    """``text`` with the CLI's flags named as the service's options."""
    if not text:
        return text
    for pattern, words in FLAGS:
        text = pattern.sub(words, text)
    return text


def reword_report(report: dict) -> dict:
    """The report's reasons (per layer, auto mode's and the precision stage's) in the service's words, in place."""
    for row in report.get("layers") or []:
        row["reason"] = in_service_words(row.get("reason"))
    for section in (report.get("auto"), report.get("precision")):
        if section:
            for key in ("reason", "guarantee_note"):
                if key in section:
                    section[key] = in_service_words(section[key])
    precision = report.get("precision") or {}
    for node in precision.get("float_nodes") or []:
        if isinstance(node, dict) and "reason" in node:
            node["reason"] = in_service_words(node["reason"])
    return report

"""The explored trade-off as a PNG (only with ``--plot``; matplotlib is the optional extra ``plot``)."""

from __future__ import annotations

from pathlib import Path

from ..errors import SepconvError


def plot_curve(curve: list[dict], chosen: dict | None, budget: float | None, path: str | Path) -> str:
    """Latency ratio against output error: the greedy path, evaluated points, the chosen one."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise SepconvError("--plot needs matplotlib: pip install 'sepconv[plot]'") from None
    fig = figure(curve, chosen, budget)
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p)
    plt.close(fig)
    return str(p)


def figure(curve: list[dict], chosen: dict | None, budget: float | None):
    """The matplotlib figure of :func:`plot_curve`."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    est = [(r["estimated_error"], r["predicted_latency_ratio"]) for r in curve]
    if est:
        ax.plot(*zip(*est), "-", color="0.6", label="greedy path (estimated error)")
    ev = [(r["fit_error"], r["predicted_latency_ratio"]) for r in curve if r.get("fit_error") is not None]
    if ev:
        ax.plot(*zip(*ev), "o", label="converted and refit (fitting data)")
    if chosen and chosen.get("held_out_error") is not None and chosen.get("measured_latency_ratio") is not None:
        ax.plot([chosen["held_out_error"]], [chosen["measured_latency_ratio"]], "*", ms=14,
                label="chosen (held-out error, measured latency)")
    if budget is not None:
        ax.axvline(budget, color="red", ls="--", lw=1, label=f"budget {budget:g}")
    ax.set_xscale("symlog", linthresh=max((budget or 0.01) / 10, 1e-6))
    ax.set_xlim(left=0.0)  # errors are never negative: no symlog range below 0
    ax.set_xlabel("relative L2 error of the model outputs")
    ax.set_ylabel("latency ratio (converted / original)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig

"""The HTML report: one self-contained file (plotly.js inline, opens offline).

Built from the JSON report alone (so ``report.json`` can be turned into HTML later): a
timeline with four rows sharing the time axis — throughput and errors per operation,
latency percentiles, the breaker's state — with the outage window shaded, breaker
OPEN/HALF-OPEN bands and phase boundaries marked; then the verdict, the measurements,
the phase/check table and per-phase statistics.
"""

from __future__ import annotations

import html
import itertools
import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from authdrill.drill import DrillReport
from authdrill.report._files import write_text_atomically

__all__ = ["html_report", "timeline_figure", "write_html"]

_PALETTE = (
    *("#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2"),
    *("#17becf", "#bcbd22", "#7f7f7f", "#ff7f0e"),
)
_BREAKER_LEVEL = {"closed": 0, "half_open": 1, "open": 2}
_BREAKER_COLOUR = {"open": "rgba(214,39,40,0.16)", "half_open": "rgba(255,127,14,0.16)"}
_PERCENTILES = (("p50_ms", "dot"), ("p95_ms", "solid"), ("p99_ms", "dash"))
_TITLES = (
    "operations / s",
    "failed operations / s (refused logins in the outage are expected)",
    "latency (ms): p50 dotted, p95, p99 dashed",
    "breaker (0 closed, 1 half-open, 2 open)",
)


def _on_grid(buckets: list[dict[str, Any]], grid: Sequence[float]) -> list[dict[str, Any]]:
    """``buckets`` with an empty one at every grid time they lack (lines break there)."""
    have = {b["t"]: b for b in buckets}
    empty = {"count": 0, "failed": 0, "p50_ms": None, "p95_ms": None, "p99_ms": None}
    return [have.get(t, {"t": t, **empty}) for t in grid]


def _traffic_traces(fig: go.Figure, doc: Mapping[str, Any]) -> None:
    by_op: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for bucket in doc.get("timeline", []):
        by_op[bucket["op"]].append(bucket)
    grid = sorted({b["t"] for b in doc.get("timeline", [])})
    step = min((b - a for a, b in itertools.pairwise(grid) if b > a), default=1.0)
    for index, (op, sparse) in enumerate(sorted(by_op.items())):
        colour = _PALETTE[index % len(_PALETTE)]
        buckets = _on_grid(sparse, grid)
        x = [b["t"] for b in buckets]
        rates = [b["count"] / step for b in buckets]
        failures = [b["failed"] / step for b in buckets]
        line = {"color": colour}
        fig.add_trace(go.Scatter(x=x, y=rates, name=op, legendgroup=op, line=line), row=1, col=1)
        fig.add_trace(
            go.Bar(
                x=x,
                y=failures,
                name=f"{op} failed",
                legendgroup=op,
                marker_color=colour,
                showlegend=False,
            ),
            row=2,
            col=1,
        )
        for key, dash in _PERCENTILES:
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=[b[key] for b in buckets],
                    name=f"{op} {key.removesuffix('_ms')}",
                    legendgroup=op,
                    line={"color": colour, "dash": dash, "width": 1.5},
                    showlegend=False,
                ),
                row=3,
                col=1,
            )


def _breaker(fig: go.Figure, doc: Mapping[str, Any], end: float) -> None:
    timeline = [(float(t), str(state)) for t, state in doc.get("breaker_timeline", [])]
    if not timeline:
        return
    xs = [t for t, _ in timeline] + [end]
    ys = [_BREAKER_LEVEL.get(state, -1) for _, state in timeline]
    ys.append(ys[-1])
    step_line = {"shape": "hv", "color": "#d62728"}
    fig.add_trace(go.Scatter(x=xs, y=ys, name="breaker", line=step_line), row=4, col=1)
    for (t, state), (t_next, _) in itertools.pairwise([*timeline, (end, "")]):
        if state in _BREAKER_COLOUR:
            fig.add_vrect(
                x0=t, x1=t_next, fillcolor=_BREAKER_COLOUR[state], line_width=0, layer="below"
            )


def _label(fig: go.Figure, x: float, text: str, *, vertical: bool) -> None:
    fig.add_annotation(
        x=x,
        y=1.0,
        yref="paper",
        text=text,
        showarrow=False,
        textangle=-90 if vertical else 0,
        xanchor="left",
        yanchor="top" if vertical else "bottom",
        font={"size": 10 if vertical else 11, "color": "#666" if vertical else "#222"},
    )


def _marks(fig: go.Figure, doc: Mapping[str, Any]) -> None:
    outage = doc.get("outage") or {}
    down, up = outage.get("killed_at"), outage.get("auth_ready_at")
    if down is not None:
        until = up if up is not None else down + 1
        fig.add_vrect(x0=down, x1=until, fillcolor="rgba(0,0,0,0.10)", line_width=0, layer="below")
        _label(fig, down, "auth down", vertical=False)
    for name, t in doc.get("phase_starts", []):
        fig.add_vline(x=t, line_width=1, line_dash="dot", line_color="#999")
        _label(fig, t, name, vertical=True)


def timeline_figure(doc: Mapping[str, Any]) -> go.Figure:
    """The four-row timeline of a JSON report document."""
    fig = make_subplots(
        rows=4,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.04,
        row_heights=[0.3, 0.2, 0.35, 0.15],
        subplot_titles=_TITLES,
    )
    _traffic_traces(fig, doc)
    end = max([b["t"] for b in doc.get("timeline", [])] + [float(doc.get("wall_s", 0))])
    _breaker(fig, doc, end)
    _marks(fig, doc)
    fig.update_yaxes(type="log", row=3, col=1)
    fig.update_yaxes(range=[-0.2, 2.2], tickvals=[0, 1, 2], row=4, col=1)
    fig.update_xaxes(title_text="seconds since the drill started", row=4, col=1)
    fig.update_layout(
        height=900,
        barmode="stack",
        template="plotly_white",
        margin={"t": 60, "r": 20},
        legend={"orientation": "h", "y": 1.06},
    )
    return fig


def _table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], *, classes: Sequence[str] = ()
) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        css = f' class="{classes[i]}"' if classes and classes[i] else ""
        cells = "".join(f"<td>{html.escape('' if c is None else str(c))}</td>" for c in row)
        body.append(f"<tr{css}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _checks_html(doc: Mapping[str, Any]) -> str:
    rows: list[list[Any]] = []
    classes: list[str] = []
    for phase in doc.get("phases", []):
        title = f"{phase['name']}: {phase.get('title', '')}"
        rows.append([title, phase["status"], f"{phase['duration_s']:.2f} s", ""])
        classes.append(f"phase {phase['status']}")
        if phase.get("error"):
            rows.append(["", "error", phase["error"], ""])
            classes.append("failed")
        for check in phase.get("checks", []):
            mark = "✔" if check["passed"] else "✘"
            rows.append([f"  {check['name']}", mark, check["observed"], check["expected"]])
            classes.append("" if check["passed"] else "failed")
    return _table(["phase / check", "", "observed", "expected"], rows, classes=classes)


def _stats_html(doc: Mapping[str, Any]) -> str:
    headers = ["phase", "population", "operation", "count", "failed", "success"]
    headers += ["p50 ms", "p95 ms", "p99 ms", "max ms", "errors"]
    rows = []
    for g in doc.get("statistics", []):
        rate = "" if g["success_rate"] is None else f"{g['success_rate']:.1%}"
        errors = ", ".join(f"{kind} x{n}" for kind, n in g["errors"].items())
        rows.append([g["phase"], g["population"], g["op"], g["count"], g["failed"], rate])
        rows[-1] += [g["p50_ms"], g["p95_ms"], g["p99_ms"], g["max_ms"], errors]
    return _table(headers, rows)


_STYLE = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222} h1{margin-bottom:4px}
.verdict{font-size:1.4em;font-weight:600} .passed{color:#2a7d2a} .failedv{color:#c62828}
table{border-collapse:collapse;margin:12px 0;font-size:13px}
td,th{border:1px solid #ddd;padding:4px 8px;text-align:left}
tr.phase td{background:#f4f4f4;font-weight:600} tr.failed td{color:#c62828}
tr.phase.failed td,tr.phase.error td{background:#fdecea}
"""


def html_report(report: DrillReport | Mapping[str, Any]) -> str:
    """A self-contained HTML page for ``report`` (a report or its JSON document)."""
    doc = report.as_json() if isinstance(report, DrillReport) else report
    verdict = "PASSED" if doc["passed"] else f"FAILED at phase {doc.get('first_failed_phase')}"
    values = [
        [k, f"{v:.3f}" if isinstance(v, float) else v]
        for k, v in doc.get("measurements", {}).items()
    ]
    figure = timeline_figure(doc).to_html(full_html=False, include_plotlyjs=True)
    shown_settings = {k: v for k, v in doc.get("settings", {}).items() if k != "thresholds"}
    title = f"authdrill {html.escape(doc['drill'])} against {html.escape(doc['target'])}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}: {html.escape(verdict)}</title>
<style>{_STYLE}</style></head><body>
<h1>{title}</h1>
<div class="verdict {"passed" if doc["passed"] else "failedv"}">{html.escape(verdict)}</div>
<p>started {html.escape(doc.get("started_at", ""))}, {doc.get("wall_s", 0):.1f} s;
settings {html.escape(json.dumps(shown_settings))}</p>
{figure}
<h2>Measurements</h2>{_table(["measurement", "value"], values)}
<h2>Phases and checks</h2>{_checks_html(doc)}
<h2>Statistics per phase, population and operation</h2>{_stats_html(doc)}
</body></html>
"""


def write_html(report: DrillReport | Mapping[str, Any], path: Path) -> None:
    """Write :func:`html_report` to ``path`` atomically."""
    write_text_atomically(path, html_report(report))

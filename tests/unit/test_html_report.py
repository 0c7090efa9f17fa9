"""The HTML report: one self-contained page with the verdict, the tables and the timeline,
built from a report or its JSON document, written atomically with ordinary permissions."""

from __future__ import annotations

import html
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from authdrill.drill import Check, DrillReport, PhaseResult
from authdrill.record import Recorder, summarize, timeline
from authdrill.report import html_report, write_html

KILLED_AT = 3.0
AUTH_READY_AT = 6.1
BREAKER_TIMELINE = [[0.5, "closed"], [3.2, "open"], [6.0, "half_open"], [6.4, "closed"]]
PHASE_STARTS = [
    ["setup", 0.0],
    ["sessions", 1.0],
    ["fail", 3.0],
    ["persist", 3.05],
    ["restore", 5.5],
    ["recover", 6.2],
]
OPS = ("api_call", "backend_login", "ws_round_trip")
FAILED_CHECK: dict[str, Any] = {
    "name": "existing sessions succeed during the outage",
    "passed": False,
    "expected": ">= 100%",
    "observed": "33.3% (9/27); failures: api_call:status 401 x9",
}


def bucket(t: float, op: str, count: int, failed: int = 0) -> dict[str, Any]:
    return {
        "t": t,
        "op": op,
        "count": count,
        "failed": failed,
        "p50_ms": 1.5,
        "p95_ms": 4.0,
        "p99_ms": 9.0,
    }


def document(**changes: Any) -> dict[str, Any]:
    """A JSON report document of a failed load drill, as ``DrillReport.as_json`` shapes it."""
    doc: dict[str, Any] = {
        "drill": "auth-outage",
        "target": "builtin:broken-remote-validation",
        "passed": False,
        "first_failed_phase": "persist",
        "started_at": "2025-01-02T03:04:05+00:00",
        "wall_s": 9.5,
        "settings": {"users": 3, "duration_s": 8.0, "thresholds": {"max_websocket_disconnects": 0}},
        "phases": [
            {
                "name": "setup",
                "title": "Start the target on free ports",
                "status": "passed",
                "passed": True,
                "duration_s": 1.0,
                "error": None,
                "checks": [
                    {
                        "name": "auth ready after start",
                        "passed": True,
                        "expected": "<= 30000 ms",
                        "observed": "612 ms",
                    }
                ],
            },
            {
                "name": "persist",
                "title": "Existing sessions keep working",
                "status": "failed",
                "passed": False,
                "duration_s": 2.0,
                "error": None,
                "checks": [FAILED_CHECK],
            },
            {
                "name": "restore",
                "title": "Restart auth on its port",
                "status": "error",
                "passed": False,
                "duration_s": 0.5,
                "error": "auth: exited while starting; exit code 3",
                "checks": [],
            },
            {
                "name": "recover",
                "title": "Seamless recovery",
                "status": "skipped",
                "passed": False,
                "duration_s": 0.0,
                "error": None,
                "checks": [],
            },
        ],
        "measurements": {
            "auth_kill_to_down_ms": 10.25,
            "outage_session_success_rate": None,
            "lost_writes": 0,
        },
        "statistics": [
            {
                "phase": "persist",
                "population": "existing",
                "op": "api_call",
                "count": 27,
                "ok": 9,
                "failed": 18,
                "success_rate": 9 / 27,
                "p50_ms": 1.25,
                "p95_ms": 3.5,
                "p99_ms": 7.75,
                "max_ms": 8.0,
                "errors": {"status 401": 18},
            }
        ],
        "timeline": [
            bucket(0.0, "api_call", 4),
            bucket(0.0, "ws_round_trip", 2),
            bucket(0.5, "api_call", 6),
            bucket(0.5, "backend_login", 3, failed=3),
            bucket(1.0, "api_call", 5, failed=1),
            bucket(1.0, "ws_round_trip", 2),
        ],
        "breaker_timeline": BREAKER_TIMELINE,
        "outage": {"killed_at": KILLED_AT, "auth_ready_at": AUTH_READY_AT},
        "phase_starts": PHASE_STARTS,
    }
    doc.update(changes)
    return doc


def figure_of(page: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The data and layout the page hands to ``Plotly.newPlot``."""
    at = page.index("Plotly.newPlot(") + len("Plotly.newPlot(")
    decoder = json.JSONDecoder()

    def value_at(index: int) -> tuple[Any, int]:
        index = len(page) - len(page[index:].lstrip(" \n,"))
        return decoder.raw_decode(page, index)

    _, at = value_at(at)  # the div's id
    data, at = value_at(at)
    layout, _ = value_at(at)
    return data, layout


def outside_scripts(page: str) -> str:
    """The page without the contents of its inline ``<script>`` elements."""
    return re.sub(r"<script\b[^>]*>.*?</script>", "<script></script>", page, flags=re.DOTALL)


@pytest.fixture(scope="module")
def page() -> str:
    """The HTML of the synthetic document (rendering inlines ~4 MB of plotly.js: once)."""
    return html_report(document())


@pytest.fixture(scope="module")
def figure(page: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    return figure_of(page)


# ---------------------------------------------------------------- self-contained


def test_page_is_self_contained(page: str) -> None:
    """plotly.js is inlined and nothing is fetched: no script/link by URL, and no http(s)
    URL anywhere outside the inline scripts (plotly.js's own comments and strings)."""
    assert "<script src" not in page.lower()
    assert not re.search(r"<link\b", page, flags=re.IGNORECASE)
    scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", page, flags=re.DOTALL)
    assert any(len(s) > 1_000_000 and "Plotly" in s for s in scripts), "plotly.js not inlined"
    markup = outside_scripts(page)
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", markup, re.IGNORECASE)
    assert re.findall(r"https?://", markup) == []
    assert page.startswith("<!doctype html>")
    assert page.rstrip().endswith("</html>")


# ---------------------------------------------------------------- verdict and tables


def test_page_shows_the_verdict_and_title(page: str) -> None:
    """A failed drill reads "FAILED at phase persist" in the verdict and the title."""
    assert '<div class="verdict failedv">FAILED at phase persist</div>' in page
    assert "<title>authdrill auth-outage against builtin:broken-remote-validation: FAILED" in page
    passed = html_report(document(passed=True, first_failed_phase=None))
    assert '<div class="verdict passed">PASSED</div>' in passed
    assert "FAILED" not in outside_scripts(passed)


def test_checks_table_has_every_phase_and_the_failed_checks_both_sides(page: str) -> None:
    """Each phase is a row with its status; a failed check's row shows observed and expected;
    a phase error is shown."""
    for phase in document()["phases"]:
        title = html.escape(f"{phase['name']}: {phase['title']}")
        assert f"<td>{title}</td><td>{phase['status']}</td>" in page, phase["name"]
    failed_row = (
        '<tr class="failed"><td>  existing sessions succeed during the outage</td><td>✘</td>'
        f"<td>{html.escape(FAILED_CHECK['observed'])}</td>"
        f"<td>{html.escape(FAILED_CHECK['expected'])}</td></tr>"
    )
    assert failed_row in page
    assert "<td>auth ready after start</td>" not in page  # indented under its phase
    assert "<td>  auth ready after start</td><td>✔</td><td>612 ms</td>" in page
    assert "<td>auth: exited while starting; exit code 3</td>" in page


def test_measurements_table(page: str) -> None:
    """Each measurement is a row: floats with 3 decimals, ints as they are, None empty."""
    assert "<h2>Measurements</h2>" in page
    assert "<td>auth_kill_to_down_ms</td><td>10.250</td>" in page
    assert "<td>lost_writes</td><td>0</td>" in page
    assert "<td>outage_session_success_rate</td><td></td>" in page


def test_statistics_table(page: str) -> None:
    """Each statistics group is a row: identity, counts, success as a percentage,
    percentiles and errors."""
    row = (
        "<tr><td>persist</td><td>existing</td><td>api_call</td><td>27</td><td>18</td>"
        "<td>33.3%</td><td>1.25</td><td>3.5</td><td>7.75</td><td>8.0</td>"
        "<td>status 401 x18</td></tr>"
    )
    assert row in page


# ---------------------------------------------------------------- the timeline figure


def test_one_throughput_trace_per_op_in_operations_per_second(
    figure: tuple[list[dict[str, Any]], dict[str, Any]],
) -> None:
    """The first row has one line per op, on the shared time grid, in operations per
    second (counts over the bucket width), 0 where the op had no bucket."""
    data, _ = figure
    rows = {t["name"]: t for t in data if t.get("xaxis") == "x"}
    assert set(rows) == set(OPS)
    assert rows["api_call"]["x"] == [0.0, 0.5, 1.0]
    assert rows["api_call"]["y"] == [8.0, 12.0, 10.0]
    assert rows["backend_login"]["y"] == [0.0, 6.0, 0.0]
    assert rows["ws_round_trip"]["y"] == [4.0, 0.0, 4.0]
    failures = {t["name"]: t["y"] for t in data if t.get("xaxis") == "x2"}
    assert failures["backend_login failed"] == [0.0, 6.0, 0.0]
    assert failures["api_call failed"] == [0.0, 0.0, 2.0]
    latency = {t["name"]: t["y"] for t in data if t.get("xaxis") == "x3"}
    assert latency["api_call p95"] == [4.0, 4.0, 4.0]
    assert latency["backend_login p99"] == [None, 9.0, None]


def test_breaker_states_are_a_step_line(
    figure: tuple[list[dict[str, Any]], dict[str, Any]],
) -> None:
    """The breaker row is a step line at 0 closed, 2 open, 1 half-open, held to the end."""
    data, _ = figure
    [breaker] = [t for t in data if t["name"] == "breaker"]
    assert breaker["x"] == [0.5, 3.2, 6.0, 6.4, 9.5]
    assert breaker["y"] == [0, 2, 1, 0, 0]
    assert breaker["line"]["shape"] == "hv"


def test_outage_is_shaded_from_kill_to_auth_ready(
    figure: tuple[list[dict[str, Any]], dict[str, Any]],
) -> None:
    """A rectangle spans exactly killed_at to auth_ready_at, labelled "auth down"."""
    _, layout = figure
    outage = [
        s
        for s in layout["shapes"]
        if s["type"] == "rect" and (s["x0"], s["x1"]) == (KILLED_AT, AUTH_READY_AT)
    ]
    assert outage, layout["shapes"]
    assert {a["text"]: a["x"] for a in layout["annotations"]}["auth down"] == KILLED_AT


def test_breaker_open_and_half_open_periods_are_bands(
    figure: tuple[list[dict[str, Any]], dict[str, Any]],
) -> None:
    """OPEN and HALF-OPEN periods are coloured bands from each change to the next; closed
    periods are not banded."""
    _, layout = figure
    bands = {
        (s["x0"], s["x1"]): s["fillcolor"]
        for s in layout["shapes"]
        if s["type"] == "rect" and (s["x0"], s["x1"]) != (KILLED_AT, AUTH_READY_AT)
    }
    assert set(bands) == {(3.2, 6.0), (6.0, 6.4)}
    assert bands[3.2, 6.0] != bands[6.0, 6.4]


def test_phase_starts_are_vertical_lines_with_labels(
    figure: tuple[list[dict[str, Any]], dict[str, Any]],
) -> None:
    """Every phase start is a vertical line at its time, with the phase's name beside it."""
    _, layout = figure
    lines = {s["x0"] for s in layout["shapes"] if s["type"] == "line" and s["x0"] == s["x1"]}
    assert lines == {t for _, t in PHASE_STARTS}
    labels = {(a["text"], a["x"]) for a in layout["annotations"]}
    for name, t in PHASE_STARTS:
        assert (name, t) in labels


def test_a_document_without_load_material_still_renders() -> None:
    """A discrete drill's document (no timeline, breaker or outage) gives a page with an
    empty figure, not an error."""
    doc = document(
        passed=True, first_failed_phase=None, timeline=[], breaker_timeline=[], outage=None
    )
    del doc["phase_starts"]
    page = html_report(doc)
    data, layout = figure_of(page)
    assert data == []
    assert layout.get("shapes", []) == []
    assert "PASSED" in page


# ---------------------------------------------------------------- from a DrillReport


def hand_made_report() -> DrillReport:
    """A passed report whose details come from a real recorder's statistics and timeline."""
    recorder = Recorder(clock=lambda: 0.0)
    for phase, start in (("baseline", 0.2), ("persist", 1.2), ("recover", 2.2)):
        recorder.phase = phase
        for op in ("api_call", "ws_round_trip"):
            recorder.add(op, "existing", start=start, latency=0.004, ok=True, status=200)
    recorder.phase = "persist"
    recorder.add(
        "backend_login", "new", start=1.3, latency=0.002, ok=False, status=503, error="status"
    )
    columns = recorder.columns()
    check = Check(
        name="existing sessions succeed during the outage",
        passed=True,
        expected=">= 100%",
        observed="100.0% (2/2)",
    )
    return DrillReport(
        drill="auth-outage",
        target="builtin:reference",
        started_at="2025-01-02T03:04:05+00:00",
        wall_s=3.5,
        phases=(PhaseResult("persist", "Existing sessions keep working", "passed", 1.0, (check,)),),
        measurements={"lost_writes": 0, "baseline_ops_per_s": 12.5},
        settings={"users": 1, "thresholds": {}},
        details={
            "statistics": [g.as_json() for g in summarize(columns)],
            "timeline": [b.as_json() for b in timeline(columns, bucket_s=1.0)],
            "breaker_timeline": [[0.1, "closed"], [1.1, "open"], [2.1, "closed"]],
            "outage": {"killed_at": 1.0, "auth_ready_at": 2.0},
            "phase_starts": [["persist", 1.0]],
        },
    )


def without_div_id(page: str) -> str:
    """``page`` with plotly's random div id replaced by a constant."""
    return re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "ID", page)


def test_a_report_and_its_json_document_give_the_same_page() -> None:
    """``html_report`` of a DrillReport equals that of its ``as_json()`` (up to plotly's
    random div id), with its verdict, tables and one trace per op."""
    report = hand_made_report()
    page = html_report(report)
    assert without_div_id(page) == without_div_id(html_report(report.as_json()))
    assert '<div class="verdict passed">PASSED</div>' in page
    assert "<td>baseline_ops_per_s</td><td>12.500</td>" in page
    assert "<td>persist</td><td>new</td><td>backend_login</td><td>1</td><td>1</td>" in page
    data, layout = figure_of(page)
    assert {t["name"] for t in data if t.get("xaxis") == "x"} == {
        "api_call",
        "backend_login",
        "ws_round_trip",
    }
    assert any(s["type"] == "rect" and (s["x0"], s["x1"]) == (1.0, 2.0) for s in layout["shapes"])


# ---------------------------------------------------------------- escaping


def test_names_from_the_document_are_escaped() -> None:
    """A check name, target or op carrying markup cannot inject a script into the page."""
    attack = "<script>alert(1)</script>"
    doc = document(target=f"evil{attack}")
    doc["phases"][1]["checks"] = [{**FAILED_CHECK, "name": f"check {attack}"}]
    doc["timeline"] = [bucket(0.0, f"op</script>{attack}", 1)]
    page = html_report(doc)
    assert "<script>alert(1)" not in page
    assert html.escape(f"check {attack}") in page
    assert html.escape(f"evil{attack}") in page
    data, _ = figure_of(page)
    assert data[0]["name"] == f"op</script>{attack}"  # intact once decoded


# ---------------------------------------------------------------- writing the file


@pytest.fixture
def umask() -> Iterator[None]:
    """Restore the process umask after the test."""
    saved = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(saved)


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_write_html_gives_ordinary_permissions(
    umask: None, tmp_path: Path, mask: int, mode: int
) -> None:
    """The file gets 0666 minus the umask, like a plain open(), not a temp file's 0600."""
    os.umask(mask)
    target = tmp_path / "reports" / "outage.html"
    write_html(document(), target)
    assert target.stat().st_mode & 0o777 == mode
    text = target.read_text(encoding="utf-8")
    assert "FAILED at phase persist" in text
    assert len(text.encode()) > 1_000_000


def test_write_html_replaces_atomically_and_keeps_the_old_file_on_failure(
    umask: None, tmp_path: Path
) -> None:
    """A new report replaces the old one whole; a write that fails midway leaves the old
    file as it was and no temporary file behind."""
    target = tmp_path / "report.html"
    target.write_text("old report", encoding="utf-8")
    write_html(document(passed=True, first_failed_phase=None), target)
    assert '<div class="verdict passed">PASSED</div>' in target.read_text(encoding="utf-8")
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]
    first = target.read_bytes()
    unencodable = document()
    unencodable["phases"][0]["checks"] = [{**FAILED_CHECK, "name": "lone surrogate \ud800"}]
    with pytest.raises(UnicodeEncodeError):
        write_html(unencodable, target)
    assert target.read_bytes() == first
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_write_html_accepts_a_report(tmp_path: Path) -> None:
    """``write_html`` takes a DrillReport as well as a JSON document."""
    target = tmp_path / "r.html"
    write_html(hand_made_report(), target)
    assert "PASSED" in target.read_text(encoding="utf-8")

"""Drill reports: the JSON shape, verdict helpers, JUnit XML, atomic writes, the terminal."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from rich.console import Console

from authdrill.drill import Check, DrillReport, PhaseResult
from authdrill.report import junit_xml, print_summary, write_json, write_junit

MEASUREMENTS = {
    "auth_kill_to_down_ms": 10.1,
    "auth_restart_to_ready_ms": 805.9,
    "recovery_to_first_login_ms": None,
    "outage_session_success_rate": 0.972,
    "outage_login_p99_ms": 37.7,
    "breaker_open_after_ms": 88.7,
    "breaker_closed_after_recovery_ms": None,
    "websocket_disconnects": 0,
}
PASSED_PHASES = (
    PhaseResult(
        "setup",
        "Start the target",
        "passed",
        1.5,
        (
            Check(
                name="auth ready after start",
                passed=True,
                expected="<= 30000 ms",
                observed="700 ms",
            ),
        ),
    ),
    PhaseResult(
        "sessions",
        "Open user sessions",
        "passed",
        0.25,
        (
            Check(
                name="sessions established",
                passed=True,
                expected=">= 100%",
                observed="100.0% (3/3)",
            ),
        ),
    ),
)
FAILED_PERSIST = PhaseResult(
    "persist",
    "Existing sessions keep working",
    "failed",
    0.5,
    (
        Check(
            name="existing sessions succeed",
            passed=False,
            expected=">= 100%",
            observed="97.2% (175/180)",
        ),
        Check(
            name="ws_round_trip during the outage",
            passed=True,
            expected=">= 100%",
            observed="100.0% (60/60)",
        ),
        Check(name="WebSocket disconnects", passed=False, expected="<= 0", observed="2"),
    ),
)
ERRORED_RESTORE = PhaseResult(
    "restore", "Restart auth", "error", 0.8, error="auth: exited while starting; exit code 3"
)
SKIPPED_RECOVER = PhaseResult(
    "recover", "Seamless recovery", "skipped", 0.0, error="restore did not pass"
)


def report(*phases: PhaseResult, **details: object) -> DrillReport:
    return DrillReport(
        drill="auth-outage",
        target="builtin:reference",
        started_at="2026-01-01T00:00:00+00:00",
        wall_s=4.25,
        phases=phases,
        measurements=MEASUREMENTS,
        settings={"users": 3},
        details=details,
    )


PASSING = report(*PASSED_PHASES)
FAILING = report(*PASSED_PHASES, FAILED_PERSIST, ERRORED_RESTORE, SKIPPED_RECOVER)


# ---------------------------------------------------------------------- the model


def test_passed_only_when_every_phase_passed() -> None:
    """A report passes when it has phases and all passed; any other status fails it."""
    assert PASSING.passed
    assert not FAILING.passed
    assert not report().passed, "a drill that ran no phase proves nothing"
    assert not report(*PASSED_PHASES, SKIPPED_RECOVER).passed


def test_first_failure_is_the_first_failed_or_errored_phase() -> None:
    """first_failure skips passed phases and ignores skipped ones."""
    assert PASSING.first_failure is None
    assert FAILING.first_failure is FAILED_PERSIST
    errored_first = report(*PASSED_PHASES, ERRORED_RESTORE, FAILED_PERSIST)
    assert errored_first.first_failure is ERRORED_RESTORE
    assert report(SKIPPED_RECOVER).first_failure is None


def test_describe_failures_lists_every_failed_check_and_error() -> None:
    """One line per failed check (phase, check, expected, observed) and per phase error."""
    assert PASSING.describe_failures() == ""
    assert FAILING.describe_failures().splitlines() == [
        "persist: existing sessions succeed: expected >= 100%, observed 97.2% (175/180)",
        "persist: WebSocket disconnects: expected <= 0, observed 2",
        "restore: error: auth: exited while starting; exit code 3",
    ]


def test_phase_lookup_by_name() -> None:
    """phase(name) finds a phase; an unknown name is a KeyError."""
    assert FAILING.phase("persist") is FAILED_PERSIST
    with pytest.raises(KeyError):
        FAILING.phase("nope")


# ---------------------------------------------------------------------- JSON


def test_as_json_has_the_documented_fields_and_types() -> None:
    """Top level, phases and checks carry the documented fields with JSON types."""
    document = FAILING.as_json()
    assert document.keys() == {
        "drill",
        "target",
        "passed",
        "first_failed_phase",
        "started_at",
        "wall_s",
        "settings",
        "phases",
        "measurements",
    }
    assert document["drill"] == "auth-outage"
    assert document["passed"] is False
    assert document["first_failed_phase"] == "persist"
    assert document["wall_s"] == 4.25
    assert document["measurements"] == MEASUREMENTS
    assert [p["name"] for p in document["phases"]] == [
        "setup",
        "sessions",
        "persist",
        "restore",
        "recover",
    ]
    for phase_json, phase in zip(document["phases"], FAILING.phases, strict=True):
        assert phase_json.keys() == {
            "name",
            "title",
            "status",
            "passed",
            "duration_s",
            "error",
            "checks",
        }
        assert phase_json["passed"] is phase.passed
        assert phase_json["status"] == phase.status
        assert phase_json["duration_s"] == phase.duration_s
        assert phase_json["error"] == phase.error
        for check_json, check in zip(phase_json["checks"], phase.checks, strict=True):
            assert check_json == {
                "name": check.name,
                "passed": check.passed,
                "expected": check.expected,
                "observed": check.observed,
            }
    assert json.loads(json.dumps(document)) == document


def test_as_json_of_a_passing_report() -> None:
    """A passing report says passed with no failed phase."""
    document = PASSING.as_json()
    assert document["passed"] is True
    assert document["first_failed_phase"] is None


def test_details_appear_at_the_top_level() -> None:
    """Details (run_dir, timelines) are added next to the documented fields."""
    document = report(
        *PASSED_PHASES, run_dir="runs/1", breaker_timeline=[[0.1, "closed"]]
    ).as_json()
    assert document["run_dir"] == "runs/1"
    assert document["breaker_timeline"] == [[0.1, "closed"]]


def test_details_never_shadow_the_verdict() -> None:
    """A detail named like a documented field must not change the report's verdict or phases."""
    tampered = report(*PASSED_PHASES, FAILED_PERSIST, passed=True, phases=[], drill="other")
    document = tampered.as_json()
    assert document["passed"] is False
    assert document["drill"] == "auth-outage"
    assert len(document["phases"]) == 3


# ---------------------------------------------------------------------- writing JSON


def test_write_json_writes_a_parseable_file_and_leaves_no_temp_file(tmp_path: Path) -> None:
    """The written file parses to as_json(); nothing else is left in the directory."""
    path = tmp_path / "reports" / "r.json"
    write_json(FAILING, path)
    assert json.loads(path.read_text(encoding="utf-8")) == FAILING.as_json()
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]


def test_write_json_replaces_an_existing_report_whole(tmp_path: Path) -> None:
    """Writing over an earlier report replaces it entirely."""
    path = tmp_path / "r.json"
    write_json(FAILING, path)
    write_json(PASSING, path)
    assert json.loads(path.read_text(encoding="utf-8"))["passed"] is True
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_write_json_that_fails_keeps_the_old_file_and_leaves_no_temp_file(
    tmp_path: Path,
) -> None:
    """A report that cannot be serialised leaves the previous file intact: never half a file."""
    path = tmp_path / "r.json"
    write_json(PASSING, path)
    before = path.read_bytes()
    unserialisable = report(*PASSED_PHASES, oops=object())
    with pytest.raises(TypeError):
        write_json(unserialisable, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


# ---------------------------------------------------------------------- JUnit


def parse_suite(document: str) -> ET.Element:
    root = ET.fromstring(document)  # noqa: S314 - our own output
    assert root.tag == "testsuites"
    [suite] = list(root)
    assert suite.tag == "testsuite"
    return suite


def test_junit_has_one_testcase_per_check_and_counts_that_add_up() -> None:
    """Checks of run phases are cases; errored and skipped phases are one case each."""
    suite = parse_suite(junit_xml(FAILING))
    cases = suite.findall("testcase")
    expected_cases = sum(len(p.checks) for p in FAILING.phases if p.status in {"passed", "failed"})
    expected_cases += sum(1 for p in FAILING.phases if p.status in {"error", "skipped"})
    assert len(cases) == expected_cases == 7
    assert suite.get("name") == "authdrill.auth-outage"
    assert suite.get("tests") == str(len(cases))
    assert suite.get("failures") == str(len(suite.findall("testcase/failure"))) == "2"
    assert suite.get("errors") == str(len(suite.findall("testcase/error"))) == "1"
    assert suite.get("skipped") == str(len(suite.findall("testcase/skipped"))) == "1"
    assert suite.get("time") == "4.250"


def test_junit_failure_says_expected_and_observed() -> None:
    """A failed check's case has a <failure> with both sides; a passing one has none."""
    suite = parse_suite(junit_xml(FAILING))
    by_name = {case.get("name"): case for case in suite.findall("testcase")}
    failing = by_name["existing sessions succeed"]
    assert failing.get("classname") == "authdrill.auth-outage.persist"
    failure = failing.find("failure")
    assert failure is not None
    message = failure.get("message", "")
    assert "expected >= 100%" in message
    assert "observed 97.2% (175/180)" in message
    assert list(by_name["ws_round_trip during the outage"]) == []
    assert list(by_name["sessions established"]) == []


def test_junit_error_and_skipped_phases() -> None:
    """An errored phase is an <error> with its message; a skipped one is <skipped>."""
    suite = parse_suite(junit_xml(FAILING))
    errored = [c for c in suite.findall("testcase") if c.find("error") is not None]
    assert len(errored) == 1
    assert errored[0].get("classname") == "authdrill.auth-outage.restore"
    error = errored[0].find("error")
    assert error is not None
    assert "exit code 3" in error.get("message", "")
    skipped = [c for c in suite.findall("testcase") if c.find("skipped") is not None]
    assert [c.get("classname") for c in skipped] == ["authdrill.auth-outage.recover"]


def test_junit_of_a_passing_report_has_no_failures() -> None:
    """All checks held: zero failures, errors and skips."""
    suite = parse_suite(junit_xml(PASSING))
    assert (suite.get("failures"), suite.get("errors"), suite.get("skipped")) == ("0", "0", "0")
    assert suite.get("tests") == "2"


def test_junit_carries_measurements_as_properties() -> None:
    """Every measurement is a property; a missing one has an empty value."""
    suite = parse_suite(junit_xml(FAILING))
    properties = {p.get("name"): p.get("value") for p in suite.findall("properties/property")}
    assert properties.keys() == MEASUREMENTS.keys()
    assert properties["auth_kill_to_down_ms"] == "10.1"
    assert properties["recovery_to_first_login_ms"] == ""


def test_write_junit_writes_the_same_document(tmp_path: Path) -> None:
    """write_junit writes junit_xml's document, parseable from disk."""
    path = tmp_path / "out" / "r.xml"
    write_junit(FAILING, path)
    assert path.read_text(encoding="utf-8") == junit_xml(FAILING)
    ET.parse(path)  # noqa: S314 - our own output


# ---------------------------------------------------------------------- terminal


def render(drill_report: DrillReport) -> str:
    buffer = io.StringIO()
    print_summary(Console(file=buffer, width=120), drill_report)
    return buffer.getvalue()


def test_summary_of_a_failing_report_names_phases_checks_and_the_verdict() -> None:
    """Every phase, the failed check's expected and observed, and FAILED at the failing phase."""
    text = render(FAILING)
    for phase in FAILING.phases:
        assert phase.name in text
    assert "97.2% (175/180)" in text
    assert ">= 100%" in text
    assert "exit code 3" in text
    assert "failed in 0.50 s" in text, "a phase row shows its status and duration together"
    verdict = next(line for line in text.splitlines() if "FAILED" in line)
    assert "persist" in verdict
    assert "PASSED" not in text


def test_summary_of_a_passing_report_says_passed() -> None:
    """A passing report ends with PASSED and lists its measurements."""
    text = render(PASSING)
    assert "PASSED" in text
    assert "FAILED" not in text
    for name in MEASUREMENTS:
        assert name in text


def test_write_junit_that_fails_keeps_the_old_file_and_leaves_no_temp_file(
    tmp_path: Path,
) -> None:
    """JUnit is written atomically: a write that fails midway leaves the previous file whole."""
    path = tmp_path / "r.xml"
    write_junit(PASSING, path)
    before = path.read_bytes()
    unencodable = report(
        PhaseResult(
            "setup",
            "Start the target",
            "failed",
            1.0,
            (Check(name="lone surrogate \ud800", passed=False, expected="x", observed="y"),),
        )
    )
    with pytest.raises(UnicodeEncodeError):
        write_junit(unencodable, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["r.xml"]

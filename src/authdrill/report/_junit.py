"""JUnit XML: one test case per check, so CI systems show drill results natively.

Suite = the drill; class name = ``authdrill.<drill>.<phase>``; test name = the check.
A failed check is a ``<failure>`` saying expected vs observed; a phase that could not
do its work is one ``<error>`` case; a skipped phase is one ``<skipped>`` case.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from authdrill.drill import DrillReport
from authdrill.report._files import write_text_atomically

__all__ = ["junit_xml", "write_junit"]


def junit_xml(report: DrillReport) -> str:
    """The JUnit XML document for ``report``."""
    suite = ET.Element("testsuite", name=f"authdrill.{report.drill}", timestamp=report.started_at)
    tests = failures = errors = skipped = 0
    for phase in report.phases:
        classname = f"authdrill.{report.drill}.{phase.name}"
        if phase.status in {"error", "skipped"}:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=classname,
                name=phase.title,
                time=f"{phase.duration_s:.3f}",
            )
            tests += 1
            if phase.status == "error":
                errors += 1
                ET.SubElement(case, "error", message=phase.error or "error").text = phase.error
            else:
                skipped += 1
                ET.SubElement(case, "skipped", message=phase.error or "skipped")
            continue
        share = phase.duration_s / max(1, len(phase.checks))
        for check in phase.checks:
            tests += 1
            case = ET.SubElement(
                suite, "testcase", classname=classname, name=check.name, time=f"{share:.3f}"
            )
            if not check.passed:
                failures += 1
                message = f"expected {check.expected}, observed {check.observed}"
                ET.SubElement(case, "failure", message=message).text = message
    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", str(skipped))
    suite.set("time", f"{report.wall_s:.3f}")
    properties = ET.Element("properties")
    for name, value in report.measurements.items():
        ET.SubElement(
            properties, "property", name=name, value="" if value is None else f"{value:g}"
        )
    suite.insert(0, properties)
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(report: DrillReport, path: Path) -> None:
    """Write :func:`junit_xml` of ``report`` to ``path`` (atomically: never half a file)."""
    write_text_atomically(path, junit_xml(report))

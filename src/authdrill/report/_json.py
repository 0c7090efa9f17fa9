"""The JSON report: :meth:`DrillReport.as_json`, written atomically."""

from __future__ import annotations

import json
from pathlib import Path

from authdrill.drill import DrillReport
from authdrill.report._files import write_text_atomically

__all__ = ["write_json"]


def write_json(report: DrillReport, path: Path) -> None:
    """Write ``report`` as indented JSON to ``path`` (atomically: never half a file)."""
    write_text_atomically(path, json.dumps(report.as_json(), indent=2) + "\n")

"""Drill reports: terminal, JSON, JUnit XML and a self-contained HTML timeline."""

from authdrill.report._html import html_report, write_html
from authdrill.report._json import write_json
from authdrill.report._junit import junit_xml, write_junit
from authdrill.report._terminal import TerminalProgress, print_summary

__all__ = [
    "TerminalProgress",
    "html_report",
    "junit_xml",
    "print_summary",
    "write_html",
    "write_json",
    "write_junit",
]

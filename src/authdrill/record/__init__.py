"""Recording what happened: every operation, cheaply; histograms and statistics."""

from authdrill.record._histogram import Histogram
from authdrill.record._recorder import Columns, OpRecord, Recorder
from authdrill.record._stats import Bucket, GroupStats, summarize, timeline

__all__ = [
    "Bucket",
    "Columns",
    "GroupStats",
    "Histogram",
    "OpRecord",
    "Recorder",
    "summarize",
    "timeline",
]

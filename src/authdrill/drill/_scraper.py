"""Scraping the services' Prometheus metrics during a drill, to keep in the report.

Every ``interval_s`` each service's ``/metrics`` is read and its ``authdrill_*`` series
(histogram buckets and ``_created`` stamps left out: sums and counts remain) are kept
with the time of the scrape. A service that is down (auth, mid-drill) is simply
missing from that scrape.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from authdrill.record import Recorder

__all__ = ["MetricsScraper", "parse_metrics"]


def parse_metrics(text: str, *, prefix: str = "authdrill_") -> dict[str, float]:
    """``{"name{label=value,...}": value}`` for every sample whose name starts with ``prefix``.

    Raises:
        ValueError: the text is not the Prometheus exposition format.
    """
    series: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if not sample.name.startswith(prefix) or sample.name.endswith(("_bucket", "_created")):
                continue
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            series[f"{sample.name}{{{labels}}}" if labels else sample.name] = float(sample.value)
    return series


class MetricsScraper:
    """Reads ``endpoints`` (service name → metrics URL) every ``interval_s``."""

    def __init__(
        self,
        endpoints: Mapping[str, str],
        *,
        http: httpx.AsyncClient,
        recorder: Recorder,
        interval_s: float,
    ) -> None:
        self._endpoints = dict(endpoints)
        self._http = http
        self._recorder = recorder
        self.interval_s = interval_s
        self.scrapes: list[dict[str, Any]] = []

    async def _scrape(self, service: str, url: str) -> None:
        at = self._recorder.now()
        try:
            response = await self._http.get(url, timeout=max(1.0, self.interval_s))
            series = parse_metrics(response.text)
        except (httpx.HTTPError, ValueError):
            return  # down or not speaking Prometheus right now: a gap in the series
        self.scrapes.append({"t": round(at, 3), "service": service, "series": series})

    async def run(self) -> None:
        """Scrape until cancelled."""
        while True:
            await asyncio.gather(
                *(self._scrape(name, url) for name, url in self._endpoints.items())
            )
            await asyncio.sleep(self.interval_s)  # the scrape period itself

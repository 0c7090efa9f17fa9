"""The recorder: every operation with its phase, timed on an injectable clock."""

from __future__ import annotations

import asyncio

import pytest

from authdrill.errors import LoginError, SessionError, WebSocketError
from authdrill.record import OpRecord, Recorder


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def test_add_and_records_round_trip() -> None:
    """What is added comes back as OpRecords, field by field, in recording order."""
    recorder = Recorder(clock=FakeClock())
    recorder.add("api_call", "existing", start=0.5, latency=0.002, ok=True, status=200)
    recorder.add(
        "ws_round_trip", "existing", start=0.75, latency=0.1, ok=False, status=4403, error="closed"
    )
    assert len(recorder) == 2
    assert list(recorder.records()) == [
        OpRecord("api_call", "existing", "setup", 0.5, 0.002, ok=True, status=200, error=""),
        OpRecord(
            "ws_round_trip", "existing", "setup", 0.75, 0.1, ok=False, status=4403, error="closed"
        ),
    ]


def test_records_filter_by_op_population_and_phase() -> None:
    """Each filter narrows the records, and filters combine with AND."""
    recorder = Recorder(clock=FakeClock())
    for phase in ("sessions", "persist"):
        recorder.phase = phase
        for op in ("api_call", "login"):
            for population in ("existing", "new"):
                recorder.add(op, population, start=0.0, latency=0.001, ok=True)

    def keys(**filters: str) -> list[tuple[str, str, str]]:
        return [(r.phase, r.op, r.population) for r in recorder.records(**filters)]

    assert len(keys()) == 8
    assert keys(op="login") == [
        ("sessions", "login", "existing"),
        ("sessions", "login", "new"),
        ("persist", "login", "existing"),
        ("persist", "login", "new"),
    ]
    assert keys(population="new", phase="persist") == [
        ("persist", "api_call", "new"),
        ("persist", "login", "new"),
    ]
    assert keys(op="api_call", population="existing", phase="sessions") == [
        ("sessions", "api_call", "existing")
    ]
    assert keys(phase="recover") == []
    assert keys(op="nothing-like-this") == []


def test_phase_is_stamped_when_the_record_is_added() -> None:
    """Changing the phase later does not rewrite records already added."""
    recorder = Recorder(clock=FakeClock())
    assert recorder.phase == "setup"
    recorder.add("register", "existing", start=0.0, latency=0.01, ok=True)
    recorder.phase = "persist"
    recorder.add("api_call", "existing", start=1.0, latency=0.01, ok=True)
    recorder.phase = "recover"
    assert [r.phase for r in recorder.records()] == ["setup", "persist"]


async def test_measure_records_a_success_with_its_status_and_latency() -> None:
    """A body that completes is one ok record: start, latency from the clock, status set."""
    clock = FakeClock()
    recorder = Recorder(clock=clock)
    recorder.phase = "sessions"
    clock.advance(2.0)
    async with recorder.measure("login", "existing") as measurement:
        clock.advance(0.25)
        measurement.status = 200
    [record] = recorder.records()
    assert record == OpRecord(
        "login", "existing", "sessions", start=2.0, latency=0.25, ok=True, status=200, error=""
    )


async def _answer_late(clock: FakeClock) -> int:
    """A real coroutine that yields to the loop, takes 0.5 s of clock, then times out."""
    await asyncio.sleep(0)  # a real suspension point, not a wait
    clock.advance(0.5)
    raise SessionError("GET /api/me: no answer in 5 s", kind="timeout")


async def test_measure_records_a_session_error_as_failure_and_reraises() -> None:
    """A SessionError leaves measure() unchanged and is recorded with its kind, latency 0.5."""
    clock = FakeClock()
    recorder = Recorder(clock=clock)
    recorder.phase = "persist"
    with pytest.raises(SessionError) as raised:
        async with recorder.measure("api_call", "existing") as measurement:
            measurement.status = await _answer_late(clock)
    assert raised.value.kind == "timeout"
    [record] = recorder.records()
    assert record == OpRecord(
        "api_call",
        "existing",
        "persist",
        start=0.0,
        latency=0.5,
        ok=False,
        status=0,
        error="timeout",
    )


@pytest.mark.parametrize(
    ("error", "status", "kind"),
    [
        (SessionError("HTTP 401", kind="status", status=401), 401, "status"),
        (LoginError("refused", status=503, retry_after="1"), 503, "status"),
        (WebSocketError("closed", kind="closed", close_code=4403), 4403, "closed"),
        (SessionError("refused", kind="refused"), 0, "refused"),
    ],
)
async def test_measure_records_kind_and_status_of_every_session_error(
    error: SessionError, status: int, kind: str
) -> None:
    """Subclasses too: the failure carries the error's kind and its status or close code."""
    recorder = Recorder(clock=FakeClock())

    async def fail() -> None:
        await asyncio.sleep(0)
        raise error

    with pytest.raises(SessionError) as raised:
        async with recorder.measure("op", "existing"):
            await fail()
    assert raised.value is error
    [record] = recorder.records()
    assert (record.ok, record.status, record.error) == (False, status, kind)


async def test_measure_lets_other_exceptions_through_unrecorded() -> None:
    """Only SessionErrors are outcomes of an operation; a bug is not recorded as one."""
    recorder = Recorder(clock=FakeClock())
    with pytest.raises(ZeroDivisionError):
        async with recorder.measure("api_call", "existing"):
            _ = 1 / 0
    assert len(recorder) == 0


def test_now_follows_the_injected_clock_from_its_origin() -> None:
    """now() is seconds since the recorder was created, on the clock it was given."""
    clock = FakeClock(start=500.0)
    recorder = Recorder(clock=clock)
    assert recorder.now() == 0.0
    clock.advance(1.5)
    assert recorder.now() == 1.5
    clock.advance(0.0)
    assert recorder.now() == 1.5
    clock.advance(0.25)
    assert recorder.now() == 1.75


def test_now_never_goes_backwards_on_the_default_clock() -> None:
    """With the default (monotonic) clock, successive now() values never decrease."""
    recorder = Recorder()
    readings = [recorder.now() for _ in range(1000)]
    assert readings[0] >= 0.0
    assert readings == sorted(readings)


def test_columns_expose_interned_names() -> None:
    """The raw columns index into names: each string is stored once."""
    recorder = Recorder(clock=FakeClock())
    for _ in range(3):
        recorder.add("api_call", "existing", start=0.0, latency=0.001, ok=True, status=200)
    columns = recorder.columns()
    assert len(columns.start) == 3
    assert columns.names.count("api_call") == 1
    assert {columns.names[i] for i in columns.op} == {"api_call"}
    assert list(columns.status) == [200, 200, 200]
    assert list(columns.ok) == [1, 1, 1]

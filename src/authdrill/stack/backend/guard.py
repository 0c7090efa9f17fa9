"""The asyncio side of the circuit breaker: guard calls to one dependency, probe it back.

:class:`Guard` feeds a pure :class:`~authdrill.stack.backend.breaker.CircuitBreaker`:
it asks for a permit before each call (failing fast with :class:`BreakerOpenError`),
times the call, and reports its outcome. Its optional background probe makes a trial
call whenever the breaker is HALF_OPEN, so the breaker closes by itself once the
dependency is back, even when no user traffic arrives.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from authdrill.errors import AuthdrillError, ConfigError
from authdrill.stack.backend.breaker import (
    BreakerPolicy,
    BreakerSnapshot,
    BreakerState,
    CircuitBreaker,
    Permit,
    Transition,
)

__all__ = ["BreakerOpenError", "Guard"]

T = TypeVar("T")

log = logging.getLogger("authdrill.breaker")


class BreakerOpenError(AuthdrillError):
    """A call was refused without being made, because the circuit is not closed.

    Attributes:
        name: the guarded dependency (``auth``).
        retry_after_s: seconds until a call may next be attempted.
        state: the breaker's state at refusal: OPEN, or HALF_OPEN with every trial taken.
    """

    def __init__(
        self, name: str, retry_after_s: float, *, state: BreakerState = BreakerState.OPEN
    ) -> None:
        self.name = name
        self.retry_after_s = retry_after_s
        self.state = state
        where = "open" if state is BreakerState.OPEN else "half-open with every trial taken"
        super().__init__(f"circuit to {name} is {where}; retry after {retry_after_s:.1f} s")


def _never(_result: object) -> bool:
    return False


def _always(_exc: BaseException) -> bool:
    return True


class Guard:
    """One circuit breaker in front of one dependency, for use on one event loop.

    Args:
        name: the dependency's name, used in errors and logs.
        policy: the breaker's thresholds and waits.
        clock: monotonic seconds; defaults to :func:`time.monotonic`, the clock the
            default event loop's ``loop.time()`` reads too, and usable outside a loop.
        random: uniform floats in ``[0, 1)`` for the open-wait jitter.
        on_transition: called after each transition, after the guard's own handling;
            what it raises propagates to the caller that caused the transition.
        probe: a cheap health check of the dependency (True = healthy), needed by
            :meth:`run_probe`. It must bound its own duration: a hung probe holds a trial.
        sleep: how the probe waits while the breaker is OPEN.
    """

    def __init__(
        self,
        name: str,
        policy: BreakerPolicy,
        *,
        clock: Callable[[], float] | None = None,
        random: Callable[[], float] = random.random,
        on_transition: Callable[[Transition], None] | None = None,
        probe: Callable[[], Awaitable[bool]] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._name = name
        self._clock = clock if clock is not None else time.monotonic
        self._user_on_transition = on_transition
        self._probe = probe
        self._sleep = sleep
        self._changed = asyncio.Event()  # set on every transition; wakes the probe
        self._probe_task: asyncio.Task[None] | None = None
        self._breaker = CircuitBreaker(
            policy, clock=self._clock, random=random, on_transition=self._on_transition
        )

    @property
    def name(self) -> str:
        """The guarded dependency's name."""
        return self._name

    @property
    def breaker(self) -> CircuitBreaker:
        """The pure state machine behind this guard."""
        return self._breaker

    @property
    def state(self) -> BreakerState:
        """The breaker's current state (see :attr:`CircuitBreaker.state`)."""
        return self._breaker.state

    @property
    def transitions(self) -> tuple[Transition, ...]:
        """The breaker's last transitions, oldest first."""
        return self._breaker.transitions

    def snapshot(self) -> BreakerSnapshot:
        """The breaker's numbers now."""
        return self._breaker.snapshot()

    async def call(
        self,
        fn: Callable[[], Awaitable[T]],
        *,
        is_failure: Callable[[T], bool] = _never,
        counts_as_failure: Callable[[BaseException], bool] = _always,
    ) -> T:
        """Await ``fn()`` if the breaker allows it, and report how it went.

        A result for which ``is_failure`` is true, or an :class:`Exception` for which
        ``counts_as_failure`` is true, is recorded as a failure; anything else that
        completes is a success (e.g. an exception that maps to a 4xx). Exceptions are
        re-raised unchanged. Cancellation (or any other :class:`BaseException`) records
        nothing and frees the permit.

        Raises:
            BreakerOpenError: the breaker refused the call; raised before any await, and
                ``fn`` was not called.
        """
        permit = self._breaker.try_acquire()
        if permit is None:
            raise BreakerOpenError(
                self._name, self._breaker.retry_after_s(), state=self._breaker.state
            )
        started = self._clock()
        try:
            result = await fn()
        except Exception as exc:
            duration_s = self._clock() - started
            failed = self._judge(permit, counts_as_failure, exc)
            self._settle(permit, failed=failed, duration_s=duration_s)
            raise
        except BaseException:
            self._breaker.release(permit)  # cancelled: the call has no outcome
            raise
        duration_s = self._clock() - started
        failed = self._judge(permit, is_failure, result)
        self._settle(permit, failed=failed, duration_s=duration_s)
        return result

    def start_probe(self) -> asyncio.Task[None]:
        """Start :meth:`run_probe` as a task on the running loop.

        Returns the running task if there is one; a finished one is replaced.

        Raises:
            ConfigError: the guard was built without a ``probe``.
        """
        if self._probe is None:
            raise ConfigError("probe", f"guard {self._name!r} has no probe to run")
        if self._probe_task is None or self._probe_task.done():
            self._probe_task = asyncio.create_task(
                self.run_probe(), name=f"breaker-probe-{self._name}"
            )
        return self._probe_task

    async def stop_probe(self) -> None:
        """Cancel the probe task and wait for it to end; re-raises what crashed it."""
        task, self._probe_task = self._probe_task, None
        if task is None:
            return
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # we were cancelled ourselves while waiting: do not swallow it

    async def run_probe(self) -> None:
        """Probe the dependency whenever the breaker is HALF_OPEN; runs until cancelled.

        While CLOSED it waits for a transition (no polling); while OPEN it sleeps for
        the rest of the open wait; when HALF_OPEN with a free trial it makes a trial
        call with ``probe`` (False or an exception counts as a failure).

        Raises:
            ConfigError: the guard was built without a ``probe``.
        """
        probe = self._probe
        if probe is None:
            raise ConfigError("probe", f"guard {self._name!r} has no probe to run")
        while True:
            if self._breaker.state is BreakerState.CLOSED:
                # No await between the check and clear(): no transition can slip between.
                self._changed.clear()
                await self._changed.wait()
                continue
            # OPEN: the rest of the open wait; HALF_OPEN: 0 if a trial is free, else a
            # bounded pause while user calls hold every trial.
            wait_s = self._breaker.retry_after_s()
            if wait_s > 0:
                await self._sleep(wait_s)
            else:
                await self._probe_once(probe)

    # ------------------------------------------------------------------ internals

    async def _probe_once(self, probe: Callable[[], Awaitable[bool]]) -> None:
        async def checked() -> bool:
            try:
                return await probe()
            except Exception as exc:  # noqa: BLE001 - a raising probe is a failed trial
                log.debug("probe of %s raised %r", self._name, exc)
                return False

        healthy = await self.call(checked, is_failure=lambda ok: not ok)
        if not healthy:
            log.debug("probe of %s failed", self._name)

    def _judge(self, permit: Permit, predicate: Callable[[T], bool], value: T) -> bool:
        # If the caller's predicate raises, the permit must still be settled.
        try:
            return predicate(value)
        except BaseException:
            self._breaker.release(permit)
            raise

    def _settle(self, permit: Permit, *, failed: bool, duration_s: float) -> None:
        if failed:
            self._breaker.record_failure(permit, duration_s)
        else:
            self._breaker.record_success(permit, duration_s)

    def _on_transition(self, transition: Transition) -> None:
        self._changed.set()
        level = logging.WARNING if transition.to_state is BreakerState.OPEN else logging.INFO
        log.log(
            level,
            "circuit to %s: %s -> %s (%s)",
            self._name,
            transition.from_state.value,
            transition.to_state.value,
            transition.reason,
        )
        if self._user_on_transition is not None:
            self._user_on_transition(transition)

"""Check constructors (pure): each returns a :class:`Check` stating both sides."""

from __future__ import annotations

from authdrill.drill._model import Check

__all__ = ["at_least", "at_most", "fraction_at_least", "holds", "is_equal"]


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "nothing measured"
    text = f"{value:.0f}" if abs(value) >= 100 or float(value).is_integer() else f"{value:.3g}"  # noqa: PLR2004
    return f"{text} {unit}".rstrip()


def at_most(name: str, observed: float | None, limit: float, *, unit: str = "") -> Check:
    """Holds when ``observed <= limit`` (nothing observed does not hold)."""
    return Check(
        name=name,
        passed=observed is not None and observed <= limit,
        expected=f"<= {_fmt(limit, unit)}",
        observed=_fmt(observed, unit),
    )


def at_least(name: str, observed: float | None, minimum: float, *, unit: str = "") -> Check:
    """Holds when ``observed >= minimum`` (nothing observed does not hold)."""
    return Check(
        name=name,
        passed=observed is not None and observed >= minimum,
        expected=f">= {_fmt(minimum, unit)}",
        observed=_fmt(observed, unit),
    )


def _percent(rate: float, *, below: float) -> str:
    """``rate`` as a percentage; a rate under ``below`` never reads as ``below`` or more
    (9999/10000 against 100 % shows 99.99 %, not a rounded "100.0%")."""
    for decimals in range(1, 7):
        text = f"{rate:.{decimals}%}"
        if rate >= below or float(text.rstrip("%")) < below * 100:
            return text
    return f"{rate:.6%}"


def fraction_at_least(name: str, good: int, total: int, minimum: float) -> Check:
    """Holds when ``good / total >= minimum`` and there was at least one attempt."""
    rate = good / total if total else None
    shown = "no attempts" if rate is None else f"{_percent(rate, below=minimum)} ({good}/{total})"
    return Check(
        name=name,
        passed=rate is not None and rate >= minimum,
        expected=f">= {minimum:.0%}"
        if minimum * 100 == int(minimum * 100)
        else f">= {minimum:.1%}",
        observed=shown,
    )


def is_equal(name: str, observed: object, expected: object) -> Check:
    """Holds when ``observed == expected``."""
    return Check(
        name=name, passed=observed == expected, expected=str(expected), observed=str(observed)
    )


def holds(name: str, condition: bool, *, expected: str, observed: str) -> Check:  # noqa: FBT001
    """A yes/no check whose two sides the caller words."""
    return Check(name=name, passed=condition, expected=expected, observed=observed)

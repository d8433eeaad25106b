"""Value checks (errors and warnings that depend on array values), delivered the backend's way.

A check is a 0-d boolean flag ("something is wrong") and the action that reports it.
Eagerly the action runs at once; inside ``jax.jit`` it runs when the compiled program runs
(a host callback); on Dask the checks become graph nodes that the call's results depend on,
so they fire when the user computes.  Every public entry point delivers its checks through
one :class:`Checks` object.
"""
from __future__ import annotations

import warnings
from typing import Any, Callable

__all__ = ["Checks", "raise_error", "warn"]


def raise_error(error: Exception) -> Callable[[], None]:
    """An action that raises ``error``."""

    def action() -> None:
        raise error

    return action


def warn(message: str, category: type[Warning], stacklevel: int) -> Callable[[], None]:
    """An action that warns; ``stacklevel`` counts from the public function (eagerly the
    frames between are this closure, ``caps.checked`` and :meth:`Checks.add`)."""
    return lambda: warnings.warn(message, category, stacklevel=stacklevel + 3)


class Checks:
    """The value checks of one call.

    Eager arrays: checked at once.  Inside ``jax.jit``: when the compiled program runs.
    Dask: kept until :meth:`attach`, which makes the results depend on them; they are
    attached to the results rather than to the inputs, so that checking the data never
    forces Dask to hold all of it in memory at once.  ``now=True`` (for calls that read
    values anyway, such as an estimator's ``fit``) reads every flag at once, Dask included.
    """

    def __init__(self, caps: Any, *, now: bool = False) -> None:
        self.caps = caps
        self.now = now
        self.pending: list[tuple[Any, Callable[[], None]]] = []

    def add(self, flag: Any, action: Callable[[], None]) -> None:
        if self.caps.defers_checks and not self.now:
            self.pending.append((flag, action))
        elif self.caps.defers_checks:
            if self.caps.read_bool(flag):
                action()
        else:
            self.caps.checked((), flag, action)

    def attach(self, *outputs: Any) -> tuple[Any, ...]:
        for flag, action in self.pending:
            outputs = self.caps.checked(outputs, flag, action)
        self.pending = []
        return outputs

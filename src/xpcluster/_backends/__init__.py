"""The capability layer: what the Array API standard lacks, per backend.

This package is the only place in xpcluster that names an array library.  The core asks
:func:`capabilities_for` once per call for a :class:`Capabilities` record and uses nothing
else that is backend-specific.  A library without a module here gets the standard-only
fallbacks of :mod:`xpcluster._backends.generic`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import array_api_compat

from . import generic

__all__ = ["Capabilities", "capabilities_for"]


@dataclass(frozen=True)
class Capabilities:
    """Backend operations the core needs beyond the standard.

    Attributes
    ----------
    name : str
        Short backend name, for messages and benchmarks.
    segment_sums : callable
        ``segment_sums(values, ids, k) -> (sums, counts)``: for ``values`` of shape ``(m, d)``
        and integer ``ids`` in ``[0, k)`` of shape ``(m,)``, the per-id row sums ``(k, d)``
        (in ``values``' dtype or wider) and the per-id counts ``(k,)`` (any real dtype).
    """

    name: str
    segment_sums: Callable[[Any, Any, int], tuple[Any, Any]]


def capabilities_for(xp: Any) -> Capabilities:
    """The capability record for namespace ``xp``."""
    if array_api_compat.is_numpy_namespace(xp):
        from . import numpy as backend
    elif array_api_compat.is_torch_namespace(xp):
        from . import torch as backend
    else:
        return Capabilities(name=getattr(xp, "__name__", "generic"), segment_sums=generic.segment_sums)
    return backend.CAPABILITIES

"""Host random number generation, in SciPy's order and with its SPEC-007 ``rng``/``seed`` rules.

Every random draw of the library is made here, on the host, with NumPy; the core moves the
drawn numbers to the input's device once per call.  That is what makes every backend return
the NumPy answer, and NumPy return SciPy's.
"""
from __future__ import annotations

import functools
import inspect
import numbers
from typing import Any, Callable

import numpy as np

RandomSource = np.random.Generator | np.random.RandomState


def accepts_legacy_seed(fun: Callable[..., Any]) -> Callable[..., Any]:
    """Let ``fun(..., *, rng=None)`` also be called with the legacy ``seed=`` keyword.

    The rules are those of SciPy's SPEC-007 transition (SciPy 1.17, no deprecation
    warnings yet):

    - ``seed=`` is passed through as before: ``None`` means NumPy's global ``RandomState``,
      an int seeds a new ``RandomState``, a ``Generator``/``RandomState`` is used as is;
    - ``rng=`` is normalised with :func:`numpy.random.default_rng`;
    - neither: the legacy default, NumPy's global ``RandomState`` (so ``np.random.seed``
      still reproduces a run);
    - both: ``TypeError``.
    """

    @functools.wraps(fun)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        as_seed = "seed" in kwargs
        as_rng = "rng" in kwargs
        if as_seed and as_rng:
            raise TypeError(
                f"{fun.__name__}() got multiple values for argument now known as `rng`. "
                "Specify one of `rng` or `seed`."
            )
        if as_seed:
            kwargs["rng"] = kwargs.pop("seed")
        elif as_rng:
            kwargs["rng"] = np.random.default_rng(kwargs["rng"])
        return fun(*args, **kwargs)

    signature = inspect.signature(fun)
    wrapper.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[
            *signature.parameters.values(),
            inspect.Parameter("seed", inspect.Parameter.KEYWORD_ONLY, default=None),
        ]
    )
    return wrapper


def random_source(seed: Any) -> RandomSource:
    """Turn a legacy seed into a Generator or RandomState (``None`` is the global one)."""
    if seed is None or seed is np.random:
        return np.random.mtrand._rand
    if isinstance(seed, numbers.Integral | np.integer):
        return np.random.RandomState(seed)
    if isinstance(seed, np.random.RandomState | np.random.Generator):
        return seed
    raise ValueError(f"'{seed}' cannot be used to seed a numpy.random.RandomState instance")


def draw_index(rng: RandomSource, n: int) -> int:
    """One integer in ``[0, n)``, as SciPy's ``rng_integers(rng, n)`` draws it."""
    if isinstance(rng, np.random.Generator):
        return int(rng.integers(0, n, dtype=np.int64))
    return int(rng.randint(n, dtype=np.int64))


def draw_distinct_indices(rng: RandomSource, n: int, k: int) -> np.ndarray:
    """``k`` distinct row indices out of ``n``."""
    return np.asarray(rng.choice(n, size=int(k), replace=False), dtype=np.int64)


def draw_uniform(rng: RandomSource, m: int) -> np.ndarray:
    """``m`` uniforms on [0, 1): the same numbers as ``m`` successive ``rng.uniform()`` calls."""
    return np.asarray(rng.uniform(size=m), dtype=np.float64)


def draw_standard_normal(rng: RandomSource, shape: tuple[int, ...]) -> np.ndarray:
    return np.asarray(rng.standard_normal(size=shape), dtype=np.float64)

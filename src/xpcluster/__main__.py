"""``python -m xpcluster``: the demo.

Clusters the 3-Gaussian mixture of SciPy's kmeans2 example (embedded, 100 points) with
``xpcluster.vq.kmeans2(..., minit='++')`` natively on every installed backend, and prints
the centroids, the cluster sizes and the time per call (to the result on the host) for
each, plus which backends were skipped and why.  Every backend must agree with NumPy --
the same labels, and centroids equal to the tolerance of the dtype they come back in (JAX
computes in float32 unless ``JAX_ENABLE_X64=1``) -- the exit status is 1 if one does not or
if one fails.
"""
from __future__ import annotations

import importlib.util
import sys
import time
from typing import Any, Callable

import numpy as np

from . import __version__, array_api_dispatch
from ._demo_data import POINTS
from .vq import kmeans2

K = 3
SEED = 1


def _backends() -> list[tuple[str, str, Callable[[np.ndarray], Any] | None, str]]:
    """(name, module, make-array-or-None, reason-if-skipped) for each backend we know."""
    found = []

    def missing(module: str) -> bool:
        return importlib.util.find_spec(module) is None

    found.append(("numpy", "numpy", lambda z: z, ""))
    if missing("array_api_strict"):
        found.append(("array_api_strict", "array_api_strict", None, "not installed (pip install array-api-strict)"))
    else:
        import array_api_strict as xps

        found.append(("array_api_strict", "array_api_strict", lambda z: xps.asarray(z), ""))
        found.append(
            ("array_api_strict device1", "array_api_strict",
             lambda z: xps.asarray(z, device=xps.Device("device1")), "")
        )
    if missing("torch"):
        found.append(("torch cpu", "torch", None, "not installed (pip install torch)"))
    else:
        import torch

        found.append(("torch cpu", "torch", lambda z: torch.asarray(z), ""))
        if torch.cuda.is_available():
            found.append(("torch cuda", "torch", lambda z: torch.asarray(z, device="cuda"), ""))
        else:
            found.append(("torch cuda", "torch", None, "no CUDA device"))
    if missing("jax"):
        found.append(("jax", "jax", None, "not installed"))
    else:
        import jax
        import jax.numpy as jnp

        devices = jax.devices()
        for device in devices:
            name = f"jax {device.platform}" if len(devices) == 1 else f"jax {device.platform}:{device.id}"
            found.append((name, "jax", lambda z, dev=device: jax.device_put(np.asarray(z, dtype=jnp.asarray(0.0).dtype), dev), ""))
    if missing("dask"):
        found.append(("dask", "dask", None, "not installed"))
    else:
        import dask.array as da

        found.append(("dask", "dask", lambda z: da.from_array(z, chunks=25), ""))
    if missing("cupy"):
        found.append(("cupy", "cupy", None, "not installed"))
    else:
        import cupy

        found.append(("cupy", "cupy", lambda z: cupy.asarray(z), ""))
    return found


def _to_numpy(a: Any) -> np.ndarray:
    if hasattr(a, "compute"):  # dask: the user's compute runs the whole graph
        a = a.compute()
    if hasattr(a, "get"):
        return a.get()
    if hasattr(a, "cpu"):
        return a.cpu().numpy()
    if type(a).__module__.startswith("array_api_strict"):
        import array_api_strict as xps

        a = xps.asarray(a, device=xps.Device("CPU_DEVICE"), copy=True)
    return np.asarray(a)


def _tolerance(dtype: Any, data: np.ndarray) -> dict[str, float]:
    """Agreement expected of centroids in ``dtype``: the square root of its epsilon,
    relative and in units of the data's magnitude (float64 1.5e-8, float32 3.5e-4)."""
    rtol = float(np.finfo(dtype).eps) ** 0.5
    return {"rtol": rtol, "atol": rtol * float(np.max(np.abs(data)))}


def main() -> int:
    data = np.asarray(POINTS, dtype=np.float64)
    print(f"xpcluster {__version__} demo: kmeans2(z, {K}, minit='++', rng={SEED}) on the 3-Gaussian "
          f"mixture of SciPy's kmeans2 example ({data.shape[0]} points, float64)\n")
    reference = None
    failures, skipped = [], []
    with array_api_dispatch(True):
        for name, _, make, reason in _backends():
            if make is None:
                skipped.append((name, reason))
                continue
            try:
                z = make(data)
                _to_numpy(kmeans2(z, K, minit="++", rng=SEED)[0])  # warm-up: imports, BLAS, JIT
                # Timed to the result on the host: for Dask that includes running the graph.
                start = time.perf_counter()
                centroids, labels = kmeans2(z, K, minit="++", rng=SEED)
                centroids_np, labels_np = _to_numpy(centroids), _to_numpy(labels)
                elapsed = time.perf_counter() - start
            except Exception as exc:  # report and go on: the demo is a survey of backends
                failures.append((name, f"{type(exc).__name__}: {exc}"))
                continue
            sizes = np.bincount(labels_np, minlength=K)
            print(f"{name}  ({type(centroids).__module__}.{type(centroids).__name__}, "
                  f"{elapsed * 1e3:.2f} ms)")
            print(f"    dtype {centroids_np.dtype}")
            for j in range(K):
                print(f"    centroid {j}: ({centroids_np[j, 0]:8.4f}, {centroids_np[j, 1]:8.4f})  size {sizes[j]}")
            if reference is None:
                reference = (centroids_np, labels_np)
            elif not np.array_equal(labels_np, reference[1]):
                failures.append((name, "labels differ from the NumPy answer"))
            elif not np.allclose(centroids_np, reference[0], **_tolerance(centroids_np.dtype, data)):
                failures.append((name, f"centroids ({centroids_np.dtype}) differ from the NumPy answer "
                                       f"beyond {centroids_np.dtype}'s tolerance"))
    print()
    for name, reason in skipped:
        print(f"skipped {name}: {reason}")
    for name, problem in failures:
        print(f"FAILED {name}: {problem}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

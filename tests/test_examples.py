"""The scripts in docs/examples run (small sizes) and write their PNGs."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"

pytest.importorskip("matplotlib", reason="matplotlib is not installed (the 'plot' extra): the examples draw PNGs")


def needs(*modules):
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    return pytest.mark.skipif(bool(missing), reason=f"not installed: {', '.join(missing)}")


def run_example(name, *args):
    done = subprocess.run([sys.executable, str(EXAMPLES / name), *map(str, args)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{name} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def assert_pngs(folder, *names):
    for name in names:
        path = folder / name
        assert path.is_file(), f"{name} was not written"
        assert path.stat().st_size > 1000 and path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


@needs("scipy")
def test_scipy_kmeans2_example(tmp_path):
    backend = "torch" if importlib.util.find_spec("torch") else "numpy"
    out = run_example("scipy_kmeans2.py", "--out", tmp_path, "--backend", backend)
    assert "same clustering as scipy.cluster.vq.kmeans2: True" in out
    assert_pngs(tmp_path, "scipy_kmeans2.png")


@needs("sklearn", "PIL", "xpcluster.cluster._kmeans")
def test_color_quantization_example(tmp_path):
    out = run_example("color_quantization.py", "--out", tmp_path, "--downscale", 8, "--k", 8, "--sample", 300)
    assert "compression ratio" in out  # and the script's own check: k-means beats a random palette
    assert_pngs(tmp_path, "color_quantization.png")


@needs("sklearn", "xpcluster.choose_k")
def test_choose_k_example(tmp_path):
    out = run_example("choose_k_wine.py", "--out", tmp_path, "--k-max", 5)
    for method in ("elbow", "silhouette", "gap"):
        assert f"{method} " in out and "chooses K =" in out
    assert_pngs(tmp_path, "choose_k_elbow.png", "choose_k_silhouette.png", "choose_k_gap.png",
                "choose_k_silhouette_diagram.png", "choose_k_clusters.png")


@needs("xpcluster.cluster._kmeans")
def test_all_backends_example(tmp_path):
    out = run_example("all_backends.py", "--out", tmp_path, "--n", 600, "--d", 3, "--k", 3, "--repeats", 1,
                      "--no-warmup")
    # Every installed backend ran and agreed with NumPy (the script exits 1 otherwise).
    for backend in ("torch", "jax", "dask", "array_api_strict"):
        if importlib.util.find_spec(backend) is not None:
            assert any(line.startswith(backend) and line.rstrip().endswith("yes") for line in out.splitlines()), out
    assert_pngs(tmp_path, "all_backends.png")

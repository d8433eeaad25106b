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


@needs("sklearn", "scipy", "xpcluster.cluster._spherical")
def test_document_clustering_example(tmp_path):
    k = 5
    out = run_example("document_clustering.py", "--out", tmp_path, "--max-docs", 400, "--k", k)
    lines = out.splitlines()
    corpus = lines[0]
    assert corpus.startswith("corpus: 400 docstrings from ") and "TF-IDF matrix 400 x " in corpus
    for name in ("SphericalKMeans", "KMeans"):
        header = next(i for i, line in enumerate(lines) if line.startswith(f"{name} (k={k}) on scipy.sparse: "))
        clusters = lines[header + 1 : header + 1 + k]
        assert [line.split(":")[0].strip() for line in clusters] == [f"cluster {j:2d}".strip() for j in range(k)]
        assert sum(int(line.split(":")[1].split("docs")[0]) for line in clusters) == 400  # every document, once
        assert all(len(line.split("top terms: ")[1].split(", ")) == 8 for line in clusters)
        scores = next(line for line in lines if line.startswith(f"{name} ") and "cosine silhouette" in line)
        silhouette = float(scores.split("cosine silhouette ")[1].split(",")[0])
        rand = float(scores.rsplit(" ", 1)[1])
        assert 0 < silhouette <= 1  # documents are closer to their own cluster than to the next
        assert 0 < rand <= 1  # clusters agree with the modules better than chance
    assert_pngs(tmp_path, "document_clustering.png")


@needs("sklearn", "scipy", "torch", "xpcluster.cluster._spherical")
def test_document_clustering_example_on_torch_sparse(tmp_path):
    out = run_example("document_clustering.py", "--out", tmp_path, "--max-docs", 300, "--k", 4, "--backend", "torch")
    torch_line = next(line for line in out.splitlines() if line.startswith("torch sparse: "))
    # Either the estimators take PyTorch sparse tensors (and agree with scipy.sparse), or the
    # script says they do not and clusters the SciPy matrix.
    assert (torch_line == "torch sparse: fitted, results are torch arrays; same labels as on scipy.sparse: True"
            or torch_line.startswith("torch sparse: not supported yet (")), torch_line
    assert "SphericalKMeans (k=4) on " in out and "cosine silhouette" in out
    assert_pngs(tmp_path, "document_clustering.png")

"""The ``xpcluster`` command, end to end.

Success paths and a representative error of each kind run the command in a subprocess
(``python -m xpcluster.cli``, the entry point's target); the long list of error messages
runs ``main(argv)`` in this process, which returns the same exit status without the cost
of starting Python for each.
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

from xpcluster import _io, cli

needs_kmeans = pytest.mark.skipif(
    importlib.util.find_spec("xpcluster.cluster._kmeans") is None,
    reason="xpcluster.cluster.KMeans is not in this installation",
)


def run(*args, env=None):
    """Run the command in a fresh process; returns (exit status, stdout, stderr)."""
    environment = dict(os.environ, **(env or {}))
    done = subprocess.run([sys.executable, "-m", "xpcluster.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=120, env=environment)
    return done.returncode, done.stdout, done.stderr


def call(capsys, *args):
    """Run ``main`` in this process; returns (exit status, stdout, stderr)."""
    status = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


def assert_one_line_error(err, *fragments):
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{err}"
    assert lines[0].startswith("xpcluster: error: "), lines[0]
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"


def blobs(n_per=40, d=3, k=3, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=10.0, size=(k, d))
    return np.concatenate([c + rng.normal(size=(n_per, d)) for c in centres])


def reference_fit(X, k, seed=0):
    """What the command must reproduce: the estimator on the same NumPy data."""
    from xpcluster.cluster._kmeans import KMeans

    model = KMeans(n_clusters=k, random_state=seed).fit(X)
    return np.asarray(model.labels_), np.asarray(model.cluster_centers_), float(model.inertia_)


@pytest.fixture(scope="module")
def data_files(tmp_path_factory):
    """The same small data set as .npy, .csv with a header, .csv without one."""
    folder = tmp_path_factory.mktemp("data")
    X = blobs()
    np.save(folder / "x.npy", X)
    np.savetxt(folder / "x.csv", X, delimiter=",", header="a,b,c", comments="", fmt="%.17g")
    np.savetxt(folder / "bare.csv", X, delimiter=",", fmt="%.17g")
    return folder, X


def make_png(path, height=24, width=32, colours=40, seed=0):
    from PIL import Image

    rng = np.random.default_rng(seed)
    palette = rng.integers(0, 256, size=(colours, 3), dtype=np.uint8)
    pixels = palette[rng.integers(0, colours, size=(height, width))]
    Image.fromarray(pixels).save(path)
    return pixels


# ----------------------------------------------------------------------- subprocess: success


@needs_kmeans
def test_fit_npy_end_to_end(data_files, tmp_path):
    folder, X = data_files
    labels_path, centres_path = tmp_path / "labels.npy", tmp_path / "centres.npy"
    status, out, err = run("fit", folder / "x.npy", "-k", 3, "--seed", 7, "-o", labels_path,
                           "--centers", centres_path)
    assert status == 0, err
    labels, centres, inertia = reference_fit(X, 3, seed=7)
    np.testing.assert_array_equal(np.load(labels_path), labels)
    np.testing.assert_allclose(np.load(centres_path), centres, rtol=1e-12)
    summary = out.strip().splitlines()
    assert len(summary) == 1
    for fragment in ("n=120", "d=3", "k=3", "method=kmeans", f"inertia={inertia:.6g}", "backend=numpy on cpu"):
        assert fragment in summary[0]
    assert "time=" in summary[0]


@needs_kmeans
@pytest.mark.parametrize("backend", ["torch", "jax", "dask"])
def test_fit_on_other_backends_matches_numpy(backend, data_files, tmp_path):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    folder, X = data_files
    labels_path = tmp_path / "labels.npy"
    status, out, err = run("fit", folder / "x.csv", "-k", 3, "-o", labels_path, "--backend", backend, "-q")
    assert status == 0, err
    assert f"backend={backend} on cpu" in out
    labels, _, _ = reference_fit(X, 3)
    np.testing.assert_array_equal(np.load(labels_path), labels)


@pytest.mark.skipif(importlib.util.find_spec("xpcluster.choose_k") is None, reason="xpcluster.choose_k is not there yet")
def test_choose_k_end_to_end(data_files, tmp_path):
    pytest.importorskip("matplotlib", reason="matplotlib is not installed (the 'plot' extra)")
    folder, X = data_files
    plot = tmp_path / "elbow.png"
    status, out, err = run("choose-k", folder / "x.npy", "--k", "2:6", "--method", "silhouette", "--plot", plot)
    assert status == 0, err
    from xpcluster.choose_k import choose_k

    expected = choose_k(X, [2, 3, 4, 5, 6], method="silhouette", random_state=0)
    table = _io.result_table(expected)
    assert f"chosen K: {_io.chosen_k(expected)}" in out
    for i, k in enumerate(table["k"]):
        row = next(line for line in out.splitlines() if line[2:].split()[:1] == [str(k)])
        assert f"{table['silhouette'][i]:.6g}" in row
    assert plot.read_bytes().startswith(b"\x89PNG")


@needs_kmeans
def test_quantize_end_to_end(tmp_path):
    pytest.importorskip("PIL", reason="Pillow is not installed (the 'cli' extra)")
    from PIL import Image

    source = tmp_path / "in.png"
    pixels = make_png(source)
    out_path = tmp_path / "out.png"
    status, out, err = run("quantize", source, "-k", 4, "-o", out_path, "--sample", 300)
    assert status == 0, err
    with Image.open(out_path) as image:
        quantized = np.asarray(image.convert("RGB"))
    assert quantized.shape == pixels.shape
    assert len(np.unique(quantized.reshape(-1, 3), axis=0)) <= 4
    # The same steps by hand: fit on the same 300 sampled pixels, every pixel to its nearest centre.
    from xpcluster.cluster._kmeans import KMeans

    colours = pixels.reshape(-1, 3).astype(np.float64)
    sample = np.random.default_rng(0).choice(len(colours), size=300, replace=False)
    model = KMeans(n_clusters=4, random_state=0).fit(colours[sample])
    palette = np.clip(np.rint(np.asarray(model.cluster_centers_)), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(quantized, palette[np.asarray(model.predict(colours))].reshape(pixels.shape))
    ratio, raw, coded = cli.compression_ratio(24 * 32, 4)
    assert f"compression ratio {ratio:.2f}x" in out
    assert raw == 24 * 32 * 3 and coded == (4 * 24 + 2 * 24 * 32) // 8
    assert "fit on 300 sampled pixels" in out


# ----------------------------------------------------------------------- subprocess: errors


def test_errors_in_a_fresh_process(tmp_path):
    status, out, err = run("fit", tmp_path / "missing.npy", "-k", 3, "-o", tmp_path / "l.npy")
    assert status == 1 and out == ""
    assert_one_line_error(err, "no such file", "missing.npy")
    status, _, err = run("fit", tmp_path / "missing.npy", "-k", 0, "-o", tmp_path / "l.npy")
    assert status == 2
    assert_one_line_error(err, "-k/--n-clusters", "at least 1")
    status, out, _ = run("--help")
    assert status == 0 and all(c in out for c in ("fit", "choose-k", "quantize"))


# ----------------------------------------------------------------------- in process: success


@needs_kmeans
def test_fit_in_process_csv_header_detection_and_float32(data_files, tmp_path, capsys):
    folder, X = data_files
    labels, _, _ = reference_fit(X, 3)
    for name in ("x.csv", "bare.csv"):
        out_path = tmp_path / f"{name}.npy"
        status, out, err = call(capsys, "fit", folder / name, "-k", 3, "-o", out_path)
        assert status == 0, err
        assert "n=120 d=3" in out
        np.testing.assert_array_equal(np.load(out_path), labels)
    status, out, err = call(capsys, "fit", folder / "x.npy", "-k", 3, "-o", tmp_path / "f.npy", "--dtype", "float32")
    assert status == 0, err
    assert "dtype=float32" in out


@needs_kmeans
def test_fit_in_process_parquet(data_files, tmp_path, capsys):
    pa = pytest.importorskip("pyarrow", reason="pyarrow is not installed (the 'parquet' extra)")
    import pyarrow.parquet as pq

    folder, X = data_files
    path = tmp_path / "x.parquet"
    pq.write_table(pa.table({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2]}), path)
    status, out, err = call(capsys, "fit", path, "-k", 3, "-o", tmp_path / "l.npy")
    assert status == 0, err
    np.testing.assert_array_equal(np.load(tmp_path / "l.npy"), reference_fit(X, 3)[0])
    pq.write_table(pa.table({"a": X[:, 0], "name": ["x"] * len(X)}), path)
    status, _, err = call(capsys, "fit", path, "-k", 3, "-o", tmp_path / "l.npy")
    assert status == 1
    assert_one_line_error(err, "column 'name' is not numeric")


@pytest.mark.parametrize("method", sorted(cli.ESTIMATORS))
def test_every_method_runs_its_estimator(method, data_files, tmp_path, capsys):
    try:
        estimator = cli.estimator_class(method)
    except _io.DataError as exc:
        pytest.skip(str(exc))
    folder, X = data_files
    out_path, centres_path = tmp_path / "l.npy", tmp_path / "c.npy"
    status, out, err = call(capsys, "fit", folder / "x.npy", "-k", 3, "--method", method, "--seed", 3,
                            "-o", out_path, "--centers", centres_path)
    assert status == 0, err
    model = estimator(n_clusters=3, random_state=3).fit(X)
    np.testing.assert_array_equal(np.load(out_path), np.asarray(model.labels_))
    np.testing.assert_allclose(np.load(centres_path), np.asarray(model.cluster_centers_), rtol=1e-12)
    assert f"method={method} inertia={float(model.inertia_):.6g}" in out


@pytest.mark.skipif(importlib.util.find_spec("xpcluster.choose_k") is None, reason="xpcluster.choose_k is not there yet")
def test_choose_k_in_process_gap_elbow_estimators_and_backends(data_files, capsys):
    from xpcluster.choose_k import choose_k
    from xpcluster.cluster import KMeans

    folder, X = data_files
    cases = [
        (["--method", "gap", "--n-refs", "3"], dict(method="gap", n_refs=3)),
        (["--method", "elbow", "--estimator", "kmedians", "--seed", "2"],
         dict(method="elbow", estimator=cli.estimator_class("kmedians")(random_state=2), random_state=2)),
    ]
    if importlib.util.find_spec("torch") is not None:
        cases.append((["--method", "elbow", "--backend", "torch", "--k", "1,3,5"], dict(method="elbow")))
    for options, expected_call in cases:
        status, out, err = call(capsys, "choose-k", folder / "x.npy", "--k", "2:5", *options)
        assert status == 0, err
        ks = cli.k_range(options[options.index("--k") + 1]) if "--k" in options else [2, 3, 4, 5]
        expected_call.setdefault("random_state", 0)
        expected = choose_k(X, ks, **expected_call)
        assert out.splitlines()[-1] == f"chosen K: {expected.k}"
        printed = [line[2:].split() for line in out.splitlines()
                   if line[:1] in (" ", "*") and line[2:].strip()[:1].isdigit()]
        table = _io.result_table(expected)
        assert [int(row[0]) for row in printed] == list(table["k"])
        column = {"gap": "gap", "elbow": "inertia"}[expected_call["method"]]
        position = list(table).index(column)
        np.testing.assert_allclose([float(row[position]) for row in printed], table[column], rtol=1e-5)
        if "torch" in options:
            assert "backend=torch on cpu" in out
    assert KMeans  # the default estimator of choose_k is importable


def test_every_subcommand_has_help(capsys):
    for command, fragments in {
        "fit": ("--method", "kmedoids", "--backend", "--centers", ".parquet"),
        "choose-k": ("--k", "A:B", "gap", "--plot", "--estimator", "--n-refs"),
        "quantize": ("--sample", "compression ratio", "ceil(log2 K)"),
    }.items():
        status, out, _ = call(capsys, command, "--help")
        assert status == 0
        text = " ".join(out.split())  # argparse wraps lines
        for fragment in fragments:
            assert fragment in text, (command, fragment)


# ----------------------------------------------------------------------- in process: errors


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["fit", "x.npy", "-k", "0", "-o", "l.npy"], ["at least 1"]),
        (["fit", "x.npy", "-k", "-3", "-o", "l.npy"], ["at least 1"]),
        (["fit", "x.npy", "-k", "three", "-o", "l.npy"], ["positive integer", "'three'"]),
        (["fit", "x.npy", "-k", "3"], ["-o/--output"]),
        (["fit", "x.npy", "-k", "3", "-o", "l.txt"], ["-o must name a .npy file"]),
        (["fit", "x.npy", "-k", "3", "-o", "l.npy", "--backend", "tensorflow"], ["invalid choice", "tensorflow"]),
        (["fit", "x.npy", "-k", "3", "-o", "l.npy", "--device", "tpu"], ["invalid choice", "tpu"]),
        (["fit", "x.npy", "-k", "3", "-o", "l.npy", "--method", "dbscan"], ["invalid choice", "dbscan"]),
        (["choose-k", "x.npy", "--k", "5:2"], ["A:B", "'5:2'"]),
        (["choose-k", "x.npy", "--k", "0:4"], ["at least 1"]),
        (["choose-k", "x.npy", "--k", "1:4", "--method", "silhouette"], ["silhouette needs K >= 2"]),
        (["choose-k", "x.npy", "--plot", "out.jpg"], ["--plot must name a .png"]),
        (["quantize", "in.png", "-k", "0", "-o", "o.png"], ["at least 1"]),
        (["quantize", "in.png", "-o", "o.png", "--sample", "0"], ["at least 1"]),
        (["frobnicate"], ["invalid choice", "frobnicate"]),
        ([], ["required"]),
    ],
)
def test_usage_errors_exit_2(args, fragments, capsys):
    status, out, err = call(capsys, *args)
    assert status == 2 and out == ""
    assert_one_line_error(err, *fragments)


@pytest.fixture
def bad_files(tmp_path):
    files = {}
    files["three_d.npy"] = np.zeros((2, 2, 2))
    files["strings.npy"] = np.array([["a", "b"]])
    files["empty.npy"] = np.zeros((0, 3))
    files["nan.npy"] = np.array([[1.0, 2.0], [np.nan, 1.0]])
    for name, array in files.items():
        np.save(tmp_path / name, array)
    (tmp_path / "words.csv").write_text("a,b\n1,2\n3,x\n")
    (tmp_path / "ragged.csv").write_text("1,2\n3,4,5\n")
    (tmp_path / "gap.csv").write_text("1,\n2,3\n")
    (tmp_path / "header_only.csv").write_text("a,b\n")
    (tmp_path / "data.txt").write_text("1 2\n")
    (tmp_path / "not_npy.npy").write_text("hello")
    (tmp_path / "not_image.png").write_text("hello")
    np.save(tmp_path / "ok.npy", np.arange(10.0).reshape(5, 2))
    return tmp_path


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["fit", "{d}/nope.npy", "-k", "2", "-o", "{d}/l.npy"], ["no such file", "nope.npy"]),
        (["fit", "{d}/data.txt", "-k", "2", "-o", "{d}/l.npy"], ["unknown data format '.txt'", ".npy, .csv, .parquet"]),
        (["fit", "{d}/three_d.npy", "-k", "2", "-o", "{d}/l.npy"], ["3-D array"]),
        (["fit", "{d}/strings.npy", "-k", "1", "-o", "{d}/l.npy"], ["real numbers"]),
        (["fit", "{d}/empty.npy", "-k", "1", "-o", "{d}/l.npy"], ["no data"]),
        (["fit", "{d}/nan.npy", "-k", "1", "-o", "{d}/l.npy"], ["non-finite value (nan) at row 1, column 0"]),
        (["fit", "{d}/not_npy.npy", "-k", "1", "-o", "{d}/l.npy"], ["cannot read", "as .npy"]),
        (["fit", "{d}/words.csv", "-k", "1", "-o", "{d}/l.npy"], ["line 3", "'x' is not a number"]),
        (["fit", "{d}/ragged.csv", "-k", "1", "-o", "{d}/l.npy"], ["line 2", "3 fields"]),
        (["fit", "{d}/gap.csv", "-k", "1", "-o", "{d}/l.npy"], ["line 1", "empty field (missing value)"]),
        (["fit", "{d}/header_only.csv", "-k", "1", "-o", "{d}/l.npy"], ["header but no data"]),
        (["fit", "{d}/ok.npy", "-k", "6", "-o", "{d}/l.npy"], ["K=6 is larger than the number of samples", "(5)"]),
        (["fit", "{d}/ok.npy", "-k", "2", "-o", "{d}/no/dir/l.npy"], ["directory", "does not exist"]),
        (["fit", "{d}/ok.npy", "-k", "2", "-o", "{d}/l.npy", "--backend", "numpy", "--device", "cuda"],
         ["device 'cuda' is not available for backend 'numpy'"]),
        (["choose-k", "{d}/ok.npy", "--k", "2:6"], ["K=6 is larger than the number of samples"]),
        (["quantize", "{d}/not_image.png", "-k", "2", "-o", "{d}/o.png"], ["cannot read", "as an image"]),
        (["quantize", "{d}/nope.png", "-k", "2", "-o", "{d}/o.png"], ["no such file"]),
    ],
)
def test_runtime_errors_exit_1(args, fragments, bad_files, capsys):
    if args[0] == "choose-k" and importlib.util.find_spec("xpcluster.choose_k") is None:
        pytest.skip("xpcluster.choose_k is not there yet")
    if args[0] == "quantize" and importlib.util.find_spec("PIL") is None:
        pytest.skip("Pillow is not installed")
    status, out, err = call(capsys, *(a.format(d=bad_files) for a in args))
    assert status == 1 and out == ""
    assert_one_line_error(err, *fragments)
    assert not (bad_files / "l.npy").exists()


def test_backend_not_installed(bad_files, capsys, monkeypatch):
    # Whatever is installed here, make 'cupy' (and 'torch') unimportable for this call.
    monkeypatch.setitem(sys.modules, "cupy", None)
    monkeypatch.setitem(sys.modules, "torch", None)
    for backend in ("cupy", "torch"):
        status, _, err = call(capsys, "fit", bad_files / "ok.npy", "-k", "2", "-o", bad_files / "l.npy",
                              "--backend", backend)
        assert status == 1
        assert_one_line_error(err, f"backend '{backend}' is not installed: pip install 'xpcluster[{backend}]'")


def test_device_not_available(bad_files, capsys):
    cases = []
    if importlib.util.find_spec("torch") is not None:
        import torch

        if not torch.cuda.is_available():
            cases.append(("torch", "cuda", "PyTorch sees no CUDA GPU"))
    if importlib.util.find_spec("jax") is not None:
        import jax

        if not any(d.platform == "gpu" for d in jax.devices()):
            cases.append(("jax", "cuda", "JAX has no gpu device"))
    if importlib.util.find_spec("cupy") is not None:
        cases.append(("cupy", "cpu", "CuPy runs on CUDA GPUs only"))
    if not cases:
        pytest.skip("every installed backend has a GPU here")
    for backend, device, fragment in cases:
        status, _, err = call(capsys, "fit", bad_files / "ok.npy", "-k", "2", "-o", bad_files / "l.npy",
                              "--backend", backend, "--device", device)
        assert status == 1
        assert_one_line_error(err, f"device '{device}' is not available for backend '{backend}'", fragment)


def test_parquet_without_pyarrow_names_the_extra(tmp_path, capsys, monkeypatch):
    (tmp_path / "x.parquet").write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    status, _, err = call(capsys, "fit", tmp_path / "x.parquet", "-k", "2", "-o", tmp_path / "l.npy")
    assert status == 1
    assert_one_line_error(err, "needs pyarrow: pip install 'xpcluster[parquet]'")


def test_missing_estimator_is_reported(bad_files, capsys, monkeypatch):
    import xpcluster.cluster

    monkeypatch.setitem(cli.ESTIMATORS, "kmeans", ("NoSuchKMeans", "_no_such_module"))
    monkeypatch.delattr(xpcluster.cluster, "NoSuchKMeans", raising=False)
    status, _, err = call(capsys, "fit", bad_files / "ok.npy", "-k", "2", "-o", bad_files / "l.npy")
    assert status == 1
    assert_one_line_error(err, "method 'kmeans' needs xpcluster.cluster.NoSuchKMeans")


@needs_kmeans
def test_quantize_k_above_distinct_colours_and_sample_below_k(tmp_path, capsys):
    pytest.importorskip("PIL", reason="Pillow is not installed (the 'cli' extra)")
    make_png(tmp_path / "in.png", colours=5)
    status, _, err = call(capsys, "quantize", tmp_path / "in.png", "-k", "6", "-o", tmp_path / "o.png")
    assert status == 1
    assert_one_line_error(err, "K=6 is larger than the number of distinct colours", "(5)")
    status, _, err = call(capsys, "quantize", tmp_path / "in.png", "-k", "4", "-o", tmp_path / "o.png",
                          "--sample", "3")
    assert status == 1
    assert_one_line_error(err, "--sample 3 is smaller than K=4")


def test_library_errors_become_one_line(bad_files, capsys, monkeypatch):
    class Exploding:
        def __init__(self, **params):
            pass

        def fit(self, X):
            raise ValueError("something inside went wrong\nwith a second line")

    monkeypatch.setattr(cli, "estimator_class", lambda method: Exploding)
    status, _, err = call(capsys, "fit", bad_files / "ok.npy", "-k", "2", "-o", bad_files / "l.npy")
    assert status == 1
    assert_one_line_error(err, "ValueError: something inside went wrong")
    monkeypatch.setenv("XPCLUSTER_DEBUG", "1")
    with pytest.raises(ValueError, match="something inside"):
        cli.main(["fit", str(bad_files / "ok.npy"), "-k", "2", "-o", str(bad_files / "l.npy")])


def test_warnings_are_one_line(bad_files, capsys, monkeypatch):
    import warnings

    class Warning_:
        def __init__(self, **params):
            pass

        def fit(self, X):
            warnings.warn("clusters collapsed\ndetails", UserWarning)
            self.labels_ = np.zeros(X.shape[0], dtype=np.int64)
            self.cluster_centers_ = X[:2]
            self.inertia_ = 1.0
            return self

    monkeypatch.setattr(cli, "estimator_class", lambda method: Warning_)
    status, out, err = call(capsys, "fit", bad_files / "ok.npy", "-k", "2", "-o", bad_files / "l.npy")
    assert status == 0
    assert err.strip() == "xpcluster: warning: clusters collapsed"


# ----------------------------------------------------------------------- helpers


def test_k_range_syntax():
    assert cli.k_range("2:5") == [2, 3, 4, 5]
    assert cli.k_range("2:12:5") == [2, 7, 12]
    assert cli.k_range("8,2,4,4") == [2, 4, 8]
    assert cli.k_range("3:3") == [3]


def test_compression_ratio_definition():
    assert cli.compression_ratio(1000, 16)[0] == pytest.approx(24_000 / (16 * 24 + 4 * 1000))
    assert cli.compression_ratio(1000, 17)[0] == pytest.approx(24_000 / (17 * 24 + 5 * 1000))
    assert cli.compression_ratio(1000, 1)[0] == pytest.approx(24_000 / 24)


def test_progress_bar_draws_steps_and_stays_silent_when_disabled():
    import io

    pytest.importorskip("tqdm", reason="tqdm is not installed (the 'cli' extra)")
    import time

    stream = io.StringIO()
    with cli.Progress(2, "xpcluster fit", file=stream, delay=0, refresh_every=0.01) as progress:
        with progress.step("reading data"):
            time.sleep(0.1)
        with progress.step("fitting"):
            time.sleep(0.1)  # the bar keeps refreshing while a step runs
    text = stream.getvalue()
    assert "xpcluster fit: 0/2" in text and "reading data" in text
    assert "xpcluster fit: 1/2" in text and "fitting" in text
    late = io.StringIO()
    with cli.Progress(1, "x", file=late, delay=5, refresh_every=0.01) as progress:
        with progress.step("short"):
            time.sleep(0.05)
    assert late.getvalue() == ""  # runs shorter than `delay` show nothing
    quiet = io.StringIO()
    with cli.Progress(1, "x", enabled=False, file=quiet) as progress:
        with progress.step("a"):
            pass
    assert quiet.getvalue() == ""


def test_dask_blocks_are_sized_sensibly():
    assert _io.dask_rows_per_block(500, 3, 8) == 500  # small data: one block
    rows = _io.dask_rows_per_block(10_000_000, 100, 8)
    assert rows * 100 * 8 <= _io.DASK_BLOCK_BYTES and rows >= 1000


# ----------------------------------------------------------------------- byte order


def _inertia_of(out):
    return float(next(part for part in out.split() if part.startswith("inertia="))[len("inertia="):])


@needs_kmeans
@pytest.mark.parametrize("dtype", [">f8", ">f4", ">i4", ">i8"])
def test_non_native_byte_order_reads_as_the_native_dtype(dtype, tmp_path, capsys):
    # Two tight blobs far from the origin: computed in a narrower float (or misread bytes),
    # the within-cluster spread vanishes into rounding and the inertia comes out wrong.
    rng = np.random.default_rng(1)
    offset = 1e8 if dtype in (">f8", ">i8") else 1e3
    X = np.concatenate([offset + rng.normal(size=(60, 2)) * 3, offset + 40 + rng.normal(size=(60, 2)) * 3])
    native = X.astype(np.dtype(dtype).newbyteorder("="))
    np.save(tmp_path / "native.npy", native)
    np.save(tmp_path / "swapped.npy", native.astype(dtype))
    assert np.load(tmp_path / "swapped.npy").dtype.str == np.dtype(dtype).str  # really big-endian on disk
    results = {}
    for name in ("native", "swapped"):
        status, out, err = call(capsys, "fit", tmp_path / f"{name}.npy", "-k", 2, "-o", tmp_path / f"{name}-l.npy",
                                "--centers", tmp_path / f"{name}-c.npy")
        assert status == 0, err
        results[name] = (np.load(tmp_path / f"{name}-l.npy"), np.load(tmp_path / f"{name}-c.npy"), _inertia_of(out), out)
    np.testing.assert_array_equal(results["swapped"][0], results["native"][0])
    np.testing.assert_array_equal(results["swapped"][1], results["native"][1])
    assert results["swapped"][2] == results["native"][2] > 0
    expected_dtype = "float32" if dtype == ">f4" else "float64"
    assert f"dtype={expected_dtype}" in results["swapped"][3]
    assert results["swapped"][1].dtype == np.dtype(expected_dtype)  # native order, same width
    labels, centres, inertia = reference_fit(native.astype(expected_dtype), 2)
    np.testing.assert_array_equal(results["swapped"][0], labels)
    assert f"inertia={inertia:.6g}" in results["swapped"][3]


def test_load_data_returns_native_byte_order(tmp_path):
    for dtype, expected in ((">f8", np.float64), (">f4", np.float32), (">i4", np.float64), (">u2", np.float64)):
        np.save(tmp_path / "x.npy", np.arange(6).reshape(3, 2).astype(dtype))
        data = _io.load_data(tmp_path / "x.npy")
        assert data.dtype == expected and data.dtype.isnative, (dtype, data.dtype)
        np.testing.assert_array_equal(data, np.arange(6).reshape(3, 2))


# ----------------------------------------------------------------------- reading tables


def write(path, text):
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def csv_text(X, header="a,b,c", newline="\n", quote=False):
    cell = (lambda v: f'"{v:.17g}"') if quote else (lambda v: f"{v:.17g}")
    lines = ([header] if header else []) + [",".join(cell(v) for v in row) for row in X]
    return newline.join(lines) + newline


@pytest.mark.parametrize(
    "text, fragments",
    [
        ("a,b\n1,2\n4#5,6\n3,3\n", ["line 3", "column 0 ('a')", "'4#5' is not a number"]),  # not 4
        ("1,2\n#3,4\n5,6\n", ["line 2", "column 0", "'#3' is not a number"]),  # not a dropped comment
        ("a,b\n1,2\n3,\n5,6\n", ["line 3", "column 1 ('b')", "empty field (missing value)"]),
        ("1,2\n,4\n", ["line 2", "column 0", "empty field"]),
        ("a,b\n1,2\n3,4,5\n", ["line 3", "3 fields", "line 1 (the header) has 2"]),
        ("a,b\n1,2\n3\n", ["line 3", "1 fields"]),
        ("a,b\r\n1,2\r\n\r\n3,x\r\n", ["line 4", "'x' is not a number"]),  # CRLF and a blank line counted
        ('a,b\n"1\n2",3\n4,5\n', ["line 2", "column 0 ('a')", "is not a number"]),  # a quoted newline
        ('a,b\n"1"x,2\n', ["line 2", "cannot read it as CSV"]),
        (b"a,b\n1,2\n\xff,3\n", ["line 3", "not UTF-8"]),
    ],
)
def test_csv_problems_are_refused_with_their_line(text, fragments, tmp_path, capsys):
    path = write(tmp_path / "t.csv", text)
    status, out, err = call(capsys, "fit", path, "-k", 1, "-o", tmp_path / "l.npy")
    assert status == 1 and out == ""
    assert_one_line_error(err, *fragments)
    assert not (tmp_path / "l.npy").exists()


@needs_kmeans
@pytest.mark.parametrize("variant", ["quoted", "bom_crlf", "cr_only", "quoted_header", "blank_lines", "spaces"])
def test_csv_dialect_variants_read_the_same_numbers(variant, data_files, tmp_path, capsys):
    folder, X = data_files
    text = {
        "quoted": csv_text(X, quote=True),
        "bom_crlf": "\ufeff" + csv_text(X, newline="\r\n"),
        "cr_only": csv_text(X, newline="\r"),
        "quoted_header": csv_text(X, header='"a","b","c"'),
        "blank_lines": "\n\n" + csv_text(X).replace("\n", "\n\n", 5),
        "spaces": csv_text(X).replace(",", " , "),
    }[variant]
    path = write(tmp_path / "v.csv", text)
    np.testing.assert_array_equal(_io.load_data(path), X)
    status, out, err = call(capsys, "fit", path, "-k", 3, "-o", tmp_path / "l.npy", "--columns", "a,b,c")
    assert status == 0, err  # the header's names, without the BOM or the quotes
    assert err == ""
    np.testing.assert_array_equal(np.load(tmp_path / "l.npy"), reference_fit(X, 3)[0])


@pytest.mark.parametrize(
    "body",
    [b"1,2\n3,4\n", b" 1 ,\t2\n", b"+.5e-3,1E5\n", b"1e-400,-0\n", b"0001,1.\n", b"\x1c1,2\n", b"1,2\x0b\n",
     b"1_0,2\n", b"nan(1),2\n", b"1,2,\n", b"1,2\n \n3,4\n", b"1,2\r\r\n3,4\r", b"1,2\n3,4\n\n\n",
     b"\xc2\xa01,2\n", "\u0661,2\n".encode(), b"0x10,2\n", b"1d5,2\n", b"1\x002\n", b"1,2\n3,4"],
)
def test_csv_fast_path_agrees_with_the_csv_module(body, tmp_path):
    """NumPy's parser is used only where it gives the csv module's answer: either the two
    readings are equal, or the fast path declines (and the csv-module reading decides)."""
    for header in (b"", b"a,b\n", b"\xef\xbb\xbfa,b\n"):
        raw = header + body
        path = tmp_path / "p.csv"
        path.write_bytes(raw)
        fast = _io._load_plain_csv(path, raw)
        try:
            slow = _io._load_csv_text(path, raw)
            slow_data = slow.take(list(range(slow.n_columns)))
        except _io.DataError:
            slow = slow_data = None
        if fast is None:
            continue
        assert slow is not None, (raw, "the fast path read what the csv module refuses")
        np.testing.assert_array_equal(fast.data, slow_data)
        assert fast.names == slow.names


@pytest.fixture(scope="module")
def iris_files(tmp_path_factory):
    pd = pytest.importorskip("pandas")
    datasets = pytest.importorskip("sklearn.datasets")
    iris = datasets.load_iris(as_frame=True)
    frame = iris.frame.drop(columns="target")
    numeric = frame.to_numpy()
    frame["species"] = pd.Categorical.from_codes(iris.target, iris.target_names).astype(str)
    folder = tmp_path_factory.mktemp("iris")
    frame.to_csv(folder / "iris.csv")  # with pandas' default index: an unnamed first column 0..149
    frame.drop(columns="species").to_csv(folder / "numeric.csv")
    shuffled = frame.drop(columns="species").sample(frac=1.0, random_state=0)
    shuffled.to_csv(folder / "shuffled.csv")  # an index, but not 0..n-1 in order
    return folder, frame, numeric, shuffled


@needs_kmeans
def test_pandas_index_column_is_left_out_with_a_note(iris_files, tmp_path, capsys):
    folder, frame, numeric, _ = iris_files
    assert (folder / "numeric.csv").read_text().startswith(",sepal length (cm),")
    status, out, err = call(capsys, "fit", folder / "numeric.csv", "-k", 3, "--seed", 4, "-o", tmp_path / "l.npy",
                            "--centers", tmp_path / "c.npy")
    assert status == 0, err
    assert "d=4" in out
    assert err.strip().splitlines() == [
        f"xpcluster: note: {str(folder / 'numeric.csv')!r} column 0 ('') looks like a row index 0..149; "
        "left out (use --columns to keep it)"
    ]
    labels, centres, _ = reference_fit(numeric, 3, seed=4)
    np.testing.assert_array_equal(np.load(tmp_path / "l.npy"), labels)
    np.testing.assert_allclose(np.load(tmp_path / "c.npy"), centres, rtol=1e-12)
    assert np.load(tmp_path / "c.npy").max() < 10  # not the index's 25 / 75.5 / 125


@needs_kmeans
def test_string_column_needs_drop_and_drop_gives_the_numeric_fit(iris_files, tmp_path, capsys):
    folder, frame, numeric, _ = iris_files
    status, out, err = call(capsys, "fit", folder / "iris.csv", "-k", 3, "-o", tmp_path / "l.npy")
    assert status == 1 and out == ""
    assert_one_line_error(err, "line 2", "column 5 ('species')", "'setosa' is not a number",
                          "--drop species")
    assert not (tmp_path / "l.npy").exists()
    status, out, err = call(capsys, "fit", folder / "iris.csv", "-k", 3, "--seed", 2, "--drop", "species",
                            "-o", tmp_path / "l.npy", "--centers", tmp_path / "c.npy")
    assert status == 0, err
    assert "looks like a row index 0..149" in err
    labels, centres, inertia = reference_fit(numeric, 3, seed=2)
    np.testing.assert_array_equal(np.load(tmp_path / "l.npy"), labels)
    np.testing.assert_allclose(np.load(tmp_path / "c.npy"), centres, rtol=1e-12)
    assert f"d=4 k=3 method=kmeans inertia={inertia:.6g}" in out


@needs_kmeans
@pytest.mark.parametrize(
    "selection, features",
    [
        (["--columns", "petal length (cm),sepal width (cm)"], [2, 1]),  # by name, in the order given
        (["--columns", "3,4"], [2, 3]),  # 0-based indices into the file, index column included
        (["--columns", "1, sepal width (cm)"], [0, 1]),  # mixed, spaces after commas ignored
        (["--drop", "species,0,sepal length (cm)"], [1, 2, 3]),
        (["--drop", "4,5"], [0, 1, 2]),
    ],
)
def test_columns_and_drop_by_name_and_index(selection, features, iris_files, tmp_path, capsys):
    folder, frame, numeric, _ = iris_files
    status, out, err = call(capsys, "fit", folder / "iris.csv", "-k", 3, "-o", tmp_path / "l.npy",
                            "--centers", tmp_path / "c.npy", *selection)
    assert status == 0, err
    labels, centres, _ = reference_fit(numeric[:, features], 3)
    np.testing.assert_array_equal(np.load(tmp_path / "l.npy"), labels)
    np.testing.assert_allclose(np.load(tmp_path / "c.npy"), centres, rtol=1e-12)


@needs_kmeans
def test_columns_keeps_an_index_column_the_user_asks_for(iris_files, tmp_path, capsys):
    folder, frame, numeric, _ = iris_files
    status, out, err = call(capsys, "fit", folder / "numeric.csv", "-k", 3, "-o", tmp_path / "l.npy",
                            "--centers", tmp_path / "c.npy", "--columns", "0,sepal length (cm)")
    assert status == 0, err
    assert err == ""  # no note: nothing was left out
    with_index = np.column_stack([np.arange(150.0), numeric[:, 0]])
    np.testing.assert_allclose(np.load(tmp_path / "c.npy"), reference_fit(with_index, 3)[1], rtol=1e-12)


@needs_kmeans
def test_an_index_that_is_not_0_to_n_minus_1_is_kept_with_a_note(iris_files, tmp_path, capsys):
    folder, _, _, shuffled = iris_files
    status, out, err = call(capsys, "fit", folder / "shuffled.csv", "-k", 3, "-o", tmp_path / "l.npy")
    assert status == 0, err
    assert "d=5" in out
    assert "named like a row index but its values are not 0..149" in err and "--drop 0" in err
    status, out, err = call(capsys, "fit", folder / "shuffled.csv", "-k", 3, "-o", tmp_path / "l.npy",
                            "--drop", "0")
    assert status == 0 and "d=4" in out and err == ""
    np.testing.assert_array_equal(np.load(tmp_path / "l.npy"), reference_fit(shuffled.to_numpy(), 3)[0])


@pytest.mark.parametrize(
    "options, fragments",
    [
        (["--columns", "0", "--drop", "species"], ["not allowed with argument"]),
        (["--columns", "sepal length,9"], ["--columns", "no column 'sepal length', '9'", "'species'"]),
        (["--drop", "petals"], ["--drop", "no column 'petals'"]),
        (["--columns", "1,1"], ["more than once", "sepal length"]),
        (["--drop", ""], ["--drop", "comma-separated"]),
        (["--drop", "0,1,2,3,4,5"], ["leaves none"]),
    ],
)
def test_column_selection_errors_exit_2(options, fragments, iris_files, tmp_path, capsys):
    folder, _, _, _ = iris_files
    for command in (["fit", folder / "iris.csv", "-k", 3, "-o", tmp_path / "l.npy"],
                    ["choose-k", folder / "iris.csv", "--k", "2:3"]):
        if command[0] == "choose-k" and importlib.util.find_spec("xpcluster.choose_k") is None:
            continue
        status, out, err = call(capsys, *command, *options)
        assert status == 2 and out == "", err
        assert_one_line_error(err, *fragments)
    assert not (tmp_path / "l.npy").exists()


def test_npy_columns_by_index_only(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.arange(12.0).reshape(4, 3))
    np.testing.assert_array_equal(_io.load_data(tmp_path / "x.npy", columns=["2", 0]), [[2, 0], [5, 3], [8, 6], [11, 9]])
    np.testing.assert_array_equal(_io.load_data(tmp_path / "x.npy", drop=["1"]), [[0, 2], [3, 5], [6, 8], [9, 11]])
    status, _, err = call(capsys, "fit", tmp_path / "x.npy", "-k", 1, "-o", tmp_path / "l.npy", "--columns", "a")
    assert status == 2
    assert_one_line_error(err, "no column 'a'", "0-based indices 0..2", "no header")


@pytest.mark.skipif(importlib.util.find_spec("xpcluster.choose_k") is None, reason="xpcluster.choose_k is not there yet")
def test_choose_k_reads_columns_like_fit(iris_files, capsys):
    from xpcluster.choose_k import choose_k

    folder, _, numeric, _ = iris_files
    status, out, err = call(capsys, "choose-k", folder / "iris.csv", "--k", "2:4", "--method", "elbow",
                            "--drop", "species")
    assert status == 0, err
    assert "n=150 d=4" in out and "looks like a row index" in err
    assert out.splitlines()[-1] == f"chosen K: {choose_k(numeric, [2, 3, 4], method='elbow', random_state=0).k}"


@needs_kmeans
def test_parquet_index_level_column_and_string_column(iris_files, tmp_path, capsys):
    pa = pytest.importorskip("pyarrow", reason="pyarrow is not installed (the 'parquet' extra)")
    import pyarrow.parquet as pq

    _, frame, numeric, _ = iris_files
    path = tmp_path / "iris.parquet"
    table = pa.Table.from_pandas(frame, preserve_index=True)  # the index as '__index_level_0__'
    assert "__index_level_0__" in table.column_names
    pq.write_table(table, path)
    status, out, err = call(capsys, "fit", path, "-k", 3, "-o", tmp_path / "l.npy")
    assert status == 1
    assert_one_line_error(err, "column 'species' is not numeric", "--drop species")
    status, out, err = call(capsys, "fit", path, "-k", 3, "-o", tmp_path / "l.npy", "--drop", "species")
    assert status == 0, err
    assert "'__index_level_0__') looks like a row index 0..149" in err and "d=4" in out
    np.testing.assert_array_equal(np.load(tmp_path / "l.npy"), reference_fit(numeric, 3)[0])


# ----------------------------------------------------------------------- output files


def snapshot(folder):
    """Every file under ``folder`` (names relative to it) with its bytes; links as links."""
    files = {}
    for root, dirs, names in os.walk(folder):
        for name in names + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            path = os.path.join(root, name)
            key = os.path.relpath(path, folder)
            files[key] = ("link", os.readlink(path)) if os.path.islink(path) else open(path, "rb").read()
    return files


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A folder, the current directory, with d.npy (data), old.npy (an earlier result), a
    symlink and a hard link to d.npy, and a symlinked subfolder."""
    np.save(tmp_path / "d.npy", blobs())
    np.save(tmp_path / "old.npy", np.arange(5))
    os.symlink("d.npy", tmp_path / "sym.npy")
    os.link(tmp_path / "d.npy", tmp_path / "hard.npy")
    (tmp_path / "real").mkdir()
    os.symlink("real", tmp_path / "linked")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    "data, options, fragments",
    [
        ("d.npy", ["-o", "d.npy"], ["-o 'd.npy'", "input DATA 'd.npy'"]),
        ("d.npy", ["-o", "l.npy", "--centers", "d.npy"], ["--centers 'd.npy'", "input DATA 'd.npy'"]),
        ("d.npy", ["-o", "x.npy", "--centers", "x.npy"], ["--centers 'x.npy'", "-o 'x.npy'", "same file"]),
        ("d.npy", ["-o", "old.npy", "--centers", "old.npy"], ["--centers 'old.npy'", "-o 'old.npy'"]),
        ("d.npy", ["-o", "x.npy", "--centers", "./x.npy"], ["--centers './x.npy'", "-o 'x.npy'"]),
        ("d.npy", ["-o", "./d.npy"], ["-o './d.npy'", "input DATA 'd.npy'"]),
        ("./d.npy", ["-o", "d.npy"], ["-o 'd.npy'", "input DATA './d.npy'"]),
        ("d.npy", ["-o", "{abs}/d.npy"], ["-o '{abs}/d.npy'", "input DATA 'd.npy'"]),
        ("{abs}/d.npy", ["-o", "l.npy", "--centers", "d.npy"], ["--centers 'd.npy'", "input DATA '{abs}/d.npy'"]),
        ("d.npy", ["-o", "sym.npy"], ["-o 'sym.npy'", "input DATA 'd.npy'"]),
        ("sym.npy", ["-o", "l.npy", "--centers", "d.npy"], ["--centers 'd.npy'", "input DATA 'sym.npy'"]),
        ("d.npy", ["-o", "hard.npy"], ["-o 'hard.npy'", "input DATA 'd.npy'"]),
        ("d.npy", ["-o", "linked/x.npy", "--centers", "real/x.npy"], ["--centers 'real/x.npy'", "-o 'linked/x.npy'"]),
        ("d.npy", ["-o", "real/../x.npy", "--centers", "x.npy"], ["--centers 'x.npy'", "-o 'real/../x.npy'"]),
    ],
)
def test_fit_refuses_an_output_that_is_an_input_or_another_output(data, options, fragments, workdir, capsys):
    before = snapshot(workdir)
    fill = lambda text: text.format(abs=workdir)  # noqa: E731
    status, out, err = call(capsys, "fit", fill(data), "-k", 3, *map(fill, options))
    assert status == 2 and out == ""
    assert_one_line_error(err, *map(fill, fragments))
    assert snapshot(workdir) == before  # the input's bytes, and nothing new (no temporaries)


def test_choose_k_and_quantize_refuse_to_overwrite_their_input(workdir, capsys):
    pytest.importorskip("PIL", reason="Pillow is not installed (the 'cli' extra)")
    make_png(workdir / "in.png")
    os.symlink("d.npy", workdir / "plot.png")
    before = snapshot(workdir)
    for args, fragments in [
        (["choose-k", "d.npy", "--plot", "plot.png"], ["--plot 'plot.png'", "input DATA 'd.npy'"]),
        (["quantize", "in.png", "-o", "in.png"], ["-o 'in.png'", "input IMAGE 'in.png'"]),
        (["quantize", "./in.png", "-o", str(workdir / "in.png")], ["input IMAGE './in.png'"]),
    ]:
        status, out, err = call(capsys, *args)
        assert status == 2 and out == "", err
        assert_one_line_error(err, *fragments)
    assert snapshot(workdir) == before


@needs_kmeans
def test_outputs_replace_old_files_whole_and_leave_no_temporaries(workdir, capsys):
    (workdir / "target.npy").write_bytes(b"old")
    os.symlink("target.npy", workdir / "via-link.npy")
    status, out, err = call(capsys, "fit", "d.npy", "-k", 3, "-o", "old.npy", "--centers", "via-link.npy")
    assert status == 0, err
    labels, centres, _ = reference_fit(blobs(), 3)
    np.testing.assert_array_equal(np.load("old.npy"), labels)
    np.testing.assert_allclose(np.load("target.npy"), centres, rtol=1e-12)
    assert os.path.islink("via-link.npy")  # written through the link, which stays a link
    assert sorted(os.listdir(workdir)) == sorted(["d.npy", "old.npy", "sym.npy", "hard.npy", "real", "linked",
                                                   "target.npy", "via-link.npy"])
    status, out, err = call(capsys, "fit", "d.npy", "-k", 3, "-o", "new.npy")
    assert status == 0, err
    mask = os.umask(0)
    os.umask(mask)
    assert (os.stat("new.npy").st_mode & 0o777) == 0o666 & ~mask  # not mkstemp's 0600


@needs_kmeans
@pytest.mark.parametrize("failing", ["second", "first"])
def test_a_failed_write_changes_no_destination(failing, workdir, capsys, monkeypatch):
    np.save("old-centres.npy", np.zeros((3, 3)))
    before = snapshot(workdir)
    real_save = cli._save_npy
    calls = []

    def save(array, path):
        calls.append(path)
        if (failing == "second" and len(calls) == 2) or failing == "first":
            real_save(array, path)  # something half-written, then the disk fills up
            raise OSError(28, "No space left on device")
        real_save(array, path)

    monkeypatch.setattr(cli, "_save_npy", save)
    status, out, err = call(capsys, "fit", "d.npy", "-k", 3, "-o", "old.npy", "--centers", "old-centres.npy")
    assert status == 1 and out == ""
    option = "--centers 'old-centres.npy'" if failing == "second" else "-o 'old.npy'"
    assert_one_line_error(err, f"cannot write {option}", "No space left on device")
    assert snapshot(workdir) == before  # old.npy too, though its new bytes were written first
    assert all(not os.path.exists(path) for path in calls)


@needs_kmeans
def test_a_writer_error_names_the_destination_not_the_temporary(workdir, capsys, monkeypatch):
    pytest.importorskip("PIL", reason="Pillow is not installed (the 'cli' extra)")
    make_png(workdir / "in.png")
    monkeypatch.setattr(cli, "save_image", lambda pixels, path, format=None: (_ for _ in ()).throw(
        _io.DataError(f"cannot write image {str(path)!r}: broken encoder")))
    status, out, err = call(capsys, "quantize", "in.png", "-k", 2, "-o", "out.png")
    assert status == 1
    assert_one_line_error(err, "cannot write -o 'out.png'", "'out.png'", "broken encoder")
    assert ".tmp" not in err
    assert sorted(os.listdir(workdir)) == sorted(["d.npy", "old.npy", "sym.npy", "hard.npy", "real", "linked", "in.png"])


@pytest.mark.parametrize(
    "output, fragments",
    [
        ("missing/l.npy", ["-o 'missing/l.npy'", "directory 'missing' does not exist"]),
        ("old.npy/l.npy", ["directory 'old.npy' is not a directory"]),
        ("dir.npy", ["-o 'dir.npy'", "it is a directory"]),
        ("fifo.npy", ["-o 'fifo.npy'", "not a regular file"]),
        ("dangling.npy", ["links to", "does not exist"]),
    ],
)
def test_unwritable_outputs_are_reported_before_the_work(output, fragments, workdir, capsys):
    os.mkdir("dir.npy")
    os.mkfifo("fifo.npy")
    os.symlink("nowhere/x.npy", "dangling.npy")
    status, out, err = call(capsys, "fit", "d.npy", "-k", 3, "-o", output)
    assert status == 1 and out == ""
    assert_one_line_error(err, *fragments)


def test_quantize_suffix_pillow_cannot_write_is_refused_first(workdir, capsys):
    pytest.importorskip("PIL", reason="Pillow is not installed (the 'cli' extra)")
    make_png(workdir / "in.png")
    status, out, err = call(capsys, "quantize", "in.png", "-k", 2, "-o", "out.nosuchformat")
    assert status == 1
    assert_one_line_error(err, "Pillow writes no format with the suffix '.nosuchformat'")


# --------------------------------------------------------------------------- sparse .npz


def sparse_table(seed=0):
    """Three clusters told apart by their columns (sparse-looking, one empty row)."""
    rng = np.random.default_rng(seed)
    X = np.zeros((90, 30))
    for j in range(3):
        stored = rng.random((30, 10)) < 0.6
        X[j * 30 : (j + 1) * 30, j * 10 : (j + 1) * 10] = stored * rng.integers(1, 6, size=(30, 10))
    X[7] = 0.0
    return X


@pytest.fixture
def sparse_files(tmp_path):
    """The same table as a dense .npy and as scipy.sparse.save_npz archives of several
    formats (compressed or not, int64, a COO with duplicate entries and explicit zeros),
    and .npz files that are not sparse matrices."""
    sparse = pytest.importorskip("scipy.sparse", reason="SciPy is not installed")
    X = sparse_table()
    np.save(tmp_path / "dense.npy", X)
    sparse.save_npz(tmp_path / "csr.npz", sparse.csr_matrix(X))
    sparse.save_npz(tmp_path / "csc.npz", sparse.csc_array(X), compressed=False)
    sparse.save_npz(tmp_path / "int.npz", sparse.csr_matrix(X.astype(np.int64)))
    rows, cols = np.nonzero(X)
    values = X[rows, cols]
    messy = sparse.coo_matrix(
        (np.concatenate([values - 1, np.ones(values.size), [0.0, 0.0]]),
         (np.concatenate([rows, rows, [7, 0]]), np.concatenate([cols, cols, [3, 29]]))),
        shape=X.shape,
    )
    np.testing.assert_array_equal(messy.toarray(), X)
    sparse.save_npz(tmp_path / "coo.npz", messy)
    np.savez(tmp_path / "arrays.npz", features=X, labels=np.zeros(90))
    with open(tmp_path / "npy_inside.npz", "wb") as f:
        np.save(f, X)
    bad = sparse.csr_matrix(X)
    bad.data[5] = np.nan
    sparse.save_npz(tmp_path / "nan.npz", bad)
    sparse.save_npz(tmp_path / "empty.npz", sparse.csr_matrix((0, 4)))
    sparse.save_npz(tmp_path / "complex.npz", sparse.csr_matrix(X.astype(np.complex128)))
    (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04 not really a zip")
    return tmp_path, X


SPARSE_ARCHIVES = ("csr.npz", "csc.npz", "int.npz", "coo.npz")


@needs_kmeans
@pytest.mark.parametrize("method", ["kmeans", "minibatch", "bisecting", "kmedoids"])
def test_fit_sparse_npz_equals_dense_and_keeps_it_sparse(method, sparse_files, capsys, monkeypatch):
    folder, X = sparse_files
    status, out, err = call(capsys, "fit", folder / "dense.npy", "-k", 3, "--method", method,
                            "-o", folder / "dense_l.npy", "--centers", folder / "dense_c.npy")
    assert status == 0, err
    cls = cli.estimator_class(method)
    seen = []
    original_fit = cls.fit

    def spying_fit(self, X, *args, **kwargs):  # what the estimator is given
        seen.append(type(X).__module__)
        return original_fit(self, X, *args, **kwargs)

    monkeypatch.setattr(cls, "fit", spying_fit)
    for name in SPARSE_ARCHIVES:
        before = (folder / name).read_bytes()
        labels, centres = folder / f"{name}_l.npy", folder / f"{name}_c.npy"
        status, out, err = call(capsys, "fit", folder / name, "-k", 3, "--method", method, "-o", labels,
                                "--centers", centres)
        assert status == 0, err
        assert seen[-1].startswith("scipy.sparse"), name  # never densified on the way
        np.testing.assert_array_equal(np.load(labels), np.load(folder / "dense_l.npy"), err_msg=name)
        np.testing.assert_allclose(np.load(centres), np.load(folder / "dense_c.npy"), rtol=1e-12, atol=1e-12)
        assert f"n=90 d=30 nnz={np.count_nonzero(X)} k=3 method={method}" in out
        assert "backend=numpy on cpu (sparse) dtype=float64" in out
        assert (folder / name).read_bytes() == before


@needs_kmeans
def test_fit_sparse_npz_in_a_fresh_process_with_columns_and_float32(sparse_files):
    folder, X = sparse_files
    labels = folder / "l.npy"
    status, out, err = run("fit", folder / "csr.npz", "-k", 3, "-o", labels, "--drop", "0,1", "--dtype", "float32",
                           "--seed", 4)
    assert status == 0, err
    from scipy import sparse

    from xpcluster.cluster import KMeans

    expected = KMeans(n_clusters=3, random_state=4).fit(sparse.csr_matrix(X[:, 2:].astype(np.float32)))
    np.testing.assert_array_equal(np.load(labels), expected.labels_)
    assert "d=28" in out and "dtype=float32" in out
    status, out, err = run("fit", folder / "csc.npz", "-k", 3, "-o", labels, "--columns", "25,0,12")
    assert status == 0, err
    expected = KMeans(n_clusters=3, random_state=0).fit(X[:, [25, 0, 12]])
    np.testing.assert_array_equal(np.load(labels), expected.labels_)


@pytest.mark.skipif(importlib.util.find_spec("xpcluster.choose_k") is None, reason="xpcluster.choose_k is not there yet")
@pytest.mark.parametrize("options", [["--method", "silhouette"], ["--method", "elbow", "--k", "1:6"],
                                     ["--method", "silhouette", "--estimator", "kmedoids"]])
def test_choose_k_sparse_npz_equals_dense(options, sparse_files, capsys):
    folder, _ = sparse_files
    status, dense_out, err = call(capsys, "choose-k", folder / "dense.npy", "--k", "2:6", *options)
    assert status == 0, err
    for name in ("csr.npz", "coo.npz"):
        status, out, err = call(capsys, "choose-k", folder / name, "--k", "2:6", *options)
        assert status == 0, err
        assert "backend=numpy on cpu (sparse)" in out.splitlines()[0]
        assert out.splitlines()[1:] == dense_out.splitlines()[1:]  # the same table and K


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["fit", "{d}/csr.npz", "-k", "3", "-o", "{d}/l.npy", "--method", "kmedians"],
         ["--method kmedians (KMedians) does not take sparse data", "'{d}/csr.npz' holds a sparse matrix",
          "use --method kmeans, minibatch, bisecting, kmedoids"]),
        (["fit", "{d}/csr.npz", "-k", "3", "-o", "{d}/l.npy", "--backend", "torch"],
         ["--backend numpy only", "got --backend torch"]),
        (["choose-k", "{d}/csr.npz", "--k", "2:4", "--method", "gap"],
         ["--method gap needs dense data", "use --method elbow or silhouette"]),
        (["choose-k", "{d}/csr.npz", "--k", "2:4", "--estimator", "kmedians"],
         ["--estimator kmedians (KMedians) does not take sparse data"]),
        (["fit", "{d}/csr.npz", "-k", "3", "-o", "{d}/l.npy", "--columns", "0,30"],
         ["--columns", "has no column '30'", "0-based indices 0..29"]),
        (["fit", "{d}/csr.npz", "-k", "3", "-o", "{d}/csr.npz"], ["-o must name a .npy file"]),
    ],
)
def test_sparse_usage_errors_exit_2(args, fragments, sparse_files, capsys):
    folder, _ = sparse_files
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    status, out, err = call(capsys, *(a.format(d=folder) for a in args))
    assert status == 2 and out == ""
    assert_one_line_error(err, *(f.format(d=folder) for f in fragments))
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


@pytest.mark.parametrize(
    "name, options, fragments",
    [
        ("arrays.npz", [], ["is an .npz archive of NumPy arrays ('features', 'labels')",
                            "not a sparse matrix written by scipy.sparse.save_npz"]),
        ("npy_inside.npz", [], ["is an .npy array, not an .npz archive"]),
        ("nan.npz", [], ["non-finite value (nan) at row 1, column"]),
        ("empty.npz", [], ["holds no data (shape (0, 4))"]),
        ("complex.npz", [], ["complex128 values", "real numbers"]),
        ("broken.npz", [], ["cannot read", "broken.npz"]),
        ("csr.npz", ["--device", "cuda"], ["device 'cuda' is not available for sparse data"]),
    ],
)
def test_sparse_runtime_errors_exit_1(name, options, fragments, sparse_files, capsys):
    folder, X = sparse_files
    status, out, err = call(capsys, "fit", folder / name, "-k", 2, "-o", folder / "l.npy", *options)
    assert status == 1 and out == ""
    assert_one_line_error(err, *fragments)
    assert not (folder / "l.npy").exists()


def test_nan_position_in_a_sparse_file_is_the_entry_s(sparse_files):
    folder, X = sparse_files
    from scipy import sparse

    bad = sparse.load_npz(folder / "nan.npz")
    row, col = (int(i[0]) for i in np.nonzero(np.isnan(bad.toarray())))
    with pytest.raises(_io.DataError, match=rf"at row {row}, column {col};"):
        _io.load_data(folder / "nan.npz")


def test_load_data_reads_sparse_npz_as_a_new_csr_matrix(sparse_files):
    folder, X = sparse_files
    for name in SPARSE_ARCHIVES:
        data = _io.load_data(folder / name)
        assert _io.is_sparse_data(data) and data.format == "csr" and data.dtype == np.float64, name
        np.testing.assert_array_equal(data.toarray(), X)
    assert _io.sparse_npz_format(folder / "csc.npz") == "csc"
    assert _io.sparse_npz_format(folder / "coo.npz") == "coo"
    for other in ("arrays.npz", "npy_inside.npz", "broken.npz", "dense.npy", "missing.npz"):
        assert _io.sparse_npz_format(folder / other) is None, other
    assert not _io.is_sparse_data(_io.load_data(folder / "dense.npy"))


def test_sparse_npz_input_is_never_overwritten(sparse_files, capsys):
    folder, _ = sparse_files
    os.symlink("csr.npz", folder / "labels.npy")  # an output path that is the input's file
    before = (folder / "csr.npz").read_bytes()
    for args in (["fit", folder / "csr.npz", "-k", 3, "-o", folder / "labels.npy"],
                 ["fit", folder / "csr.npz", "-k", 3, "-o", folder / "l.npy", "--centers", folder / "labels.npy"]):
        status, out, err = call(capsys, *args)
        assert status == 2 and out == ""
        assert_one_line_error(err, "is the same file as the input DATA")
    assert (folder / "csr.npz").read_bytes() == before
    assert os.path.islink(folder / "labels.npy") and not (folder / "l.npy").exists()

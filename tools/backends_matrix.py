"""Write backends_matrix.md (and README's copy of it) from a measured test run.

Runs the test suite once with a JUnit XML report, files every test case under the
backend(s) it exercised -- the ``xp`` fixture's parameter in its name, or its module for
backend-specific modules -- and writes SciPy's layout (Library | CPU | GPU) plus the columns
xpcluster adds (jax.jit, Dask lazy / no compute, distributed).  A cell is ✅ when its tests
passed, ⛔ when one failed, and says why when nothing ran (no GPU here, not installed).
Never edit the output by hand: ``nox -s matrix`` regenerates it.

    python tools/backends_matrix.py [pytest args...]
"""
from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- backends-matrix:begin -->", "<!-- backends-matrix:end -->"

# (row, column) -> how to recognise its test cases: xp-fixture ids, or module[::test] names.
CELLS = {
    ("NumPy", "CPU"): {"ids": {"numpy", "numpy_readonly"}},
    ("array-api-strict", "CPU"): {"ids": {"array_api_strict", "array_api_strict_device1"}},
    ("PyTorch", "CPU"): {"ids": {"torch"}},
    ("PyTorch", "GPU"): {"ids": {"torch_cuda"}, "modules": {"test_devices.py::test_torch_cuda"}},
    ("CuPy", "GPU"): {"ids": {"cupy"}, "modules": {"test_devices.py::test_cupy"}},
    ("JAX", "CPU"): {"ids": {"jax", "jax_device1"}, "modules": {"test_jax.py"}},
    ("JAX", "GPU"): {"ids": {"jax_gpu"}},
    ("JAX", "jax.jit"): {"ids": {"jax_jit"}},
    ("Dask", "CPU"): {"ids": {"dask"}, "modules": {"test_dask.py"}},
    ("Dask", "GPU"): {"ids": {"dask_cupy"}},
    ("Dask", "lazy / no compute"): {"ids": {"dask", "dask_cupy"}},
    ("Dask", "distributed"): {"modules": {"test_dask.py::test_on_a_distributed_cluster"}},
}
ROWS = ["NumPy", "array-api-strict", "PyTorch", "CuPy", "JAX", "Dask"]
COLUMNS = ["CPU", "GPU", "jax.jit", "lazy / no compute", "distributed"]
NOT_APPLICABLE = "n/a"
PACKAGES = ["numpy", "array-api-compat", "array-api-extra", "array-api-strict", "torch", "cupy", "jax", "jaxlib",
            "dask", "distributed", "scipy"]


def run_tests(extra: list[str]) -> Path:
    report = Path(tempfile.mkdtemp()) / "report.xml"
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", f"--junitxml={report}", *extra], cwd=ROOT)
    return report


def cases(report: Path):
    for case in ET.parse(report).getroot().iter("testcase"):
        module = (case.get("file") or case.get("classname", "").replace(".", "/") + ".py").split("/")[-1]
        name = case.get("name", "")
        if case.find("failure") is not None or case.find("error") is not None:
            outcome, message = "failed", ""
        elif case.find("skipped") is not None:
            outcome, message = "skipped", case.find("skipped").get("message", "")
        else:
            outcome, message = "passed", ""
        ids = set(re.findall(r"\[(.*)\]", name)[0].split("-")) if "[" in name else set()
        yield module, name, ids, outcome, message


def classify(report: Path) -> dict[tuple[str, str], dict[str, list[str]]]:
    cells: dict[tuple[str, str], dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for module, name, ids, outcome, message in cases(report):
        for cell, rule in CELLS.items():
            by_id = bool(ids & rule.get("ids", set()))
            by_module = any(
                module == spec.split("::")[0] and (("::" not in spec) or name.startswith(spec.split("::")[1]))
                for spec in rule.get("modules", set())
            )
            if by_id or by_module:
                cells[cell][outcome].append(message)
    return cells


def cell_text(outcomes: dict[str, list[str]] | None) -> str:
    if not outcomes:
        return NOT_APPLICABLE
    failed, passed, skipped = (len(outcomes.get(k, [])) for k in ("failed", "passed", "skipped"))
    if failed:
        return f"⛔ {failed} failed, {passed} passed"
    if passed:
        return f"✅ {passed} passed"
    reasons = {m.split(":", 1)[-1].strip() for m in outcomes.get("skipped", [])}
    if any("GPU" in r or "CUDA" in r for r in reasons):
        return "not measured here: no GPU"
    return "not measured here: " + "; ".join(sorted(reasons))[:80]


def machine() -> str:
    gpu = "no GPU"
    try:
        import torch

        if torch.cuda.is_available():
            gpu = torch.cuda.get_device_name(0)
    except Exception:
        pass
    return f"{platform.machine()}, {os.cpu_count()} cores, {gpu}, Python {platform.python_version()}"


def versions() -> str:
    found = []
    for package in PACKAGES:
        try:
            found.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            pass
    return ", ".join(found)


def table(cells) -> str:
    lines = ["| Library | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for row in ROWS:
        lines.append(f"| {row} | " + " | ".join(
            cell_text(cells.get((row, column))) if (row, column) in CELLS else NOT_APPLICABLE for column in COLUMNS
        ) + " |")
    return "\n".join(lines)


def main() -> None:
    report = run_tests(sys.argv[1:])
    body = table(classify(report))
    stamp = (f"Measured {datetime.date.today().isoformat()} on {machine()}.\n\n"
             f"Versions: {versions()}.")
    document = (
        "# Backend matrix\n\n"
        "Generated by `nox -s matrix` (tools/backends_matrix.py) from a run of the test suite; "
        "never edited by hand. Each cell counts the tests that exercised that library on that "
        "device or mode: ✅ all passed, ⛔ some failed, otherwise why nothing ran here.\n\n"
        f"{body}\n\n{stamp}\n"
    )
    (ROOT / "backends_matrix.md").write_text(document)
    readme = (ROOT / "README.md").read_text()
    if BEGIN in readme and END in readme:
        head, rest = readme.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        (ROOT / "README.md").write_text(f"{head}{BEGIN}\n{body}\n\n{stamp}\n{END}{tail}")
    print(document)


if __name__ == "__main__":
    main()

"""The promises README makes: its test command is what CI runs; the demo runs everywhere."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _readme_commands():
    text = (ROOT / "README.md").read_text()
    head = text.split("---", 1)[0]
    return [line.strip() for line in head.splitlines() if line.startswith("    ")]


def test_readme_starts_with_demo_and_test_commands():
    demo, test = _readme_commands()
    assert demo.endswith("python -m xpcluster")
    assert "pytest" in test


def test_ci_runs_exactly_the_readme_test_command():
    _, test = _readme_commands()
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test in ci_lines


@pytest.mark.parametrize("jax_x64", [None, "1"], ids=["jax-default-x64-off", "jax-x64-on"])
def test_demo_runs_on_every_installed_backend(jax_x64):
    """The environment a user has: no dispatch flags, JAX's own default (x64 off, float32)
    unless asked (this suite's process turns x64 on), one host device."""
    dropped = ("XPCLUSTER_ARRAY_API", "SCIPY_ARRAY_API", "JAX_ENABLE_X64", "XLA_FLAGS")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    if jax_x64 is not None:
        env["JAX_ENABLE_X64"] = jax_x64
    out = subprocess.run([sys.executable, "-m", "xpcluster"], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "FAILED" not in out.stdout
    blocks = re.findall(r"^(\S[^\n]*?)  \(([\w.]+), [\d.]+ ms\)$", out.stdout, flags=re.M)
    names = [name for name, _ in blocks]
    assert names[0] == "numpy"
    sizes = [int(s) for s in re.findall(r"size (\d+)", out.stdout)]
    assert len(sizes) == 3 * len(names) and all(sum(sizes[i : i + 3]) == 100 for i in range(0, len(sizes), 3))
    try:
        import torch  # noqa: F401

        assert "torch cpu" in names
    except ImportError:
        assert "skipped torch cpu: not installed" in out.stdout

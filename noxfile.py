"""Developer sessions.

- ``tests``: the whole suite with every CPU backend (what CI runs).
- one session per backend (numpy, array_api_strict, torch, jax, dask, cupy): the suite with
  only that backend installed beside the test tools.
- ``matrix``: runs the suite and writes backends_matrix.md (and README's copy) from it.
- ``slow``: the tests marked slow (left out of the default run).
- ``bench``: the benchmarks (not tests): docs/benchmarks.md.

On a GPU machine whose CUDA builds of torch / cupy / jax are preinstalled and nothing can be
downloaded, run ``nox -s matrix --no-venv`` (or ``python tools/backends_matrix.py``) in that
environment.
"""
import nox

nox.options.sessions = ["tests"]

TEST_TOOLS = ["pytest>=8", "hypothesis>=6.100", "scipy==1.17.*", "scikit-learn>=1.5"]
BACKEND_PACKAGES = {
    "numpy": [],
    "array_api_strict": ["array-api-strict>=2.3"],
    "torch": ["torch==2.13.0"],  # the CPU wheel; an unpinned torch pulls a multi-GB CUDA build
    "jax": ["jax>=0.5"],
    "dask": ["dask[array]>=2024.8", "distributed>=2024.8"],
    "cupy": ["cupy>=13"],
}


@nox.session(python="3.11")
def tests(session: nox.Session) -> None:
    """The whole suite with every CPU backend (numpy, array-api-strict, torch, jax, dask)."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session(python="3.11")
def slow(session: nox.Session) -> None:
    """Only the tests marked slow (minutes on 2 cores), left out of the default run."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", "-m", "slow", *session.posargs)


@nox.session(python="3.11")
@nox.parametrize("backend", list(BACKEND_PACKAGES))
def backend(session: nox.Session, backend: str) -> None:
    """The suite with one backend installed (tests of the others skip as not installed)."""
    session.install("-e", ".", *TEST_TOOLS, *BACKEND_PACKAGES[backend])
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session(python="3.11")
def matrix(session: nox.Session) -> None:
    """Run the suite and write backends_matrix.md from the results."""
    session.install("-e", ".[test]")
    session.run("python", "tools/backends_matrix.py", *session.posargs)


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """Benchmarks (not part of the tests): writes docs/benchmarks.md, .json and the scaling plot.

    W1, the W2 CPU variant and the small-k jobs against scikit-learn, SciPy, faiss and the
    GEMM floor, the scaling sweep, W3 peak RSS and Dask beyond worker memory; then the
    standalone benchmarks, each adding its section to the same files: the sparse (TF-IDF)
    case, estimators with default settings, Dask fits, KMedians and KMedoids.  Pass
    arguments through to suite.py, e.g. ``nox -s bench -- --only w1 --quick``.
    """
    session.install("-e", ".[test]", "faiss-cpu", "matplotlib", "dask-ml", "kmedoids")
    session.run("python", "benchmarks/suite.py", *session.posargs)
    for script in STANDALONE_BENCHMARKS:
        session.run("python", f"benchmarks/{script}")


#: Benchmarks that write their own section of docs/benchmarks.md, run after suite.py.
STANDALONE_BENCHMARKS = ["sparse.py", "estimators.py", "dask_fit.py", "kmedians.py", "kmedoids.py", "elkan.py"]

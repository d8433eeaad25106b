"""Developer sessions: `nox -s tests` runs the suite on every backend the `test` extra installs."""
import nox

nox.options.sessions = ["tests"]


@nox.session(python="3.11")
def tests(session: nox.Session) -> None:
    """The whole suite (numpy, array-api-strict on two devices, torch CPU)."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """Benchmarks (not part of the tests): W1 speed, W3 peak RSS, Dask beyond worker memory."""
    session.install("-e", ".[test]")
    session.run("python", "benchmarks/w1.py")
    session.run("python", "benchmarks/memory_w3.py")
    session.run("python", "benchmarks/dask_distributed.py")

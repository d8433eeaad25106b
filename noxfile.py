"""Developer sessions: `nox -s tests` runs the suite on every backend the `test` extra installs."""
import nox

nox.options.sessions = ["tests"]


@nox.session(python="3.11")
def tests(session: nox.Session) -> None:
    """The whole suite (numpy, array-api-strict on two devices, torch CPU)."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", *session.posargs)

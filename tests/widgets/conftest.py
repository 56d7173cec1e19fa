"""Widget tests run headless: no kernel, no browser; ``COURSE_WIDGETS`` is cleared so detection is tested as is."""

import pytest


@pytest.fixture(autouse=True)
def _no_override(monkeypatch):
    monkeypatch.delenv("COURSE_WIDGETS", raising=False)


def pytest_report_header(config):
    import ipywidgets

    return f"ipywidgets {ipywidgets.__version__}"


@pytest.fixture(autouse=True, scope="session")
def _expected_ipywidgets():
    """The ipywidgets 7 pass sets COURSE_EXPECT_IPYWIDGETS=7: make sure that version is really the one imported."""
    import os

    import ipywidgets

    expected = os.environ.get("COURSE_EXPECT_IPYWIDGETS")
    if expected:
        assert ipywidgets.__version__.split(".")[0] == expected, ipywidgets.__version__

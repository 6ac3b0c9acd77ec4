"""Browser fixtures, until tests/conftest.py lists tests.support.browser in pytest_plugins."""

from tests.support.browser import browser, live_server, page, page_problems  # noqa: F401

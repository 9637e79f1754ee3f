"""The in-process API harness of tests/api (`api` fixture) for the security tests."""

from tests.api.conftest import api, services_and_url  # noqa: F401

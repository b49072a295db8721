"""The API conforms to its own OpenAPI document: schemathesis against a running API on 127.0.0.1.

The schema is the one the API serves (``openapi_document()`` is what ``/openapi.json`` returns,
checked below). For every operation, schemathesis generates a small, deterministic set of
requests, valid and invalid, sends them with the bearer token, and checks that no answer is a 5xx
and that every answer's status, content type and body are the documented ones.

No request leaves 127.0.0.1: the API under test resolves every host name to 127.0.0.1 without
DNS and its SSRF policy refuses every address, so each generated subscription's challenge is
refused by the guard before any connection (the subscription stays pending, which is a valid
documented answer).
"""

from __future__ import annotations

import socket
import uuid

import pytest
import requests
import schemathesis
from aiohttp.abc import AbstractResolver
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from newsalert.adapters.http_guard import guarded_connector
from newsalert.domain.delivery.ssrf import AddressPolicy, Refusal
from newsalert.domain.rulefile import load_rule_text
from newsalert.services.api.routes import openapi_document

from .test_api import AUTH, RULES_YAML, LoopThread, Served, api_settings, start_api

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(300)]

schema = schemathesis.openapi.from_dict(openapi_document())

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


class RefuseEverything(AddressPolicy):
    """Test policy: no address at all may be connected to."""

    def refusal(self, address) -> Refusal | None:
        return Refusal(str(address), "outside this test's reach (the test refuses every address)")


class LoopbackResolver(AbstractResolver):
    """Resolves every name to 127.0.0.1 without asking DNS (the guard then refuses it anyway)."""

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET):
        return [{"hostname": host, "host": "127.0.0.1", "port": port, "family": socket.AF_INET, "proto": 0, "flags": 0}]

    async def close(self) -> None:
        return None


@pytest.fixture(scope="module")
def api_url(kafka_bootstrap: str) -> str:
    loop = LoopThread()
    app_settings = api_settings(kafka_bootstrap, f"t-{uuid.uuid4().hex[:8]}-", allow_private_targets=False)
    api: Served = start_api(
        loop, app_settings, load_rule_text(RULES_YAML),
        connector_factory=lambda: guarded_connector(app_settings, policy=RefuseEverything(), resolver=LoopbackResolver()),
    )
    yield api.url
    api.stop()
    loop.close()


def test_the_served_document_is_the_generated_one(api_url: str) -> None:
    assert requests.get(f"{api_url}/openapi.json", timeout=10).json() == openapi_document()


@schema.parametrize()
@settings(max_examples=12, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture])
def test_api_conforms_to_its_openapi_document(case, api_url: str) -> None:
    case.call_and_validate(base_url=api_url, headers=AUTH, checks=CHECKS, timeout=30)

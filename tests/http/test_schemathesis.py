"""Schemathesis over every operation of the OpenAPI document, against a real server: the status codes, headers,
content types and bodies it answers are the ones the document describes, none is a 500, and requests that break
the document (negative mode) are refused with a 4xx.

Bounded so that it stays well under a minute on 2 cores: a few examples per operation, derandomized (the same
cases on every run), no example database, no shrinking.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.http.server import Server, running_service
from tests.service.conftest import API_KEY

EXAMPLES = {GenerationMode.POSITIVE: 5, GenerationMode.NEGATIVE: 3}  # per operation
KEY = {"X-API-Key": API_KEY, "Authorization": f"Bearer {API_KEY}"}  # both schemes, both valid
BOUNDED = settings(
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


def failures_of(
    server: Server, operation: schemathesis.APIOperation, mode: GenerationMode = GenerationMode.POSITIVE
) -> list[str]:
    """What the checks found for one operation in one generation mode (empty when its answers match the document)."""
    found: list[str] = []

    # Every generated upload is random bytes, never a picture, so an image endpoint rightly answers 400 to
    # "schema-valid" bodies: JSON Schema cannot say "a PNG". Elsewhere a rejected valid request is a finding.
    takes_image = operation.body is not None and len(operation.body) > 0
    excluded = [positive_data_acceptance] if takes_image else []

    @settings(BOUNDED, max_examples=EXAMPLES[mode])
    @given(case=operation.as_strategy(mode))
    def check(case: schemathesis.Case) -> None:
        try:
            case.call_and_validate(base_url=server.url, headers=KEY, timeout=30, excluded_checks=excluded)
        except FailureGroup as failure:
            found.append(f"{operation.label}: {failure}")

    check()
    return found


def modes_of(operation: schemathesis.APIOperation) -> list[GenerationMode]:
    """Valid requests for every operation; invalid ones (expecting a 4xx) where there is something to get wrong."""
    has_inputs = any(len(group) > 0 for group in (operation.path_parameters, operation.query, operation.body))
    return [GenerationMode.POSITIVE, GenerationMode.NEGATIVE] if has_inputs else [GenerationMode.POSITIVE]


@pytest.mark.slow
def test_every_operation_answers_as_documented(model_store: Path, tmp_path: Path) -> None:
    # Keys on, so that the document's security requirements are checked (schemathesis also tries without a key).
    with running_service(model_store, tmp_path, api_keys=API_KEY) as server:
        schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        documented = httpx.get(server.url + "/openapi.json").json()["paths"]
        assert len(operations) == sum(len(methods) for methods in documented.values())  # every one, HEAD included
        failures = [
            failure
            for operation in operations
            for mode in modes_of(operation)
            for failure in failures_of(server, operation, mode)
        ]
    assert not failures, "\n\n".join(failures)

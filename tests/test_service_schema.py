"""The API against its own OpenAPI document, the probe issue 19 ran by hand, kept in the suite:
schemathesis generates requests for every operation of ``/openapi.json`` and sends them to a live
server (uvicorn, real HTTP, an API key set); no answer may be 5xx, and every answer must match the
schema. Requests both valid and invalid by the schema; bounded: 16 examples per operation, no shrinking."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from service_fixtures import Server

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is missing: pip install -e '.[test]'")
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error, response_schema_conformance  # noqa: E402

KEY = "schema-test-key-7f3e"
EXAMPLES = 16


def _operations() -> list[str]:
    """Every operation's label ('GET /v1/models'), from the app's own document (built, not served)."""
    from sepconv.service.http.app import create_app
    from sepconv.service.settings import Settings

    spec = create_app(Settings(data_dir="/nonexistent-never-started")).openapi()
    return [f"{method.upper()} {path}" for path, ops in spec["paths"].items() for method in ops]


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("schema") / "data", workers=1,
                 env={"SEPCONV_API_KEY": KEY, "SEPCONV_BODY_TIMEOUT_S": "5"}).start()
    yield srv, schemathesis.openapi.from_url(srv.url + "/openapi.json", headers={"X-API-Key": KEY})
    srv.stop()
    assert "Traceback" not in srv.log.read_text()


@pytest.mark.parametrize("label", _operations())
def test_no_5xx_and_answers_match_the_schema(api, label):
    srv, schema = api
    operation = schema.find_operation_by_label(label)
    assert operation is not None, f"{label} is in the app's document but not in the served one"

    @given(operation.as_strategy() | operation.as_strategy(GenerationMode.NEGATIVE))
    @settings(max_examples=EXAMPLES, deadline=None, phases=[Phase.explicit, Phase.generate], database=None,
              suppress_health_check=list(HealthCheck))
    def probe(case) -> None:
        case.call_and_validate(base_url=srv.url, headers={"X-API-Key": KEY},
                               checks=[not_a_server_error, response_schema_conformance])

    probe()

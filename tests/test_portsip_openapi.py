"""The PortSIP client and emulator held to PortSIP's OpenAPI v22 document:
every request a full deploy of the examples sends (first deploys, a change,
a redeploy) and every answer the emulator gives validate against it, with
the documented status codes (PLATFORMS.md §7).

The operations ivrflow uses are copied verbatim in tests/specs (see its
`x-ivrflow-source`); the full document, when it is beside the repository,
must hold the same."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from ivrflow.config import Environment
from ivrflow.deploy.http import Stats
from ivrflow.targets.portsip import target
from ivrflow.targets.portsip.emulator import PortSip, portsip_app

from .conftest import EXAMPLES, ROOT
from .flows import flow_of
from .servers import serve_app
from .test_portsip import FLOWS, environment

SPEC = ROOT / "tests" / "specs" / "portsip-openapi-v22-subset.json"
FULL = ROOT.parent / "shared" / "specs" / "portsip-openapi-v22-2025-05.json"


def _spec() -> dict[str, Any]:
    spec = json.loads(SPEC.read_text(encoding="utf-8"))
    # The document's sign-in answer is `oneOf` two objects that require nothing,
    # so every object matches both and no answer could validate: each branch
    # is made to require the key that tells them apart.
    one_of = spec["paths"]["/auth/sign_in"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    one_of["oneOf"][0]["required"] = ["two_factor_enabled", "token"]
    one_of["oneOf"][1]["required"] = ["access_token"]
    return spec


@pytest.fixture(scope="module")
def openapi() -> OpenAPI:
    # Uploads are `type: string, format: binary`; openapi-core checks the Python
    # type, so the raw bytes are handed over as a (latin-1) string.
    binary: dict[str, Callable[[bytes], Any]] = {"application/octet-stream": _latin1}
    return OpenAPI.from_dict(_spec(), config=Config(extra_media_type_deserializers=binary))


def _latin1(data: bytes, **_: Any) -> str:
    return data.decode("latin-1")


class Recorder(httpx.BaseTransport):
    """An httpx transport that keeps every request and its response."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.exchanges: list[tuple[httpx.Request, httpx.Response]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        response.read()
        self.exchanges.append((request, response))
        return response

    def close(self) -> None:
        self.inner.close()


def violations(openapi: OpenAPI, exchanges: list[tuple[httpx.Request, httpx.Response]]) -> list[str]:
    """What in these requests and responses the document does not allow
    (an operation it does not have, a body or parameter out of its schema,
    an undocumented status)."""
    found = []
    for request, response in exchanges:
        url = request.url
        mock = MockRequest(f"{url.scheme}://{url.netloc.decode()}", request.method.lower(), url.path,
                           args=dict(url.params), headers=dict(request.headers), data=request.content or None,
                           content_type=request.headers.get("content-type", ""))
        answer = MockResponse(response.content, status_code=response.status_code, headers=dict(response.headers),
                              content_type=response.headers.get("content-type", ""))
        where = f"{request.method} {url.path} → {response.status_code}"
        for what, validate, args in (("request", openapi.validate_request, (mock,)),
                                     ("response", openapi.validate_response, (mock, answer))):
            try:
                validate(*args)
            except Exception as error:  # openapi-core's errors have no common base worth naming
                schema_errors = getattr(error.__cause__, "schema_errors", None) or []
                detail = "; ".join(f"{'/'.join(map(str, e.absolute_path)) or 'body'}: {e.validator} "
                                   f"{str(e.validator_value)[:80]}" for e in schema_errors) or str(error)[:200]
                found.append(f"{where}: {what}: {type(error).__name__}: {detail}")
    return found


def _deploy(path: Path, env: Environment, recorder: Recorder) -> None:
    flow = flow_of(path)
    with target.api_for(env, http=httpx.Client(transport=recorder), stats=Stats()) as api:
        api.retry.update(sleep=lambda attempt: None)
        wanted, plan = target.plan(flow, str(path), env, api)
        assert [d for d in wanted.diagnostics if d.severity.name == "ERROR"] == []
        ids: dict[str, Any] = {}
        for change in plan.changes:
            target.apply(flow, str(path), change, api, ids)


@pytest.fixture
def pbx() -> Iterator[tuple[PortSip, str]]:
    state = PortSip()
    with serve_app(portsip_app(state)) as url:
        yield state, url + "/api"


def test_a_full_deploy_of_every_example_keeps_to_the_openapi_document(
        openapi: OpenAPI, pbx: tuple[PortSip, str], tmp_path: Path) -> None:
    state, url = pbx
    recorder = Recorder()
    env = environment(url, "https://ivr.example.com")
    for path in FLOWS:  # every example on one PBX, each deployed, then deployed again (reads only)
        _deploy(path, env, recorder)
        _deploy(path, env, recorder)
    changed = tmp_path / "quickstart.ivr"  # updates and deletes: another prompt, one key and one retry less
    source = (EXAMPLES / "quickstart.ivr").read_text().replace("Thanks for calling.", "Hello.")
    changed.write_text(source.replace('    press 2 -> transfer "102"\n', "").replace(
        "on timeout -> repeat", "retries 2\n    on timeout -> repeat"))
    _deploy(changed, env, recorder)
    operations = {(r.method, _operation(r.url.path)) for r, _ in recorder.exchanges}
    assert {("POST", "/files/{id}/destroy"), ("POST", "/ivrs/{id}/destroy"), ("POST", "/ivrs/{id}"),
            ("POST", "/blobs/uploads/{id}/append"), ("GET", "/ivrs/{id}/action_urls")} <= operations
    assert violations(openapi, recorder.exchanges) == []
    assert len(recorder.exchanges) > 300 and state.ivrs


def _operation(path: str) -> str:
    """/api/ivrs/0001/destroy → /ivrs/{id}/destroy."""
    parts = path.removeprefix("/api").split("/")
    names = iter(["{id}", "{url_id}"])
    return "/".join(next(names) if part.isdigit() else part for part in parts)


def test_sign_in_answers_keep_to_the_openapi_document(openapi: OpenAPI, pbx: tuple[PortSip, str]) -> None:
    state, url = pbx
    recorder = Recorder()
    with httpx.Client(transport=recorder) as http:
        for two_factor in (False, True):
            state.two_factor = two_factor
            for path in ("/login", "/auth/sign_in"):
                answer = http.post(url + path, json={"username": "demo", "password": "demo"})
                assert ("two_factor_enabled" in answer.json()) is two_factor
        http.post(url + "/login", json={"username": "demo", "password": "wrong"})
    assert violations(openapi, recorder.exchanges) == []


def test_a_request_out_of_the_document_is_caught(openapi: OpenAPI, pbx: tuple[PortSip, str]) -> None:
    """The check itself: an action URL of 200 characters (maxLength 128), an
    operation the document lacks and an undocumented status are reported."""
    _, url = pbx
    recorder = Recorder()
    with httpx.Client(transport=recorder) as http:
        token = http.post(url + "/login", json={"username": "demo", "password": "demo"}).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        ivr = http.post(url + "/ivrs", json={"name": "x", "extension_number": "123", "pin": "482916"}, headers=auth)
        http.post(f"{url}/ivrs/{ivr.json()['id']}/action_urls", headers=auth, json={
            "name": "u", "enabled": True, "type": "DTMF", "dtmf_mask": "1", "url": "https://a.example/" + "x" * 182})
        http.get(url + "/nowhere", headers=auth)
    destroy = httpx.Request("POST", url + "/files/1/destroy", headers=auth)  # as the emulator once answered
    found = violations(openapi, [*recorder.exchanges, (destroy, httpx.Response(200, request=destroy))])
    assert len(found) == 4, found
    assert "action_urls → 400: request" in found[0] and "url: maxLength 128" in found[0]
    assert "GET /api/nowhere → 404: request: PathNotFound" in found[1] and "/nowhere" in found[2]
    assert "POST /api/files/1/destroy → 200: response: ResponseNotFound" in found[3]


def test_the_copy_of_the_document_is_the_document() -> None:
    if not FULL.is_file():
        pytest.skip(f"{FULL} is not beside the repository")
    full = json.loads(FULL.read_text(encoding="utf-8"))
    ours = json.loads(SPEC.read_text(encoding="utf-8"))
    assert ours["paths"] == {p: full["paths"][p] for p in ours["paths"]}
    assert (ours["servers"], ours["security"], ours["openapi"]) == (full["servers"], full["security"],
                                                                    full["openapi"])
    assert ours["components"]["securitySchemes"] == full["components"]["securitySchemes"]


def test_a_deploy_of_the_second_edition_keeps_to_the_openapi_document(
        openapi: OpenAPI, pbx: tuple[PortSip, str], tmp_path: Path) -> None:
    """Receptionists per repeat and replay, one-key ranges and patterns as key
    rules, DTMF action URLs for ranges, patterns and the end key, a CALLER one
    for conditions (tests/test_portsip_second_edition.py runs calls on them)."""
    from .test_portsip_second_edition import SECOND

    state, url = pbx
    recorder = Recorder()
    path = tmp_path / "second.ivr"
    path.write_text(SECOND)
    _deploy(path, environment(url, "https://ivr.example.com"), recorder)
    assert violations(openapi, recorder.exchanges) == []
    bodies = [json.loads(r.content) for r, _ in recorder.exchanges
              if r.method == "POST" and r.url.path.endswith("/ivrs")]
    assert {rule["user_input"] for body in bodies for rule in body["custom_forward_rules"]} >= set("0123456789")
    names = {ivr["name"] for ivr in state.ivrs.values()}
    assert {"ivrflow:second:main#0", "ivrflow:second:main#2", "ivrflow:second:desk#1"} <= names

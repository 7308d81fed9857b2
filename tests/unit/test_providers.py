"""parse_webhook as a whole: telling providers apart, and never failing in an undocumented way."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.intake.providers import (
    IgnoredEvent,
    InvalidSignature,
    NormalizedDeployment,
    ProviderSecrets,
    UnsupportedPayload,
    parse_webhook,
)
from shared.errors import ChangewardError
from tests.fixtures.deployments import SAMPLES, document, github_signature, sample

DOCUMENTED = (InvalidSignature, UnsupportedPayload, IgnoredEvent)
SECRETS = ProviderSecrets(
    github_webhook_secret="gh-secret", gitlab_token="gl-token", argocd_token="argo-token"
)
REPORTING = ["github-deployment-status", "github-workflow-run", "gitlab-deployment"]
REPORTING += ["argocd-notification"]
PROVIDER_HEADERS = [
    {"X-GitHub-Event": "deployment_status"},
    {"X-GitHub-Event": "workflow_run"},
    {"X-GitHub-Event": "ping"},
    {"X-Gitlab-Event": "Deployment Hook"},
    {"X-Changeward-Source": "argocd"},
]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Content-Type": "application/json", "Authorization": "Bearer cw_token"},
        {"X-Changeward-Source": "jenkins"},
        {"X-Github-Delivery": "6c1f2e80", "User-Agent": "GitHub-Hookshot/9b3c1e7"},
    ],
)
def test_headers_naming_no_provider_leave_the_body_to_the_generic_format(
    headers: dict[str, str],
) -> None:
    assert parse_webhook(headers, b'{"service": "checkout"}', SECRETS) is None


@pytest.mark.parametrize("name", REPORTING)
def test_every_sample_is_read_whatever_the_header_case(name: str) -> None:
    delivery = sample(name, SECRETS)
    shouted = {key.upper(): value for key, value in delivery.headers.items()}
    whispered = {key.lower(): value for key, value in delivery.headers.items()}

    read = parse_webhook(delivery.headers, delivery.body, SECRETS)

    assert read is not None
    assert parse_webhook(shouted, delivery.body, SECRETS) == read
    assert parse_webhook(whispered, delivery.body, SECRETS) == read


@pytest.mark.parametrize("name", REPORTING)
@pytest.mark.parametrize(
    "body",
    [b"", b"{", b"[1, 2]", b'"deployment"', b"\xff\xfe\x00{", b"payload=%7B%7D", b"[" * 100_000],
)
def test_a_body_that_is_no_json_object_is_unsupported(name: str, body: bytes) -> None:
    headers = sample(name, SECRETS).headers
    if "X-Hub-Signature-256" in headers:
        headers = {**headers, "X-Hub-Signature-256": github_signature("gh-secret", body)}

    with pytest.raises(UnsupportedPayload) as raised:
        parse_webhook(headers, body, SECRETS)

    assert raised.value.extensions["errors"][0]["loc"] == ["body"]
    assert raised.value.status == 422


def test_a_form_encoded_github_delivery_says_how_to_fix_it() -> None:
    headers = {"X-GitHub-Event": "deployment_status"}

    with pytest.raises(UnsupportedPayload, match="content type"):
        parse_webhook(headers, b"payload=%7B%7D", ProviderSecrets())


def test_an_overlong_field_is_refused_by_name() -> None:
    body = copy.deepcopy(document("github-deployment-status"))
    body["deployment_status"]["target_url"] = "https://ci.example/" + "x" * 3000
    delivery = sample("github-deployment-status", SECRETS).with_body(body, SECRETS)

    with pytest.raises(UnsupportedPayload, match="deployment_status.target_url"):
        parse_webhook(delivery.headers, delivery.body, SECRETS)


def outcome(
    headers: dict[str, str], body: bytes, configured: ProviderSecrets
) -> NormalizedDeployment | ChangewardError | None:
    """The report, or the documented error raised; anything else propagates and fails."""
    try:
        return parse_webhook(headers, body, configured)
    except DOCUMENTED as error:
        return error


header_text = st.text(max_size=80)
secrets = st.sampled_from([ProviderSecrets(), SECRETS])


@settings(max_examples=300, deadline=None)
@given(
    provider=st.sampled_from(PROVIDER_HEADERS),
    body=st.binary(max_size=2048),
    extra=st.dictionaries(
        st.sampled_from(["X-Hub-Signature-256", "X-Gitlab-Token", "X-Changeward-Webhook-Token"]),
        header_text,
    ),
    configured=secrets,
)
def test_arbitrary_bytes_raise_only_the_documented_errors(
    provider: dict[str, str], body: bytes, extra: dict[str, str], configured: ProviderSecrets
) -> None:
    result = outcome({**provider, **extra}, body, configured)

    assert isinstance(result, (NormalizedDeployment, *DOCUMENTED))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3)
    ),
    max_leaves=8,
)


def _paths(node: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    found: list[tuple[str | int, ...]] = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, child in node.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            found += _paths(child, (*prefix, index))
    return found


BODIES = {name: document(SAMPLES[name][0]) for name in REPORTING}
PATHS = {name: _paths(body) for name, body in BODIES.items()}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), name=st.sampled_from(REPORTING))
def test_mangled_samples_raise_only_the_documented_errors(data: st.DataObject, name: str) -> None:
    body = copy.deepcopy(BODIES[name])
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        path = data.draw(st.sampled_from(PATHS[name]))
        parent: Any = body
        try:
            for key in path[:-1]:
                parent = parent[key]
            if data.draw(st.booleans()):
                parent[path[-1]] = data.draw(json_values)
            else:
                del parent[path[-1]]
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or reshaped this path
    delivery = sample(name, SECRETS).with_body(body, SECRETS)

    result = outcome(delivery.headers, delivery.body, SECRETS)

    assert isinstance(result, (NormalizedDeployment, *DOCUMENTED))
    if isinstance(result, NormalizedDeployment):
        assert result.service.strip()
        assert result.environment.strip()


@settings(max_examples=200, deadline=None)
@given(signature=header_text, body=st.binary(max_size=256))
def test_no_guessed_signature_passes(signature: str, body: bytes) -> None:
    headers = {"X-GitHub-Event": "deployment_status", "X-Hub-Signature-256": signature}

    with pytest.raises(InvalidSignature):
        parse_webhook(headers, body, SECRETS)


def test_the_documented_errors_carry_their_status_and_code() -> None:
    assert (InvalidSignature.status, InvalidSignature.code) == (401, "invalid-webhook-signature")
    assert (UnsupportedPayload.status, UnsupportedPayload.code) == (
        422,
        "unsupported-webhook-payload",
    )
    assert (IgnoredEvent.status, IgnoredEvent.code) == (202, "webhook-ignored")
    assert json.dumps(UnsupportedPayload("x", errors=[{"loc": ["body"]}]).extensions)

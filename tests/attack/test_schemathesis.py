"""Schemathesis against /api/openapi.json on a running server, with a valid bearer token.

Every operation of the document is called with data generated from its own schemas
(valid and invalid), about 25 examples each. No answer may be a 5xx, and every answer
must conform to the document: a documented status, a documented content type, a body
matching the response schema. Half of the generated conversation and user ids are
swapped for real ones, so that sends, fetches, reads and conversation starts succeed
with generated content, cursors, expirations and limits instead of stopping at 404.

(Schemathesis is driven through its Python API, operation by operation: its pytest
loader `schemathesis.pytest.from_fixture` fails on pytest 9, which removed
`Node._nodeid`, as of schemathesis 4.32.5.)
"""

import traceback
import zlib
from typing import Any

import pytest
import schemathesis
from attack_support import Server
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = [pytest.mark.server, pytest.mark.xdist_group("attack")]

EXAMPLES = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


@pytest.fixture(scope="module")
def fuzzed(module_launcher: Any) -> dict[str, Any]:
    """The server under fuzzing, with the fuzzing user, a partner and their conversation."""
    env = module_launcher.environment(
        "schemathesis", RATELIMIT_ENABLED="true", SEND_RATE_LIMIT="100000 per minute", INITIAL_POINTS="500"
    )
    server = module_launcher.start(env, "schemathesis", workers=2)
    me, partner = server.account("fuzzer"), server.account("partner")
    chat = server.conversation(me, partner)
    server.sent(partner, chat, "something to read")
    return {"server": server, "me": me, "partner": partner, "chat": chat, "calls": [0]}


def load_schema(server: Server) -> Any:
    loaded = schemathesis.openapi.from_url(server.url + "/api/openapi.json", timeout=server.timeout)
    loaded.config.update(base_url=server.url, request_timeout=server.timeout)
    return loaded


def with_real_ids(case: Any, fuzzed: dict[str, Any]) -> None:
    """Swap generated ids for real ones in about half of the cases (chosen by the case's own data);
    in a quarter, a send reuses one clientMessageId and content, so retries (200) are fuzzed too."""
    draw = zlib.crc32(repr((case.body, case.query)).encode())
    if draw % 2:
        return
    real = {"conversationId": fuzzed["chat"], "receiverId": fuzzed["partner"].id}
    for container in (case.body, case.query):
        if isinstance(container, dict):
            for name, value in real.items():
                if name in container:
                    container[name] = value
    if isinstance(case.body, dict) and "clientMessageId" in case.body and draw % 4 == 0:
        case.body.update(clientMessageId="fuzz-replay", content="the same message, sent again")


def fuzz(operation: Any, mode: GenerationMode, fuzzed: dict[str, Any]) -> None:
    """Call one operation with EXAMPLES generated cases; the first failing check raises."""
    server: Server = fuzzed["server"]

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        token = fuzzed["me"].token
        if operation.path == "/api/auth/logout":  # a token of its own each time, so the rest keep theirs
            token = server.logged_in(fuzzed["me"].username).token
        if mode is GenerationMode.POSITIVE:  # invalid cases stay invalid
            with_real_ids(case, fuzzed)
        fuzzed["calls"][0] += 1
        case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)

    run()


@pytest.mark.budget(120)
def test_every_operation_answers_without_5xx_and_as_documented(fuzzed: dict[str, Any]) -> None:
    loaded = load_schema(fuzzed["server"])
    operations = [result.ok() for result in loaded.get_all_operations()]
    assert len(operations) >= 12, [op.label for op in operations]
    failures = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                fuzz(operation, mode, fuzzed)
            except Unsatisfiable:  # no input at all (GET /healthz): nothing can be made invalid
                assert mode is GenerationMode.NEGATIVE, operation.label
            except (Exception, BaseExceptionGroup) as error:
                # Schemathesis raises a FailureGroup (a BaseExceptionGroup); all operations are reported
                detail = "".join(traceback.format_exception_only(error))
                for sub in getattr(error, "exceptions", ()):
                    detail += "".join(traceback.format_exception_only(sub))
                failures.append(f"{operation.label} ({mode.value}): {detail}")
    assert not failures, "\n\n".join(failures)
    assert fuzzed["calls"][0] >= 10 * len(operations), fuzzed["calls"]  # the fuzzing really ran
    server: Server = fuzzed["server"]
    server.books.check()
    server.assert_clean_log()
    print(f"schemathesis made {fuzzed['calls'][0]} calls over {len(operations)} operations")

"""Ten thousand messages through ``AsyncNotifier.send_many`` and Eskiz's batch endpoint.

The simulator accepts at most 500 messages per ``send-batch`` request, as
Eskiz's own clients assume, so the provider must chunk. The whole run must
cost one login and twenty batch requests.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from notifier import AsyncNotifier, SendResult, Sms, count_segments, instant_retries
from notifier._plugins import new_plugin_manager
from notifier_eskiz import EskizProvider
from notifier_eskiz.simulator import EskizSimulator
from tests._audit import LeakAudit

MESSAGES = 10_000
BATCH_LIMIT = 500
MAX_REQUESTS = 25  # the bound checked; the expected count is 1 login and 20 batches

BODIES = (
    "Hurmatli mijoz, aksiya: bugun barcha mahsulotlarga 20% chegirma!",
    "Ҳурматли мижоз, акция: бугун барча маҳсулотларга 20% чегирма!",
)


@pytest.fixture
def sim(leak_audit: LeakAudit) -> Iterator[EskizSimulator]:
    # Messages stay where they are: nothing moves or posts callbacks during the run.
    with EskizSimulator(batch_limit=BATCH_LIMIT, auto_progress=False, seed=10) as simulator:
        leak_audit.secret(simulator.password)
        yield simulator


@pytest.mark.slow
async def test_bulk_10k_in_twenty_batches(sim: EskizSimulator) -> None:
    messages = [
        Sms(f"+99890{index:07}", BODIES[index % 2], client_ref=f"bulk-{index:05}")
        for index in range(MESSAGES)
    ]
    provider = EskizProvider(email=sim.email, password=sim.password, base_url=sim.base_url)

    with instant_retries() as waits:
        async with AsyncNotifier(provider, plugins=new_plugin_manager()) as notifier:
            outcomes = await notifier.send_many(messages)

    assert waits == [], "the run needed retries"
    failures = [outcome for outcome in outcomes if not isinstance(outcome, SendResult)]
    assert failures == [], failures[:3]
    results = [outcome for outcome in outcomes if isinstance(outcome, SendResult)]
    assert [result.client_ref for result in results] == [message.client_ref for message in messages]
    assert {result.provider for result in results} == {"eskiz"}
    expected = {body: count_segments(body) for body in BODIES}
    wrong_segments = [
        result.client_ref
        for message, result in zip(messages, results, strict=True)
        if (result.segments, result.encoding)
        != (expected[message.body].parts, expected[message.body].encoding)
    ]
    assert wrong_segments == []

    requests = sim.stats.requests
    assert sum(requests.values()) <= MAX_REQUESTS, dict(requests)
    assert requests["/auth/login"] == 1
    assert requests["/message/sms/send-batch"] == MESSAGES // BATCH_LIMIT
    assert sim.stats.rejected_sends == 0
    assert sim.stats.sends == MESSAGES

    stored = sim.messages
    assert len(stored) == MESSAGES
    assert {message.user_sms_id for message in stored} == {m.client_ref for m in messages}
    per_request = Counter(message.request_id for message in stored)
    assert sorted(per_request.values()) == [BATCH_LIMIT] * (MESSAGES // BATCH_LIMIT)
    assert {result.message_id for result in results} == set(per_request)

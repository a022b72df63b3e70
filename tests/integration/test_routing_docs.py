"""The examples of docs/routing.md, run against the Eskiz and Twilio simulators.

The page builds its providers with placeholder credentials. Here the two
provider classes are replaced, for the duration of a test, by subclasses
that always point at the test's simulators, so no example can reach a
real vendor. Each Python block runs in one namespace shared with the blocks
before it, as a reader would paste them.
"""

from __future__ import annotations

import ast
import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import notifier_eskiz
import notifier_twilio
from notifier import AsyncNotifier, ByCountry, ConfigurationError, Sms, instant_retries
from notifier_eskiz import EskizProvider
from notifier_eskiz.simulator import EskizSimulator
from notifier_twilio import TwilioProvider
from notifier_twilio.simulator import TwilioSimulator

PAGE = Path(__file__).resolve().parents[2] / "docs" / "routing.md"
_BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.DOTALL)

UZ_NUMBER = "+998900000001"
GB_NUMBER = "+447400123456"


def _blocks(language: str) -> list[str]:
    return [code for lang, code in _BLOCK.findall(PAGE.read_text("utf-8")) if lang == language]


def _block(marker: str) -> str:
    """Return the one Python block of the page that contains ``marker``."""
    found = [code for code in _blocks("python") if marker in code]
    assert len(found) == 1, f"expected one Python block with {marker!r}, found {len(found)}"
    return found[0]


def _env_block(marker: str) -> dict[str, str]:
    """Return the variables of the one shell block that contains ``marker``."""
    found = [code for code in _blocks("sh") if marker in code]
    assert len(found) == 1, f"expected one shell block with {marker!r}, found {len(found)}"
    variables = {}
    for line in found[0].splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, value = line.partition("=")
            variables[name] = value
    return variables


async def _run(code: str, namespace: dict[str, Any]) -> None:
    """Run a block, top-level ``await`` and ``async with`` included."""
    compiled = compile(code, str(PAGE), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(compiled, namespace)  # noqa: S307 - the page's own examples
    if asyncio.iscoroutine(result):
        await result


@pytest.fixture
def simulators(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[EskizSimulator, TwilioSimulator]]:
    """Both simulators, with the page's provider classes bound to them."""
    with EskizSimulator() as eskiz_sim, TwilioSimulator(auto_progress=False) as twilio_sim:

        class SimulatedEskiz(EskizProvider):
            def __init__(self, **options: Any) -> None:
                options.update(
                    email=eskiz_sim.email, password=eskiz_sim.password, base_url=eskiz_sim.base_url
                )
                super().__init__(**options)

        class SimulatedTwilio(TwilioProvider):
            def __init__(self, **options: Any) -> None:
                options.update(
                    account_sid=twilio_sim.account_sid,
                    auth_token=twilio_sim.auth_token,
                    base_url=twilio_sim.base_url,
                )
                super().__init__(**options)

        monkeypatch.setattr(notifier_eskiz, "EskizProvider", SimulatedEskiz)
        monkeypatch.setattr(notifier_twilio, "TwilioProvider", SimulatedTwilio)
        yield eskiz_sim, twilio_sim


@pytest.fixture
async def page() -> dict[str, Any]:
    """A namespace with the page's two providers, built by its first block."""
    namespace: dict[str, Any] = {}
    await _run(_block('eskiz = EskizProvider(email="shop@example.uz"'), namespace)
    return namespace


def _sent_to(sim: EskizSimulator | TwilioSimulator) -> list[str]:
    if isinstance(sim, EskizSimulator):
        return [message.to for message in sim.messages]
    return [message.to for message in sim.messages.values()]


async def test_country_routing(
    simulators: tuple[EskizSimulator, TwilioSimulator], page: dict[str, Any]
) -> None:
    eskiz_sim, twilio_sim = simulators

    await _run(_block('policy = ByCountry({"UZ": eskiz}, default=twilio)'), page)

    assert _sent_to(eskiz_sim) == [UZ_NUMBER[1:]]
    assert _sent_to(twilio_sim) == [GB_NUMBER]


async def test_prefix_rule(
    simulators: tuple[EskizSimulator, TwilioSimulator], page: dict[str, Any]
) -> None:
    await _run(_block('policy = ByCountry({"UZ": eskiz}, default=twilio)'), page)
    code = _block('prefixes={"+99833": twilio}')
    await _run(f"routed = {code.strip()}", page)
    policy = page["routed"]

    assert policy.route_for(Sms("+998331234567", "Salom")) is page["twilio"]
    assert policy.route_for(Sms(UZ_NUMBER, "Salom")) is page["eskiz"]


async def test_shipped_eskiz_covers_every_region(
    simulators: tuple[EskizSimulator, TwilioSimulator], page: dict[str, Any]
) -> None:
    eskiz_sim, _ = simulators
    assert page["eskiz"].capabilities.countries is None

    async with AsyncNotifier(ByCountry({"GB": page["eskiz"]})) as notifier:
        await notifier.send(Sms(GB_NUMBER, "Your order has been received."))

    assert _sent_to(eskiz_sim) == [GB_NUMBER[1:]]


async def test_uzbek_eskiz_subclass(
    simulators: tuple[EskizSimulator, TwilioSimulator], page: dict[str, Any]
) -> None:
    eskiz_sim, twilio_sim = simulators
    await _run(_block("class UzbekEskiz"), page)
    await _run(_block("breaker=lambda provider: CircuitBreaker("), page)
    await _run(_block("policy = Failover([eskiz_uz, twilio])"), page)

    with pytest.raises(ConfigurationError, match="does not deliver there"):
        ByCountry({"GB": page["eskiz_uz"]})
    async with AsyncNotifier(page["policy"]) as notifier:
        foreign = await notifier.send(Sms(GB_NUMBER, "Your order has been received."))
        uzbek = await notifier.send(Sms(UZ_NUMBER, "Buyurtmangiz qabul qilindi."))

    assert [attempt.provider for attempt in foreign.attempts] == ["twilio"]
    assert [attempt.provider for attempt in uzbek.attempts] == ["eskiz"]
    assert _sent_to(eskiz_sim) == [UZ_NUMBER[1:]]
    assert _sent_to(twilio_sim) == [GB_NUMBER]


async def test_failover_with_breakers(
    simulators: tuple[EskizSimulator, TwilioSimulator], page: dict[str, Any]
) -> None:
    eskiz_sim, twilio_sim = simulators
    await _run(_block("breaker=lambda provider: CircuitBreaker("), page)
    eskiz_sim.fail_next(503, times=3, path="/message/sms/send")

    with instant_retries():
        async with AsyncNotifier(page["policy"]) as notifier:
            result = await notifier.send(Sms(UZ_NUMBER, "Buyurtmangiz qabul qilindi."))

    assert [attempt.provider for attempt in result.attempts] == ["eskiz", "twilio"]
    assert _sent_to(twilio_sim) == [UZ_NUMBER]


async def test_weighted_examples(
    simulators: tuple[EskizSimulator, TwilioSimulator], page: dict[str, Any]
) -> None:
    eskiz_sim, twilio_sim = simulators
    await _run(_block("policy = Weighted({eskiz: 90, twilio: 10})  #"), page)
    assert page["policy"].name == "weighted(eskiz:90,twilio:10)"
    await _run(_block("policy = Failover([Weighted("), page)

    async with AsyncNotifier(page["policy"]) as notifier:
        for number in range(20):
            await notifier.send(Sms(f"+9989000001{number:02d}", "Salom"))

    assert len(_sent_to(eskiz_sim)) + len(_sent_to(twilio_sim)) == 20


async def test_attempts_example(
    simulators: tuple[EskizSimulator, TwilioSimulator],
    page: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    eskiz_sim, twilio_sim = simulators
    eskiz_sim.fail_next(503, times=3, path="/message/sms/send")
    twilio_sim.fail_next(503, times=3)
    await _run(_block("from notifier import ByCountry, CircuitBreaker, Failover"), page)

    # The example continues a session: it runs inside an open notifier.
    with instant_retries():
        async with AsyncNotifier(page["policy"]) as notifier:
            page["notifier"] = notifier
            await _run(_block("error.provider_attempts"), page)

    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in lines] == [
        ["eskiz", "ProviderUnavailable"],
        ["twilio", "ProviderUnavailable"],
    ]


async def test_env_failover_sends_foreign_numbers_to_eskiz(
    simulators: tuple[EskizSimulator, TwilioSimulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    eskiz_sim, twilio_sim = simulators
    _set_vendor_env(monkeypatch, eskiz_sim, twilio_sim)
    for name, value in _env_block("NOTIFIER_ROUTING=failover").items():
        monkeypatch.setenv(name, value)

    async with AsyncNotifier.from_env(env_file=None) as notifier:
        result = await notifier.send(Sms(GB_NUMBER, "Your order has been received."))

    assert [attempt.provider for attempt in result.attempts] == ["eskiz"]
    assert _sent_to(eskiz_sim) == [GB_NUMBER[1:]]
    assert _sent_to(twilio_sim) == []


async def test_env_by_country(
    simulators: tuple[EskizSimulator, TwilioSimulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    eskiz_sim, twilio_sim = simulators
    _set_vendor_env(monkeypatch, eskiz_sim, twilio_sim)
    for name, value in _env_block("NOTIFIER_ROUTING=by-country").items():
        monkeypatch.setenv(name, value)

    async with AsyncNotifier.from_env(env_file=None) as notifier:
        await notifier.send(Sms(UZ_NUMBER, "Buyurtmangiz qabul qilindi."))
        await notifier.send(Sms(GB_NUMBER, "Your order has been received."))

    assert _sent_to(eskiz_sim) == [UZ_NUMBER[1:]]
    assert _sent_to(twilio_sim) == [GB_NUMBER]


async def test_env_weighted(
    simulators: tuple[EskizSimulator, TwilioSimulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    eskiz_sim, twilio_sim = simulators
    _set_vendor_env(monkeypatch, eskiz_sim, twilio_sim)
    for name, value in _env_block("NOTIFIER_ROUTING=weighted").items():
        monkeypatch.setenv(name, value)

    async with AsyncNotifier.from_env(env_file=None) as notifier:
        result = await notifier.send(Sms(UZ_NUMBER, "Salom"))

    assert result.provider in ("eskiz", "twilio")


def test_env_error_text_matches(monkeypatch: pytest.MonkeyPatch) -> None:
    (documented,) = [
        line for line in _blocks("text") if "NOTIFIER_ROUTING_WEIGHTS='eskiz:90,twilio:x'" in line
    ]
    monkeypatch.setenv("NOTIFIER_PROVIDER", "eskiz,twilio")
    monkeypatch.setenv("NOTIFIER_ROUTING", "weighted")
    monkeypatch.setenv("NOTIFIER_ROUTING_WEIGHTS", "eskiz:90,twilio:x")
    # Loopback base URLs on a port nothing listens on: no request is expected,
    # and none could leave the machine.
    monkeypatch.setenv("ESKIZ_EMAIL", "shop@example.uz")
    monkeypatch.setenv("ESKIZ_PASSWORD", "placeholder")
    monkeypatch.setenv("ESKIZ_BASE_URL", "http://127.0.0.1:9/api")
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC" + "0" * 32)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "placeholder")
    monkeypatch.setenv("TWILIO_BASE_URL", "http://127.0.0.1:9")

    with pytest.raises(ConfigurationError) as caught:
        AsyncNotifier.from_env(env_file=None)

    assert documented.strip() in str(caught.value)


def _set_vendor_env(
    monkeypatch: pytest.MonkeyPatch, eskiz_sim: EskizSimulator, twilio_sim: TwilioSimulator
) -> None:
    monkeypatch.setenv("ESKIZ_EMAIL", eskiz_sim.email)
    monkeypatch.setenv("ESKIZ_PASSWORD", eskiz_sim.password)
    monkeypatch.setenv("ESKIZ_BASE_URL", eskiz_sim.base_url)
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", twilio_sim.account_sid)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", twilio_sim.auth_token)
    monkeypatch.setenv("TWILIO_SENDER", twilio_sim.sender)
    monkeypatch.setenv("TWILIO_BASE_URL", twilio_sim.base_url)

"""The delivery-report examples: FastAPI mount, and the Django view's shared core.

Django is not installed, so the Django example is tested through the module
its view calls (``reports.py``), with a stand-in for ``HttpRequest``.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import logging
import pathlib
import sys
from collections.abc import AsyncIterator, Iterator, Mapping
from types import ModuleType
from urllib.parse import urlencode

import httpx
import pytest

from notifier import ConfigurationError, DeliveryReport, DeliveryStatus
from notifier_eskiz import EskizProvider, parse_delivery_report

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"
SECRET = "example-Receiver-Secret-0123456789"
BASE = "http://127.0.0.1"


def eskiz_callback(status: str = "DELIVRD", *, user_sms_id: str = "order-1042") -> dict[str, str]:
    """Return a callback body in the shape Eskiz posts, all values strings."""
    return {
        "request_id": "b6a7d6b2-1c55-4c59-9a6b-4c3f4d2f0e11",
        "message_id": "4385062",
        "user_sms_id": user_sms_id,
        "country": "UZ",
        "phone_number": "998900000042",
        "sms_count": "1",
        "status": status,
        "status_date": "2024-05-01 15:30:00",
    }


def load_module(name: str, path: pathlib.Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
async def eskiz() -> AsyncIterator[EskizProvider]:
    # Parsing a callback needs no connection; the loopback base URL makes
    # sure nothing could reach a real service.
    provider = EskizProvider(
        email="receiver@example.invalid", password="not-used", base_url="http://127.0.0.1:9"
    )
    yield provider
    await provider.aclose()


# -- FastAPI ---------------------------------------------------------------------


@pytest.fixture
def fastapi_example() -> Iterator[ModuleType]:
    yield load_module("fastapi_receiver_example", EXAMPLES / "fastapi_receiver.py")
    sys.modules.pop("fastapi_receiver_example", None)


async def test_fastapi_example_receives_callback(
    fastapi_example: ModuleType, eskiz: EskizProvider, caplog: pytest.LogCaptureFixture
) -> None:
    app = fastapi_example.create_app(eskiz, secret=SECRET)
    receiver = app.state.receiver
    transport = httpx.ASGITransport(app=app)

    with caplog.at_level(logging.INFO, logger="delivery_reports_example"):
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
            response = await http.post(
                "/delivery-reports/eskiz", params={"secret": SECRET}, json=eskiz_callback()
            )
            await receiver.drain()
            latest = await http.get("/orders/order-1042/delivery")
            missing = await http.get("/orders/order-9999/delivery")

    assert response.status_code == 200
    assert latest.status_code == 200
    assert latest.json() == {
        "status": "delivered",
        "provider_status": "DELIVRD",
        "occurred_at": "2024-05-01T15:30:00+05:00",
    }
    assert missing.status_code == 404
    messages = [record.getMessage() for record in caplog.records]
    assert messages == ["Message order-1042 to +998*****0042 is delivered (DELIVRD)"]


async def test_fastapi_example_rejects_wrong_secret(
    fastapi_example: ModuleType, eskiz: EskizProvider
) -> None:
    app = fastapi_example.create_app(eskiz, secret=SECRET)
    transport = httpx.ASGITransport(app=app)

    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        response = await http.post(
            "/delivery-reports/eskiz", params={"secret": "guess"}, json=eskiz_callback()
        )

    assert response.status_code == 403


async def test_fastapi_example_callback_url_reaches_mount(
    fastapi_example: ModuleType, eskiz: EskizProvider
) -> None:
    app = fastapi_example.create_app(eskiz, secret=SECRET)
    receiver = app.state.receiver
    url = receiver.callback_url(f"{BASE}{fastapi_example.MOUNT_PATH}")
    transport = httpx.ASGITransport(app=app)

    async with httpx.AsyncClient(transport=transport) as http:
        response = await http.post(url, data=eskiz_callback())
    await receiver.drain()

    assert response.status_code == 200
    assert await receiver.store.latest("eskiz", client_ref="order-1042") is not None


def test_fastapi_example_needs_secret(
    fastapi_example: ModuleType, eskiz: EskizProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOTIFIER_RECEIVER_SECRET", raising=False)

    with pytest.raises(ConfigurationError, match="NOTIFIER_RECEIVER_SECRET is not set"):
        fastapi_example.create_app(eskiz)


def test_fastapi_example_secret_from_environment(
    fastapi_example: ModuleType, eskiz: EskizProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFIER_RECEIVER_SECRET", SECRET)

    app = fastapi_example.create_app(eskiz)

    assert app.state.receiver.callback_url(BASE).endswith(f"secret={SECRET}")


def test_access_log_filter_drops_query(fastapi_example: ModuleType) -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:50000", "POST", f"/delivery-reports/eskiz?secret={SECRET}", "1.1", 200),
        None,
    )

    assert fastapi_example.DropQueryString().filter(record)
    assert record.getMessage() == '127.0.0.1:50000 - "POST /delivery-reports/eskiz HTTP/1.1" 200'


# -- Django, without Django ---------------------------------------------------------


class QueryDict:
    def __init__(self, values: Mapping[str, list[str]]) -> None:
        self._values = values

    def getlist(self, key: str) -> list[str]:
        return list(self._values.get(key, []))


class FakeDjangoRequest:
    """The attributes of Django's HttpRequest that the example view reads."""

    def __init__(
        self,
        body: bytes,
        *,
        secret: list[str],
        method: str = "POST",
        content_type: str = "application/json",
    ) -> None:
        self.method = method
        self.GET = QueryDict({"secret": secret})
        self.body = body
        self.headers = {"Content-Type": content_type, "Host": "127.0.0.1:8000"}
        self.META: dict[str, object] = {"REMOTE_ADDR": "127.0.0.1"}
        self._url = "http://127.0.0.1:8000/delivery-reports/eskiz?secret=" + "&".join(secret)

    def build_absolute_uri(self) -> str:
        return self._url


@pytest.fixture
def django_reports() -> Iterator[ModuleType]:
    yield load_module("django_receiver_reports", EXAMPLES / "django_receiver" / "reports.py")
    sys.modules.pop("django_receiver_reports", None)


async def test_django_core_records_report(django_reports: ModuleType, eskiz: EskizProvider) -> None:
    seen: list[DeliveryReport] = []
    receiver = django_reports.build_receiver(eskiz, secret=SECRET, on_report=seen.append)
    body = json.dumps(eskiz_callback()).encode()

    first = await django_reports.handle_request(
        receiver, FakeDjangoRequest(body, secret=[SECRET]), "eskiz"
    )
    again = await django_reports.handle_request(
        receiver, FakeDjangoRequest(body, secret=[SECRET]), "eskiz"
    )

    assert first.status_code == 200
    assert again.status_code == 200
    # The view waits for processing, so the report is recorded on return.
    assert receiver.pending == 0
    assert [report.status for report in seen] == [DeliveryStatus.DELIVERED]
    assert seen[0].client_ref == "order-1042"


async def test_django_core_form_body(django_reports: ModuleType, eskiz: EskizProvider) -> None:
    seen: list[DeliveryReport] = []
    receiver = django_reports.build_receiver(eskiz, secret=SECRET, on_report=seen.append)
    body = urlencode(eskiz_callback()).encode()

    response = await django_reports.handle_request(
        receiver,
        FakeDjangoRequest(body, secret=[SECRET], content_type="application/x-www-form-urlencoded"),
        "eskiz",
    )

    assert response.status_code == 200
    assert [report.provider_status for report in seen] == ["DELIVRD"]


@pytest.mark.parametrize(
    ("secret", "method", "route", "status"),
    [
        ([], "POST", "eskiz", 403),
        (["guess"], "POST", "eskiz", 403),
        ([SECRET, SECRET], "POST", "eskiz", 403),
        ([SECRET], "GET", "eskiz", 405),
        ([SECRET], "POST", "twilio", 404),
    ],
    ids=["no-secret", "wrong-secret", "two-secrets", "get", "unknown-provider"],
)
async def test_django_core_rejections(
    django_reports: ModuleType,
    eskiz: EskizProvider,
    secret: list[str],
    method: str,
    route: str,
    status: int,
) -> None:
    seen: list[DeliveryReport] = []
    receiver = django_reports.build_receiver(eskiz, secret=SECRET, on_report=seen.append)
    request = FakeDjangoRequest(json.dumps(eskiz_callback()).encode(), secret=secret, method=method)

    response = await django_reports.handle_request(receiver, request, route)

    assert response.status_code == status
    assert seen == []


def test_django_core_needs_secret(
    django_reports: ModuleType, eskiz: EskizProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOTIFIER_RECEIVER_SECRET", raising=False)

    with pytest.raises(ConfigurationError, match="NOTIFIER_RECEIVER_SECRET is not set"):
        django_reports.build_receiver(eskiz)


def test_django_default_callback_logs_masked(
    django_reports: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    report = parse_delivery_report(json.dumps(eskiz_callback()).encode(), "application/json")[0]

    with caplog.at_level(logging.INFO, logger="delivery_reports_example"):
        django_reports.log_report(report)

    assert [record.getMessage() for record in caplog.records] == [
        "Message order-1042 to +998*****0042 is delivered (DELIVRD)"
    ]


@pytest.mark.parametrize("name", ["__init__.py", "views.py", "urls.py", "reports.py"])
def test_django_files_compile(name: str) -> None:
    source = (EXAMPLES / "django_receiver" / name).read_text(encoding="utf-8")

    compile(source, name, "exec")


def test_django_only_in_django_files() -> None:
    # reports.py and the package must stay importable without Django.
    for name in ["__init__.py", "reports.py"]:
        tree = ast.parse((EXAMPLES / "django_receiver" / name).read_text(encoding="utf-8"))
        modules = {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        }
        modules |= {
            node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
        }
        assert not any(module.startswith("django") for module in modules), name


def test_django_view_uses_shared_core() -> None:
    tree = ast.parse((EXAMPLES / "django_receiver" / "views.py").read_text(encoding="utf-8"))
    calls = {
        node.func.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }

    assert {"build_receiver", "handle_request"} <= calls

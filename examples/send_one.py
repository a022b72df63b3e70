"""Send one SMS with the async API and one with the blocking API.

Both go through the real Eskiz provider to a local Eskiz simulator that this
script starts on 127.0.0.1, so it runs from a fresh clone and sends nothing
out of the machine::

    uv run python examples/send_one.py

In an application, build the provider from the environment instead
(``ESKIZ_EMAIL``, ``ESKIZ_PASSWORD``, optional ``ESKIZ_SENDER``)::

    provider = EskizProvider.from_env()

or let ``Notifier.from_env()`` / ``AsyncNotifier.from_env()`` pick the
provider named in ``NOTIFIER_PROVIDER``.
"""

from __future__ import annotations

import asyncio

from notifier import AsyncNotifier, DeliveryUnknown, Notifier, NotifierError, SendResult, Sms
from notifier_eskiz import EskizProvider
from notifier_eskiz.simulator import EskizSimulator


def show(result: SendResult) -> None:
    print(
        f"{result.provider}: {result.status.value}, id {result.message_id}, "
        f"{result.segments} part(s) in {result.encoding.value}, client_ref {result.client_ref}"
    )


async def send_async(simulator: EskizSimulator) -> None:
    provider = EskizProvider(
        email=simulator.email, password=simulator.password, base_url=simulator.base_url
    )
    async with AsyncNotifier(provider) as notifier:
        message = Sms("+998900000012", "Tasdiqlash kodi: 4512. Uni hech kimga aytmang.")
        show(await notifier.send(message))


def send_blocking(simulator: EskizSimulator) -> None:
    provider = EskizProvider(
        email=simulator.email, password=simulator.password, base_url=simulator.base_url
    )
    # The blocking facade runs the same async code on a private event-loop
    # thread, so Django, Flask, scripts and worker threads can use it.
    with Notifier(provider) as notifier:
        # A national number is read with the default region, UZ.
        message = Sms("90 000 00 13", "Буюртмангиз #48213 йўлга чиқди. Курьер эртага келади.")
        try:
            show(notifier.send(message))
        except DeliveryUnknown as error:
            # The request may have reached Eskiz. Check the status by client_ref
            # before sending again, or the recipient gets the message twice.
            print(f"unknown outcome for {error.client_ref}: {error}")
        except NotifierError as error:
            print(f"not sent: {type(error).__name__}: {error}")


def main() -> None:
    with EskizSimulator() as simulator:
        asyncio.run(send_async(simulator))
        send_blocking(simulator)


if __name__ == "__main__":
    main()

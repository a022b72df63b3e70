"""The curated public surface of notifier_twilio and its simulator."""

from __future__ import annotations

import importlib
import types

import pytest


@pytest.mark.parametrize("module_name", ["notifier_twilio", "notifier_twilio.simulator"])
def test_all_lists_every_public_name(module_name: str) -> None:
    module = importlib.import_module(module_name)
    defined_here = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and str(getattr(value, "__module__", "")).startswith("notifier_twilio")
    }

    assert defined_here <= set(module.__all__)
    assert len(module.__all__) == len(set(module.__all__))
    for name in module.__all__:
        assert hasattr(module, name), name


def test_private_modules_export_what_they_define() -> None:
    for name in ("_callback", "_error_codes", "_provider", "_settings", "_signature", "_status"):
        module = importlib.import_module(f"notifier_twilio.{name}")
        for exported in module.__all__:
            assert hasattr(module, exported), f"{name}.{exported}"

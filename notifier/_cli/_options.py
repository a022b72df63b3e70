"""Argument types shared by the commands' parsers."""

from __future__ import annotations

import argparse

from .._errors import ConfigurationError
from .._settings import check_region

__all__ = ["positive_int", "region_code"]


def positive_int(text: str) -> int:
    """Parse an argparse value that must be an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def region_code(text: str) -> str:
    """Parse ``--region``: an ISO 3166 alpha-2 code supported by phonenumbers, upper-cased."""
    try:
        return check_region(text)
    except ConfigurationError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 3166 alpha-2 region code known to phonenumbers; "
            "pass a code such as UZ or KZ."
        ) from None

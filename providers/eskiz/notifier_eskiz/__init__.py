"""Eskiz.uz SMS provider for notifier."""

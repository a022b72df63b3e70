"""Test kit for applications that send through notifier: a fake provider and pytest fixtures."""

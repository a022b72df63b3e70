"""pytest plugin shipped with notifier-core: fixtures for applications under test."""

"""Entry-point plugin that registers the fake provider."""

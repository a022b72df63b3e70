"""Entry-point plugin that registers the Eskiz provider."""

"""Command line of notifier."""


def main() -> int:
    raise SystemExit("the notifier command line is not built yet")

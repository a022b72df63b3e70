"""Throwaway virtual environments for the published Eskiz clients.

Each peer gets its own environment under ``benchmarks/.peers/<name>/``
(ignored by git), made with ``uv venv`` on the same Python as the harness
and filled with ``uv pip install`` of one pinned requirement. The project's
own environment and lock file are never touched. An environment whose
recorded requirement matches is reused.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PEERS", "PEERS_DIR", "Peer", "PeerEnvironment", "prepare"]

PEERS_DIR = Path(__file__).resolve().parent / ".peers"

_INSTALL_TIMEOUT = 300  # seconds for one uv command


@dataclass(frozen=True)
class Peer:
    """A published client: its setup name, pinned requirement, or why it is skipped."""

    name: str
    requirement: str | None
    skip_reason: str | None = None


PEERS: tuple[Peer, ...] = (
    # Versions are pinned to the releases whose source the adapters in
    # peers.py were written against, URL handling included.
    Peer("eskiz-sms", "eskiz-sms==1.0.1"),
    Peer("eskiz-pkg", "eskiz-pkg[async]==2.0.1"),
    Peer("eskiz-sms-client", "eskiz-sms-client==1.0.5"),
    Peer(
        "django-eskiz-sms",
        None,
        skip_reason=(
            "not run. Version 0.1.6 is a Django app whose send function reads its "
            "settings from a database model, so it needs a configured Django project. "
            "Its Eskiz URLs are string literals inside the function bodies, with no "
            "setting to point them at the simulator."
        ),
    ),
)


@dataclass(frozen=True)
class PeerEnvironment:
    peer: Peer
    python: Path
    packages: list[str]  # ``uv pip freeze`` lines


def _uv() -> str:
    uv = shutil.which("uv")
    if uv is None:
        raise RuntimeError("uv is not on PATH; the peer environments are made with uv")
    return uv


def _run(command: list[str]) -> str:
    completed = subprocess.run(  # noqa: S603 - fixed argument lists, no shell
        command, capture_output=True, text=True, timeout=_INSTALL_TIMEOUT, check=False
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed with exit code {completed.returncode}:\n"
            f"{completed.stderr.strip()}"
        )
    return completed.stdout


def prepare(peer: Peer, *, root: Path = PEERS_DIR) -> PeerEnvironment:
    """Create (or reuse) the environment of ``peer`` and return its Python."""
    if peer.requirement is None:
        raise ValueError(f"peer {peer.name!r} is skipped: {peer.skip_reason}")
    uv = _uv()
    home = root / peer.name
    python = home / "bin" / "python"
    marker = home / "requirement.txt"
    if not (python.exists() and marker.exists() and marker.read_text() == peer.requirement):
        if home.exists():
            shutil.rmtree(home)
        root.mkdir(parents=True, exist_ok=True)
        # The harness's interpreter, so every client runs on the same Python version.
        _run([uv, "venv", "--quiet", "--python", sys.executable, str(home)])
        _run([uv, "pip", "install", "--quiet", "--python", str(python), peer.requirement])
        marker.write_text(peer.requirement)
    packages = _run([uv, "pip", "freeze", "--python", str(python)]).split()
    return PeerEnvironment(peer, python, packages)

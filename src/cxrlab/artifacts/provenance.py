"""Where an artifact came from: software versions, the git commit, the time (UTC)."""

from __future__ import annotations

import subprocess
from datetime import datetime, timezone
from pathlib import Path


def software_versions() -> dict[str, str]:
    import timm
    import torch
    import torchvision

    from cxrlab import __version__

    return {"cxrlab": __version__, "torch": torch.__version__, "torchvision": torchvision.__version__, "timm": timm.__version__}


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
        return out.stdout.strip() if out.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def utc_now() -> str:
    """The current time, ISO 8601 to the second, UTC."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")

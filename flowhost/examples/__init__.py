"""The example packages `flowhost up` deploys, shipped as package data so a wheel has them too."""

from pathlib import Path

FOLDER = Path(__file__).resolve().parent


def packages(folder: Path = FOLDER) -> list[Path]:
    """The package files in `folder`, in the order `up` deploys them."""
    return sorted(folder.glob("*.yaml"))

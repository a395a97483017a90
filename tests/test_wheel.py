"""What `pip install flowhost` puts on a machine: build the wheel, install it in a fresh venv,
and use it as a user would, far from this checkout.

Offline and quick: the wheel is built without build isolation (the dev venv has setuptools) and
installed with `--no-deps --no-index`; its dependencies come from this venv's site-packages,
added to the fresh venv's path by a .pth line (a line adds a folder, not the .pth files in it,
so this checkout's editable install stays out of sight).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
import venv
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from flowhost.devcluster import free_port

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.wheel
_SKIP = shutil.ignore_patterns(
    ".venv",
    ".git",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".*_cache",
    ".flowhost",
    "reports",
)


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path
    site_packages: Path
    home: Path  # an empty folder to run commands in, away from the checkout

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.venv / "bin" / "flowhost"), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.home,
            env=_clean_env(),
        )


def _clean_env() -> dict[str, str]:
    """No PYTHONPATH or FLOWHOST_* from the test run: only what the install brings."""
    return {
        k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("FLOWHOST_")
    } | {"COLUMNS": "200"}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    shutil.copytree(ROOT, source, ignore=_SKIP)  # never build into the checkout
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "-q", "-w", str(tmp / "dist"), str(source)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp / "dist").glob("flowhost-*.whl")
    target = tmp / "venv"
    venv.create(target, with_pip=False)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(target), "platbase": str(target)}))
    ours = sysconfig.get_path("purelib")
    (site / "dependencies.pth").write_text(ours + "\n")
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(target / "bin" / "python"), "install",
         "--no-deps", "--no-index", "-q", str(wheel)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr
    home = tmp / "home"
    home.mkdir()
    return Installed(wheel, target, site, home)


def test_the_wheel_adds_no_top_level_cli_or_bench(installed: Installed) -> None:
    top = {name.split("/")[0] for name in zipfile.ZipFile(installed.wheel).namelist()}
    packages = {name for name in top if not name.endswith((".dist-info", ".data"))}
    assert packages == {"flowhost", "gateway", "executors", "protos"}
    assert not (installed.site_packages / "cli").exists()
    assert not (installed.site_packages / "bench").exists()


def test_the_installed_command_answers_help_and_version(installed: Installed) -> None:
    help_ = installed.run("--help")
    assert help_.returncode == 0, help_.stderr
    assert "up" in help_.stdout and "deploy" in help_.stdout
    version = installed.run("--version")
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == "flowhost 0.1.0"


def test_the_installed_package_is_the_one_imported(installed: Installed) -> None:
    """Not this checkout through a stray path: the wheel's files, examples among them."""
    where = subprocess.run(
        [str(installed.venv / "bin" / "python"), "-c",
         "import flowhost, flowhost.examples as e, gateway; "
         "print(flowhost.__file__); print(gateway.__file__); "
         "print('\\n'.join(p.name for p in e.packages()))"],
        capture_output=True, text=True, cwd=installed.home, env=_clean_env(), timeout=60,
    )  # fmt: skip
    assert where.returncode == 0, where.stderr
    flowhost_file, gateway_file, *examples = where.stdout.split()
    assert Path(flowhost_file).is_relative_to(installed.site_packages)
    assert Path(gateway_file).is_relative_to(installed.site_packages)
    assert examples == ["countries.yaml", "orders.yaml", "shop.yaml"]


@pytest.fixture
def up_from_the_wheel(installed: Installed, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    log = tmp_path / "up.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(installed.venv / "bin" / "flowhost"), "up", "--executors", "1",
             "--http-port", str(free_port()), "--data-dir", str(tmp_path / "data")],
            stdout=out, stderr=subprocess.STDOUT, cwd=installed.home, env=_clean_env(),
            start_new_session=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 90
            while b"Ctrl-C stops everything" not in log.read_bytes():
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, f"up not ready in 90 s:\n{log.read_text()}"
                time.sleep(0.3)
            yield log, log.read_text()
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def test_up_from_the_wheel_deploys_the_examples(up_from_the_wheel: tuple[Path, str]) -> None:
    _, banner = up_from_the_wheel
    assert "service shop " in banner and "/fs/shop" in banner, banner
    assert "service countries " in banner and "/fs/countries" in banner, banner
    assert "service orders " in banner and "/fs/orders" in banner, banner

"""Network namespaces for tests of machines on a network: `ip netns` (Debian's iproute2), veth
pairs, and a delaying TCP proxy (tc's netem qdisc is not available on our kernels).

Every namespace, link and address here is made by the test and removed after it; traffic goes
only between them. Tests skip, saying why, where namespaces cannot be made (not root, no ip).

`python -m tests.netns proxy LISTEN TARGET DELAY_S` runs the proxy (in a namespace, under
`ip netns exec`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest


def ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)


def in_ns(namespace: str, *command: str) -> list[str]:
    """`command`, run inside `namespace`."""
    return ["ip", "netns", "exec", namespace, *command]


@dataclass(frozen=True)
class Spoke:
    namespace: str
    link: str  # its end of the veth pair
    address: str  # its address on that link
    hub_address: str  # the hub's address on the same link


@dataclass(frozen=True)
class Star:
    """A hub namespace (the gateway's machine) joined to each spoke (an executor's machine)
    by its own veth pair and /24."""

    hub: str
    spokes: list[Spoke]

    def partition(self, spoke: Spoke) -> None:
        """Cut the spoke off: its end of the link goes down (packets to it are dropped)."""
        _must("-n", spoke.namespace, "link", "set", spoke.link, "down")

    def heal(self, spoke: Spoke) -> None:
        _must("-n", spoke.namespace, "link", "set", spoke.link, "up")


def _must(*args: str) -> None:
    done = ip(*args)
    assert done.returncode == 0, f"ip {' '.join(args)}: {done.stderr}"


@contextmanager
def star(spokes: int) -> Iterator[Star]:
    """Namespaces for a hub and `spokes` spokes, deleted on exit; skips where not permitted."""
    if shutil.which("ip") is None:
        pytest.skip("the ip command (iproute2) is not installed")
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    tag = f"{os.getpid() % 100000}{time.monotonic_ns() % 100}"
    hub = f"fh-hub-{tag}"
    made = ip("netns", "add", hub)
    if made.returncode != 0:
        pytest.skip(f"ip netns is not permitted here: {made.stderr.strip()}")
    names = [hub]
    try:
        spoke_list = []
        _up(hub, "lo")
        for i in range(1, spokes + 1):
            namespace = f"fh-sp{i}-{tag}"
            names.append(namespace)
            hub_end, spoke_end = f"fh{tag}h{i}", f"fh{tag}s{i}"
            spoke = Spoke(namespace, spoke_end, f"10.210.{i}.2", f"10.210.{i}.1")
            steps = [
                ("netns", "add", namespace),
                ("link", "add", hub_end, "type", "veth", "peer", "name", spoke_end),
                ("link", "set", hub_end, "netns", hub),
                ("link", "set", spoke_end, "netns", namespace),
                ("-n", hub, "addr", "add", f"{spoke.hub_address}/24", "dev", hub_end),
                ("-n", namespace, "addr", "add", f"{spoke.address}/24", "dev", spoke_end),
            ]
            for step in steps:
                done = ip(*step)
                if done.returncode != 0:
                    pytest.skip(f"cannot set up namespaces (ip {' '.join(step)}): {done.stderr}")
            _up(hub, hub_end)
            _up(namespace, spoke_end)
            _up(namespace, "lo")
            spoke_list.append(spoke)
        yield Star(hub, spoke_list)
    finally:
        for name in names:
            ip("netns", "del", name)  # takes its veth ends with it


def _up(namespace: str, link: str) -> None:
    done = ip("-n", namespace, "link", "set", link, "up")
    if done.returncode != 0:
        pytest.skip(f"cannot bring {link} up in {namespace}: {done.stderr}")


# -- the delaying proxy ---------------------------------------------------------------------------


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay_s: float) -> None:
    """Forward each chunk `delay_s` after it arrived, in order, without waiting for the one
    before to be sent: a link's latency, not a stop-and-wait (its throughput is unchanged)."""
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def send() -> None:
        loop = asyncio.get_running_loop()
        while True:
            due, chunk = await queue.get()
            if not chunk:
                break
            await asyncio.sleep(max(0.0, due - loop.time()))
            writer.write(chunk)
            await writer.drain()
        with contextlib.suppress(OSError):
            writer.close()

    sender = asyncio.create_task(send())
    loop = asyncio.get_running_loop()
    try:
        while chunk := await reader.read(65536):
            queue.put_nowait((loop.time() + delay_s, chunk))
    except OSError:
        pass
    queue.put_nowait((loop.time() + delay_s, b""))
    with contextlib.suppress(OSError):
        await sender


async def _proxy(listen: str, target: str, delay_s: float) -> None:
    host, port = target.rsplit(":", 1)

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(host, int(port))
        except OSError:
            writer.close()
            return
        await asyncio.gather(
            _pipe(reader, upstream_writer, delay_s),
            _pipe(upstream_reader, writer, delay_s),
        )

    listen_host, listen_port = listen.rsplit(":", 1)
    server = await asyncio.start_server(connection, listen_host, int(listen_port))
    print("proxying", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    if sys.argv[1:2] == ["proxy"]:
        asyncio.run(_proxy(sys.argv[2], sys.argv[3], float(sys.argv[4])))

"""PNG plots of a benchmark report: throughput and p99 against connections and executors."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def draw(report: dict[str, Any], folder: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")  # no screen on these machines
    import matplotlib.pyplot as plt

    written = []
    rows = report.get("sweep_connections") or []
    if rows:
        fig, (rps_ax, p99_ax) = plt.subplots(1, 2, figsize=(11, 4))
        for target in dict.fromkeys(r["target"] for r in rows):
            mine = [r for r in rows if r["target"] == target]
            xs = [r["connections"] for r in mine]
            rps_ax.plot(xs, [r["rps"] for r in mine], marker="o", label=target)
            p99_ax.plot(xs, [r["p99_ms"] for r in mine], marker="o", label=target)
        for ax, label in ((rps_ax, "requests/s"), (p99_ax, "p99 latency (ms)")):
            ax.set_xscale("log", base=2)
            ax.set_xlabel("concurrent connections")
            ax.set_ylabel(label)
            ax.grid(True, alpha=0.3)
            ax.legend()
        fig.suptitle("quote action: throughput and p99 against connections")
        fig.tight_layout()
        path = folder / "connections.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    rows = report.get("sweep_executors") or []
    if rows:
        fig, rps_ax = plt.subplots(figsize=(6, 4))
        xs = [r["executors"] for r in rows]
        rps_ax.plot(xs, [r["rps"] for r in rows], marker="o", color="tab:blue")
        rps_ax.set_xlabel("executors")
        rps_ax.set_ylabel("requests/s", color="tab:blue")
        p99_ax = rps_ax.twinx()
        p99_ax.plot(xs, [r["p99_ms"] for r in rows], marker="s", color="tab:red")
        p99_ax.set_ylabel("p99 latency (ms)", color="tab:red")
        rps_ax.set_xticks(xs)
        rps_ax.grid(True, alpha=0.3)
        fig.suptitle(f"quote action at {report['connections']} connections, by executors")
        fig.tight_layout()
        path = folder / "executors.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written

"""Vegeta, the HTTP load generator the benchmarks drive servers with.

A Python client spends about 4 ms of CPU per request on this machine, vegeta (Go) about
0.2 ms: with a Python client on the same two cores, the client would be what gets measured.
Vegeta is built once from the Go module proxy into `.cache/bin`.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from bench.load import Stats, summarize

MODULE = "github.com/tsenart/vegeta/v12"
VERSION = "v12.13.0"
REPO = Path(__file__).resolve().parents[1]
BIN_DIR = REPO / ".cache" / "bin"
NO_MORE_TARGETS = "no targets to attack"


@dataclass(frozen=True)
class Target:
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None

    def as_json(self) -> str:
        target: dict[str, object] = {
            "method": self.method,
            "url": self.url,
            "header": {name: [value] for name, value in self.headers.items()},
        }
        if self.body is not None:
            target["body"] = base64.b64encode(self.body).decode()
        return json.dumps(target)


@dataclass(frozen=True)
class Result:
    url: str
    code: int
    sent_at: float  # epoch seconds
    latency_s: float
    body: bytes

    @property
    def done_at(self) -> float:
        return self.sent_at + self.latency_s


def binary() -> Path:
    """The vegeta executable, built from the Go module proxy on first use."""
    path = BIN_DIR / "vegeta"
    stamp = BIN_DIR / "vegeta.version"
    if path.exists() and stamp.exists() and stamp.read_text() == VERSION:
        return path
    if shutil.which("go") is None:
        raise RuntimeError("the benchmarks need Go (https://go.dev) to build vegeta")
    BIN_DIR.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["go", "install", f"{MODULE}@{VERSION}"],
        env={**os.environ, "GOBIN": str(BIN_DIR)},
        check=True,
    )
    stamp.write_text(VERSION)
    return path


def attack(
    targets: Iterable[Target],
    *,
    rate: float | None,
    workers: int = 64,
    duration_s: float | None = None,
) -> list[Result]:
    """Send `targets` in order: `rate` per second (open loop), or as fast as `workers`
    allow when `rate` is None; stops at `duration_s` or when the targets run out."""
    vegeta = binary()
    with tempfile.TemporaryDirectory(prefix="changeward-vegeta-") as scratch:
        targets_file = Path(scratch) / "targets.jsonl"
        with targets_file.open("w") as out:
            out.writelines(target.as_json() + "\n" for target in targets)
        command = [
            str(vegeta),
            "attack",
            "-format=json",
            f"-targets={targets_file}",
            "-lazy",
            f"-rate={0 if rate is None else f'{rate:g}/1s'}",
            f"-max-workers={workers}",
            "-timeout=60s",
        ]
        if duration_s is not None:
            command.append(f"-duration={duration_s:g}s")
        attack_run = subprocess.Popen(command, stdout=subprocess.PIPE)
        encoded = subprocess.run(
            [str(vegeta), "encode", "--to", "json"],
            stdin=attack_run.stdout,
            capture_output=True,
            check=True,
        )
        if attack_run.wait() != 0:
            raise RuntimeError(f"vegeta attack failed with exit code {attack_run.returncode}")
    raw = (json.loads(line) for line in encoded.stdout.splitlines() if line.strip())
    # With -lazy, running out of targets is reported as one more, failed, "result".
    return [_result(result) for result in raw if result["error"] != NO_MORE_TARGETS]


def stats(results: list[Result], *, ok: int) -> Stats:
    """Throughput and latency of the responses with status `ok`; any other is an error."""
    if not results:
        return summarize([], 0, 0.0)
    latencies = [result.latency_s for result in results if result.code == ok]
    seconds = max(r.done_at for r in results) - min(r.sent_at for r in results)
    return summarize(latencies, len(results) - len(latencies), seconds)


def _result(raw: dict[str, object]) -> Result:
    body = raw.get("body")
    return Result(
        url=str(raw["url"]),
        code=int(raw["code"]),  # type: ignore[call-overload]
        sent_at=_epoch(str(raw["timestamp"])),
        latency_s=int(raw["latency"]) / 1e9,  # type: ignore[call-overload]
        body=base64.b64decode(body) if isinstance(body, str) else b"",
    )


def _epoch(timestamp: str) -> float:
    """RFC 3339 with nanoseconds, which `datetime` does not parse: keep microseconds."""
    seconds, dot, rest = timestamp.partition(".")
    if not dot:
        return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
    digits = rest[: len(rest) - len(rest.lstrip("0123456789"))]
    zone = rest[len(digits) :].replace("Z", "+00:00")
    return datetime.fromisoformat(f"{seconds}.{digits[:6]:0<6}{zone}").timestamp()

"""`python -m chaos` (`make chaos`): the fault suite from the command line."""

from __future__ import annotations

import shutil
import signal
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from chaos.profile import FULL, SHORT
from chaos.report import print_summary, write_results
from chaos.run import run

RESULTS = Path(__file__).resolve().parents[1] / "bench" / "results" / "chaos.json"

app = typer.Typer(add_completion=False)


@app.command()
def main(
    short: Annotated[
        bool, typer.Option("--short", help="The short run of `make test` (a few hundred changes).")
    ] = False,
    requests: Annotated[
        int | None, typer.Option(help="Changes walked through the lifecycle.", min=1)
    ] = None,
    faults: Annotated[int | None, typer.Option(help="Faults injected.", min=0)] = None,
    rate: Annotated[
        float | None, typer.Option(help="Changes started per second (open loop).", min=0.1)
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the fault plan.")] = None,
    out: Annotated[Path, typer.Option(help="Where the results JSON goes.")] = RESULTS,
    workdir: Annotated[
        Path | None,
        typer.Option(help="Keep data and logs here (default: a temporary folder, deleted)."),
    ] = None,
) -> None:
    """Run the distributed mode through faults under load, then check nothing was lost,
    doubled or reordered and the ledger verifies. Exits 1 if any check fails."""
    profile = SHORT if short else FULL
    overrides = {"requests": requests, "faults": faults, "rate": rate, "seed": seed}
    profile = profile.but(**{key: value for key, value in overrides.items() if value is not None})
    console = Console()
    console.print(
        f"chaos: {profile.requests} changes at {profile.rate:g}/s (~{profile.drive_s:.0f} s),"
        f" {profile.faults} faults, seed {profile.seed}"
    )
    # A TERM (CI cancelling the job) unwinds like an error, so everything is torn down.
    signal.signal(signal.SIGTERM, _exit)
    scratch = workdir or Path(tempfile.mkdtemp(prefix="changeward-chaos-"))
    results = run(profile, scratch)
    write_results(results, out)
    print_summary(results, console)
    console.print(f"results in {out}")
    if results["failures"]:
        console.print(f"data, logs and the client's ledger kept in {scratch}")
        raise typer.Exit(1)
    if workdir is None:
        shutil.rmtree(scratch, ignore_errors=True)


def _exit(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)

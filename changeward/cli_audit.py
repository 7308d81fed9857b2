"""`changeward audit timeline` and `audit export`, registered beside `verify` and `witness`.

Both reuse the ledger's own offline checker (`services.audit.offline`, as `audit verify`
does): a timeline with `--verify` is the change's export, each entry checked against the
signed tree head with a public key the caller trusts.
"""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import IO, Annotated, Any

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)

from changeward import cli_render as render
from changeward.cli_common import (
    ChangeId,
    Json,
    Verbose,
    client,
    fail,
    print_json,
    reporting,
    stderr,
    wants_json,
)
from changeward.client import ChangewardClient
from services.audit.offline import ExportVerifier
from services.audit.signing import InvalidKey, parse_public_key


class ExportFormat(StrEnum):
    NDJSON = "ndjson"
    CSV = "csv"


PublicKey = Annotated[
    str | None,
    typer.Option(
        help="The Ed25519 public key you trust: base64, PEM, or @file. Default: the "
        "server's own (trusted on first use)."
    ),
]


def timeline(
    ctx: typer.Context,
    change_id: ChangeId,
    verify: Annotated[
        bool, typer.Option("--verify", help="Prove each entry is in the signed ledger.")
    ] = False,
    public_key: PublicKey = None,
    json_output: Json = False,
    verbose: Verbose = False,
) -> None:
    """A change's ledger entries in order, optionally each proven against the signed tree."""
    with reporting(ctx, verbose), client(ctx) as api:
        body = api.get(f"/v1/audit/changes/{change_id}")
        proofs = _prove(api, change_id, public_key) if verify else None
    if wants_json(ctx, json_output):
        print_json(body if proofs is None else {**body, "proofs": proofs})
        return
    render.timeline(body, None if proofs is None else proofs["entries"])
    if proofs is not None:
        if proofs["ok"]:
            stderr.print(f"[green]OK[/] every entry is included in {escape(str(proofs['tree']))}")
        else:
            stderr.print(f"[bold red]NOT PROVEN[/] {escape(str(proofs['defect']))}")
    if proofs is not None and not proofs["ok"]:
        raise typer.Exit(1)


def _prove(api: ChangewardClient, change_id: str, public_key: str | None) -> dict[str, Any]:
    key_text = public_key or api.get("/v1/audit/public-key")["public_key"]
    if key_text.startswith("@"):
        key_text = Path(key_text[1:]).read_text()
    try:
        verifier = ExportVerifier(parse_public_key(key_text))
    except (InvalidKey, ValueError) as error:
        fail(f"not an Ed25519 public key: {error}")
    verdicts: dict[int, str] = {}
    with api.stream("/v1/audit/export", {"change_id": change_id}) as response:
        for line in response.iter_lines():
            if not line.strip():
                continue
            record = json.loads(line)
            accepted = verifier.feed(record)
            if record.get("kind") == "entry":
                verdicts[int(record["sequence"])] = "included" if accepted else "NOT included"
            if verifier.done:
                break
    report = verifier.finish()
    head = report.tree_head
    return {
        "ok": report.ok,
        "entries": verdicts,
        "tree": f"the tree of {head.size} entries signed {head.timestamp.isoformat()}"
        if head
        else None,
        "defect": None if report.defect is None else report.defect.reason,
    }


def export(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write; - for stdout.")],
    export_format: Annotated[ExportFormat, typer.Option("--format")] = ExportFormat.NDJSON,
    change_id: Annotated[str | None, typer.Option("--change", help="Only this change.")] = None,
    event_type: Annotated[
        list[str] | None, typer.Option("--type", help="e.g. change.approved; repeatable.")
    ] = None,
    since: Annotated[datetime | None, typer.Option("--from", help="Recorded from.")] = None,
    until: Annotated[datetime | None, typer.Option("--to", help="Recorded before.")] = None,
    service: Annotated[str | None, typer.Option(help="An affected service.")] = None,
    environment: Annotated[str | None, typer.Option()] = None,
    verbose: Verbose = False,
) -> None:
    """Download the ledger (or a part) with inclusion proofs; check it with `audit verify`."""
    params = {
        "format": export_format.value,
        "change_id": change_id,
        "type": event_type,
        "from": since.isoformat() if since else None,
        "to": until.isoformat() if until else None,
        "service": service,
        "environment": environment,
    }
    columns = [SpinnerColumn(), TextColumn("[bold]exporting[/]"), BarColumn()]
    columns += [MofNCompleteColumn(), TextColumn("lines"), TransferSpeedColumn()]
    with (
        reporting(ctx, verbose),
        client(ctx) as api,
        Progress(*columns, TimeElapsedColumn(), console=stderr, transient=False) as progress,
        api.stream("/v1/audit/export", params) as response,
        _opened(out) as output,
    ):
        task = progress.add_task("export", total=None)
        lines, first_line = 0, bytearray()
        for chunk in response.iter_bytes():
            output.write(chunk)
            if not lines:
                first_line += chunk.split(b"\n", 1)[0]
            lines += chunk.count(b"\n")
            if lines and first_line and export_format is ExportFormat.NDJSON:
                if not _filtered(params):
                    # An unfiltered export holds every entry of the signed tree, plus two lines.
                    progress.update(task, total=json.loads(first_line).get("size", 0) + 2)
                first_line.clear()
            progress.update(task, completed=lines)
    where = "stdout" if str(out) == "-" else str(out)
    stderr.print(f"[green]exported[/] {lines} lines to {escape(where)}")


def _filtered(params: dict[str, Any]) -> bool:
    return any(value for key, value in params.items() if key != "format")


class _opened:
    """The output file, or stdout for `-`; closed only if it was opened here."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._file: IO[bytes] | None = None

    def __enter__(self) -> IO[bytes]:
        if str(self._path) == "-":
            return typer.get_binary_stream("stdout")
        self._file = self._path.open("wb")
        return self._file

    def __exit__(self, *exc_info: object) -> None:
        if self._file is not None:
            self._file.close()

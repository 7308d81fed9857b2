"""`changeward audit`: verify an export offline, and witness the ledger's signed tree heads."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from services.audit.merkle import verify_consistency
from services.audit.offline import ExportReport, ExportVerifier
from services.audit.signing import InvalidKey, TreeHead, parse_public_key, verifies

audit_app = typer.Typer(help="The audit ledger, checked from the outside.", no_args_is_help=True)
console = Console(stderr=True)

Url = Annotated[str | None, typer.Option(help="Changeward's base URL, e.g. http://127.0.0.1:8080.")]
Token = Annotated[str | None, typer.Option(envvar="CHANGEWARD_TOKEN", help="A bearer token.")]
PublicKey = Annotated[
    str | None,
    typer.Option(help="The trusted Ed25519 public key: base64 of 32 bytes, PEM, or @file."),
]


def _client(url: str, token: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=60)


def _public_key_text(value: str) -> str:
    return Path(value[1:]).read_text() if value.startswith("@") else value


def _get_json(client: httpx.Client, path: str, **params: Any) -> dict[str, Any]:
    response = client.get(path, params=params)
    if response.status_code != 200:
        raise typer.BadParameter(f"GET {path} answered {response.status_code}: {response.text}")
    body: dict[str, Any] = response.json()
    return body


@audit_app.command("verify")
def verify(
    url: Url = None,
    token: Token = None,
    file: Annotated[Path | None, typer.Option(help="An NDJSON export to check offline.")] = None,
    public_key: PublicKey = None,
    since: Annotated[str | None, typer.Option("--from", help="With --url: recorded from.")] = None,
    until: Annotated[str | None, typer.Option("--to", help="With --url: recorded before.")] = None,
) -> None:
    """Check an export (a file, or one streamed from --url) against its signed tree head.

    With --url, the service's own verification of the whole ledger follows: its row columns,
    stored tree and head row, which an export does not carry.
    """
    if (url is None) == (file is None):
        raise typer.BadParameter("give either --url or --file")
    if file is not None and public_key is None:
        raise typer.BadParameter("--file needs --public-key: a key you trust, not the file's")
    ledger: dict[str, Any] | None = None  # the service's own verification, with --url
    refused: str | None = None  # the problem the service answered instead of an export
    report: ExportReport | None = None
    with Progress(
        TextColumn("[bold]verifying[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("entries"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        if file is not None:
            assert public_key is not None
            key_text = _public_key_text(public_key)
            total = sum(1 for _ in file.open("rb"))
            task = progress.add_task("export", total=max(total - 2, 0))
            report = _verify_lines(key_text, _file_lines(file), lambda: progress.advance(task))
        else:
            assert url is not None
            with _client(url, token) as client:
                key_text = public_key or _get_json(client, "/v1/audit/public-key")["public_key"]
                params = {k: v for k, v in (("from", since), ("to", until)) if v}
                task = progress.add_task("export", total=None)
                with client.stream("GET", "/v1/audit/export", params=params) as response:
                    if response.status_code == 409:  # the ledger is damaged: a finding
                        response.read()
                        refused = _problem_text(response)
                    elif response.status_code != 200:
                        response.read()
                        raise typer.BadParameter(
                            f"export answered {response.status_code}: {response.text}"
                        )
                    else:
                        report = _verify_lines(
                            key_text,
                            _until_broken(response.iter_lines()),
                            lambda: progress.advance(task),
                        )
                # Whatever the export showed: the service's own pass goes on past every
                # defect, so one run shows the extent of tampering.
                ledger = _get_json(client, "/v1/audit/verify")
    failed = refused is not None
    if refused is not None:
        console.print(f"[red]FAILED[/] the service refused the export: {escape(refused)}")
    if report is not None:
        failed = _print_export(report) or failed
    if ledger is not None:
        failed = _print_ledger(ledger) or failed
    if failed:
        raise typer.Exit(1)


def _problem_text(response: httpx.Response) -> str:
    try:
        problem = response.json()
        return f"{response.status_code} {problem['code']}: {problem['detail']}"
    except (ValueError, KeyError, TypeError):
        return f"{response.status_code}: {response.text}"


def _print_export(report: ExportReport) -> bool:
    """Print what checking the export found; True if it found a defect."""
    head = report.tree_head
    if report.ok:
        assert head is not None
        console.print(
            f"[green]OK[/] {report.entries} entries included in the tree of {head.size} "
            f"entries, root {head.root.hex()}, signed {head.timestamp.isoformat()}"
        )
        return False
    console.print(f"[red]FAILED[/] the export: {_defects(report.defect_count)}")
    for defect in report.defects:
        where = f"entry {defect.sequence}" if defect.sequence else "the export"
        console.print(f"  line {defect.line}, {where}: {escape(defect.reason)}")
    _print_unlisted(report.defect_count - len(report.defects))
    return True


def _print_ledger(ledger: dict[str, Any]) -> bool:
    """Print the service's verification; True if it found a defect."""
    if ledger["ok"] is True:
        console.print(
            f"[green]OK[/] the service verified the whole ledger: {ledger['entries']} entries"
        )
        return False
    listed = ledger.get("defects") or [ledger["first_bad"]]
    count = ledger.get("defect_count") or len(listed)
    console.print(
        f"[red]FAILED[/] the service's verification of the whole ledger: {_defects(count)}"
    )
    for bad in listed:
        check = f" ({bad['check']})" if "check" in bad else ""
        console.print(f"  entry {bad['sequence']}: {escape(bad['reason'])}{check}")
    _print_unlisted(count - len(listed))
    return True


def _defects(count: int) -> str:
    return f"{count} defect{'' if count == 1 else 's'}"


def _print_unlisted(count: int) -> None:
    if count > 0:
        console.print(f"  ... and {count} more, not listed")


def _until_broken(lines: Iterator[str]) -> Iterator[str]:
    """`lines` until the connection breaks: the export then lacks its end, a defect."""
    try:
        yield from lines
    except httpx.TransportError as error:
        console.print(f"[red]the export broke off[/]: {error!r}")


def _file_lines(file: Path) -> Iterator[str]:
    with file.open(encoding="utf-8") as lines:
        yield from lines


def _verify_lines(key_text: str, lines: Iterator[str], advance: Any) -> ExportReport:
    try:
        verifier = ExportVerifier(parse_public_key(key_text))
    except (InvalidKey, ValueError) as error:
        raise typer.BadParameter(f"not an Ed25519 public key: {error}") from error
    for line in lines:
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            record = {"kind": "not JSON"}
        verifier.feed(record)
        if verifier.done:
            break
        if record.get("kind") == "entry":
            advance()
    return verifier.finish()


@audit_app.command("witness")
def witness(
    url: Annotated[str, typer.Option(help="Changeward's base URL.")],
    store: Annotated[Path, typer.Option(help="Where to keep the heads seen (JSON lines).")],
    token: Token = None,
    public_key: PublicKey = None,
    interval: Annotated[float, typer.Option(help="Seconds between polls.")] = 5.0,
    polls: Annotated[int, typer.Option(help="Stop after this many polls; 0 for never.")] = 0,
) -> None:
    """Poll signed tree heads, keep them, and prove each extends the one before it."""
    seen = [json.loads(line) for line in store.read_text().splitlines()] if store.exists() else []
    with _client(url, token) as client:
        key_text = public_key or (seen[0]["public_key"] if seen else None)
        if key_text is None:
            key_text = _get_json(client, "/v1/audit/public-key")["public_key"]
            console.print("[yellow]trusting the server's public key on first use[/]")
        key = parse_public_key(_public_key_text(key_text))
        last = seen[-1] if seen else None
        count = 0
        while polls == 0 or count < polls:
            count += 1
            head = _get_json(client, "/v1/audit/tree-head")
            problem = _check_head(client, key, last, head)
            if problem:
                console.print(f"[red]INCONSISTENT[/] {problem}")
                raise typer.Exit(2)
            if last is None or head["size"] != last["size"] or head["root"] != last["root"]:
                record = {**head, "public_key": key_text}
                with store.open("a") as output:
                    output.write(json.dumps(record) + "\n")
                console.print(f"[green]head[/] size {head['size']} root {head['root'][:16]}...")
                last = record
            if polls == 0 or count < polls:
                time.sleep(interval)


def _check_head(
    client: httpx.Client, key: Any, last: dict[str, Any] | None, head: dict[str, Any]
) -> str | None:
    signed = TreeHead(
        size=head["size"],
        root=bytes.fromhex(head["root"]),
        timestamp=datetime.fromisoformat(head["timestamp"]),
    )
    if not verifies(key, signed, base64.b64decode(head["signature"])):
        return f"the head of size {head['size']} is not signed by the trusted key"
    if last is None:
        return None
    if head["size"] < last["size"]:
        return f"the ledger shrank from {last['size']} to {head['size']} entries"
    proof = _get_json(
        client, "/v1/audit/proofs/consistency", **{"from": last["size"], "to": head["size"]}
    )["proof"]
    if not verify_consistency(
        last["size"],
        head["size"],
        bytes.fromhex(last["root"]),
        signed.root,
        [bytes.fromhex(h) for h in proof],
    ):
        return f"the tree of {head['size']} entries does not extend the one of {last['size']}"
    return None

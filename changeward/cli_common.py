"""What every API command of the CLI shares: connection, output mode, errors, exit codes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
import yaml
from rich.console import Console
from rich.markup import escape

from changeward.client import ApiError, ChangewardClient, ConfigError, Unreachable, load_config


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1
    USAGE = 2
    GATE_DENIED = 3
    NOT_FOUND = 4
    CONFLICT = 5


EXIT_CODES_HELP = (
    "Exit codes: 0 ok; 1 error (the server refused, or could not be reached); 2 usage; "
    "3 the deploy gate denies; 4 not found; 5 conflict (the change's state or version "
    "forbids it)."
)

Json = Annotated[bool, typer.Option("--json", help="Print the server's JSON, for machines.")]
Verbose = Annotated[
    bool, typer.Option("--verbose", "-v", help="On error, also print the full problem+json.")
]
ChangeId = Annotated[str, typer.Argument(help="The change's id.", show_default=False)]

stdout = Console(soft_wrap=True)
stderr = Console(stderr=True, soft_wrap=True)


@dataclass
class Session:
    """The root command's options, read by every API command."""

    url: str | None = None
    token: str | None = None
    json: bool = False
    verbose: bool = False


def session_of(ctx: typer.Context) -> Session:
    root = ctx.find_root()
    if not isinstance(root.obj, Session):
        root.obj = Session()
    return root.obj


def wants_json(ctx: typer.Context, flag: bool) -> bool:
    return flag or session_of(ctx).json


def client(ctx: typer.Context) -> ChangewardClient:
    session = session_of(ctx)
    return ChangewardClient(load_config(session.url, session.token))


def status_exit_code(status: int) -> ExitCode:
    if status == 404:
        return ExitCode.NOT_FOUND
    if status in (409, 412, 428):
        return ExitCode.CONFLICT
    return ExitCode.ERROR


def fail(message: str, code: ExitCode = ExitCode.ERROR) -> NoReturn:
    stderr.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    raise typer.Exit(code)


@contextmanager
def reporting(ctx: typer.Context, verbose: bool = False) -> Iterator[None]:
    """Turns API and connection failures into one line on stderr and the matching exit code."""
    try:
        yield
    except ApiError as error:
        where = f"({error.status} {error.code})"
        stderr.print(
            f"[bold red]error:[/] {escape(error.summary)} [dim]{escape(where)}[/]", highlight=False
        )
        if verbose or session_of(ctx).verbose:
            typer.echo(f"{error.method} {error.url}", err=True)
            typer.echo(json.dumps(error.problem, indent=2), err=True)
        for field_error in error.problem.get("errors") or []:
            where = ".".join(str(part) for part in field_error.get("loc", []))
            stderr.print(escape(f"  {where}: {field_error.get('msg')}"), highlight=False)
        raise typer.Exit(status_exit_code(error.status)) from None
    except (Unreachable, ConfigError) as error:
        fail(str(error))


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, sort_keys=False))


def read_document(path: Path) -> Any:
    """A YAML or JSON file (JSON is YAML, but its errors read better from the JSON parser)."""
    try:
        text = _text_of(path)
    except OSError as error:
        fail(f"cannot read {path}: {error}", ExitCode.USAGE)
    try:
        if path.suffix == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        fail(f"{path} is not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {error}")


def read_mapping(path: Path) -> dict[str, Any]:
    """A YAML or JSON file that must hold one object, as request bodies do."""
    body = read_document(path)
    if not isinstance(body, dict):
        fail(f"{path} must hold one object (a mapping)", ExitCode.USAGE)
    return body


def _text_of(path: Path) -> str:
    if str(path) == "-":
        return typer.get_text_stream("stdin").read()
    return path.read_text(encoding="utf-8")


def short_time(value: str | None) -> str:
    """`2026-12-01T02:00:00Z` as `2026-12-01 02:00Z`; empty for None."""
    if not value:
        return ""
    date, _, clock = value.replace("+00:00", "Z").partition("T")
    hours_minutes = clock[:5]
    zone = "Z" if clock.endswith("Z") else clock[-6:] if len(clock) > 8 else ""
    return f"{date} {hours_minutes}{zone}".strip()

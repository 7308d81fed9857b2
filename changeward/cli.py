"""The `changeward` command: run the services, and work with changes through the API."""

from __future__ import annotations

import gc
import signal
from collections.abc import Sequence
from datetime import timedelta
from typing import Annotated

import typer
import uvicorn
from fastapi import FastAPI
from rich.console import Console

from changeward import cli_audit
from changeward.audit_cli import audit_app
from changeward.cli_changes import change_app
from changeward.cli_common import EXIT_CODES_HELP, session_of
from changeward.cli_events import events_app
from changeward.cli_exec import exec_app, gate
from changeward.cli_freeze import freeze_app
from changeward.cli_plans import plan
from changeward.cli_review import review_app
from changeward.duration import parse_duration
from shared import migrate as migrations
from shared.auth import ALL_ROLES, mint_token
from shared.observability import configure_logging
from shared.settings import SERVICES, Settings, get_settings

# The values of shared.runtime.ProcessRole; spelled out so that `changeward gate` need not
# import the runtime (see create_app below).
PROCESS_ROLES = ("api", "relay", "consumer")
# Young collections every 50,000 allocations instead of 700: a request allocates thousands.
SERVER_GC_THRESHOLDS = (50_000, 20, 20)

app = typer.Typer(
    help="Changeward: production change management. The server and token come from --url and "
    "--token, CHANGEWARD_URL and CHANGEWARD_TOKEN, or ~/.config/changeward/config.toml "
    f"(url, token or token_file). {EXIT_CODES_HELP}",
    no_args_is_help=True,
)
token_app = typer.Typer(help="Bearer tokens for development.", no_args_is_help=True)
postgres_app = typer.Typer(help="The embedded PostgreSQL server.", no_args_is_help=True)
app.add_typer(change_app, name="change")
app.add_typer(review_app, name="review")
exec_app.command("plan")(plan)
app.add_typer(exec_app, name="exec")
app.add_typer(freeze_app, name="freeze")
app.command("gate")(gate)
# `audit verify` and `audit witness` live in audit_cli; the API-backed views join them.
audit_app.command("timeline")(cli_audit.timeline)
audit_app.command("export")(cli_audit.export)
app.add_typer(audit_app, name="audit")
app.add_typer(events_app, name="events")
app.add_typer(token_app, name="token")
app.add_typer(postgres_app, name="postgres")
console = Console(stderr=True)


@app.callback()
def main(
    ctx: typer.Context,
    url: Annotated[
        str | None, typer.Option(help="Changeward's base URL (CHANGEWARD_URL).", show_default=False)
    ] = None,
    token: Annotated[
        str | None, typer.Option(help="A bearer token (CHANGEWARD_TOKEN).", show_default=False)
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="JSON output, for machines.")] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="On error, print the full problem+json.")
    ] = False,
) -> None:
    """Options every API command reads; each command also takes --json and -v itself."""
    session = session_of(ctx)
    session.url, session.token, session.json, session.verbose = url, token, json_output, verbose


# The services and the embedded PostgreSQL are imported only by the commands that run them,
# so that a pipeline's `changeward gate` starts in a fraction of the time.
def create_app(settings: Settings, database_url: str) -> FastAPI:
    from changeward import allinone

    return allinone.create_app(settings, database_url)


def create_service_app(
    service: str, settings: Settings, database_url: str, roles: Sequence[str] = PROCESS_ROLES
) -> FastAPI:
    from changeward import allinone
    from shared.runtime import ProcessRole

    return allinone.create_service_app(
        service, settings, database_url, frozenset(ProcessRole(role) for role in roles)
    )


def _settings() -> Settings:
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    return settings


@app.command()
def run(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
) -> None:
    """Run every service in one process (embedded PostgreSQL and in-process bus by default)."""
    from changeward import stack

    settings, created = stack.ensure_jwt_secret(_settings())
    database_url, server = stack.ensure_database(settings)
    # uvicorn re-raises SIGTERM once it has shut down; as SystemExit, it still lets the
    # `finally` below stop the embedded PostgreSQL instead of leaving it running.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        stack.migrate_all(database_url)
        _print_welcome(settings, created, host or settings.host, port or settings.port)
        _serve(create_app(settings, database_url), host or settings.host, port or settings.port)
    finally:
        if server is not None:
            server.stop()


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


@app.command()
def serve(
    service: Annotated[str, typer.Argument(help=f"One of {', '.join(SERVICES)}.")],
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    roles: Annotated[
        str,
        typer.Option(
            help="What this process runs, comma-separated: api (the HTTP routes), relay (the "
            "outbox relay), consumer (the consumer groups and background jobs). Needs Kafka "
            "unless all three."
        ),
    ] = ",".join(PROCESS_ROLES),
) -> None:
    """Run one service (distributed mode); migrates its schema first unless told not to."""
    from changeward import stack

    if service not in SERVICES:
        raise typer.BadParameter(f"unknown service {service!r}; expected one of {list(SERVICES)}")
    role_list = _process_roles(roles)
    if set(role_list) != set(PROCESS_ROLES) and not _settings().kafka_bootstrap_servers:
        raise typer.BadParameter(
            "--roles splits a service across processes, which then talk through Kafka: "
            "set CHANGEWARD_KAFKA_BOOTSTRAP_SERVERS"
        )
    settings, _ = stack.ensure_jwt_secret(_settings())
    database_url, _server = stack.ensure_database(settings)
    if settings.migrate_on_start:
        migrations.upgrade(database_url, [service])
    _serve(
        create_service_app(service, settings, database_url, role_list),
        host or settings.host,
        port or settings.port,
    )


def _serve(app: FastAPI, host: str, port: int) -> None:
    # What is alive now (modules, routes, schemas) lives as long as the process: moved out
    # of the collector's sight, and with fewer young collections, a request costs less CPU.
    gc.collect()
    gc.freeze()
    gc.set_threshold(*SERVER_GC_THRESHOLDS)
    # No access log: its lines are below the level shown, yet each request works out their
    # fields. Requests are counted and timed in /metrics instead.
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


def _process_roles(value: str) -> list[str]:
    roles = [role.strip() for role in value.split(",") if role.strip()]
    unknown = sorted(set(roles) - set(PROCESS_ROLES))
    if unknown or not roles:
        raise typer.BadParameter(
            f"unknown roles {unknown}; expected some of {', '.join(PROCESS_ROLES)}"
        )
    return roles


@app.command()
def migrate(
    service: Annotated[list[str] | None, typer.Option(help="Only these services.")] = None,
    check: Annotated[bool, typer.Option(help="Fail if models and schema differ.")] = False,
) -> None:
    """Migrate each service's schema to its latest revision."""
    from changeward import stack

    settings = _settings()
    database_url, _ = stack.ensure_database(settings)
    services = service or list(SERVICES)
    migrations.upgrade(database_url, services)
    if check:
        migrations.check(database_url, services)
    console.print(f"[green]migrated[/] {', '.join(services)}")


@token_app.command("mint")
def token_mint(
    sub: Annotated[str, typer.Option(help="Who the token identifies.")],
    roles: Annotated[str, typer.Option(help="Comma-separated roles.")],
    ttl: Annotated[str, typer.Option(help="Lifetime, e.g. 12h.")] = "12h",
) -> None:
    """Print an HS256 token signed with CHANGEWARD_JWT_SECRET (or the local one)."""
    from changeward import stack

    settings, _ = stack.ensure_jwt_secret(get_settings())
    if not settings.jwt_secret:
        raise typer.BadParameter("tokens are minted with CHANGEWARD_JWT_SECRET; it is not set")
    role_list = [role.strip() for role in roles.split(",") if role.strip()]
    unknown = sorted(set(role_list) - ALL_ROLES)
    if unknown:
        raise typer.BadParameter(f"unknown roles {unknown}; expected some of {sorted(ALL_ROLES)}")
    token = mint_token(
        settings.jwt_secret,
        subject=sub,
        roles=role_list,
        ttl=parse_duration(ttl),
        audience=settings.jwt_audience,
    )
    typer.echo(token)


@token_app.command("secret")
def token_secret() -> None:
    """Print the HS256 secret in use (creating the local one under the data folder if unset)."""
    from changeward import stack

    settings, _ = stack.ensure_jwt_secret(get_settings())
    if not settings.jwt_secret:
        raise typer.BadParameter("tokens are verified with CHANGEWARD_JWKS_URL; there is no secret")
    typer.echo(settings.jwt_secret)


@postgres_app.command("start")
def postgres_start() -> None:
    """Start the embedded PostgreSQL (kept running) and print its URL."""
    from changeward import stack

    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    server = stack.embedded_postgres(settings)
    server.start()
    server.create_database(stack.DATABASE_NAME)
    typer.echo(server.url(stack.DATABASE_NAME))


@postgres_app.command("stop")
def postgres_stop() -> None:
    """Stop the embedded PostgreSQL."""
    from changeward import stack

    stack.embedded_postgres(get_settings()).stop()


def _print_welcome(settings: Settings, created_secret: bool, host: str, port: int) -> None:
    assert settings.jwt_secret
    token = mint_token(
        settings.jwt_secret,
        subject="admin",
        roles=["change_lead"],
        ttl=timedelta(days=1),
        audience=settings.jwt_audience,
    )
    if created_secret:
        console.print(f"Generated a JWT secret in {settings.data_dir / 'jwt-secret'}.")
    console.print(
        f"[bold]Changeward[/] all-in-one on [cyan]http://{host}:{port}[/] (docs at /docs)"
    )
    console.print("A change_lead token for the next 24 h:")
    console.print(token, soft_wrap=True, highlight=False)
    console.print(
        "More: [cyan]changeward token mint --sub alice --roles requester[/]", highlight=False
    )

"""The ``jiefen`` command: serve, migrate, config check, units import, users, tokens, demo data."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, TypeVar

import typer

from service import clock, migrate
from service.config.loading import ConfigError
from service.config.settings import Settings, get_settings
from service.context import AppContext
from service.db import is_sqlite
from service.observability.logging import configure_logging, logging_config
from service.units.sync import sync_units

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

app = typer.Typer(
    help="Jiefen 解纷 — case routing for non-litigation dispute resolution.", no_args_is_help=True
)
config_app = typer.Typer(help="Check configuration files.", no_args_is_help=True)
units_app = typer.Typer(help="The organisation tree.", no_args_is_help=True)
users_app = typer.Typer(help="User accounts.", no_args_is_help=True)
tokens_app = typer.Typer(help="Machine API tokens for other systems.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(units_app, name="units")
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")
outbox_app = typer.Typer(help="Webhook deliveries.", no_args_is_help=True)
app.add_typer(outbox_app, name="outbox")
privacy_app = typer.Typer(help="Personal data: keys and encryption at rest.", no_args_is_help=True)
app.add_typer(privacy_app, name="privacy")
audit_app = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
deadlines_app = typer.Typer(help="Deadlines (legal and local time limits).", no_args_is_help=True)
app.add_typer(deadlines_app, name="deadlines")

T = TypeVar("T")


async def backfill(engine: object, ctx: AppContext) -> None:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from service.main import backfill as run_backfill

    assert isinstance(engine, AsyncEngine)
    await run_backfill(engine, ctx)


def _context(settings: Settings) -> AppContext:
    from service.main import load_context

    try:
        return load_context(settings)
    except ConfigError as exc:
        typer.echo(f"Configuration is invalid:\n{exc}", err=True)
        raise typer.Exit(2) from exc


def _run(settings: Settings, work: Callable[..., Awaitable[T]], *args: object) -> T:
    """Run ``work(engine, *args)`` against a migrated database with the units in place."""

    async def main() -> T:
        engine = _engine(settings)
        try:
            await _check_key(engine, settings)  # before migrating: a wrong key changes nothing
            await migrate.upgrade(engine)
            await _sign_trail(engine)
            return await work(engine, *args)
        finally:
            await engine.dispose()

    from service.audit.keys import AuditKeyError
    from service.integrity.backfill import UnsignedTrail

    try:
        return asyncio.run(main())
    except (AuditKeyError, UnsignedTrail) as exc:
        typer.echo(f"Audit trail: {exc}", err=True)
        raise typer.Exit(2) from exc


async def _sign_trail(engine: AsyncEngine) -> None:
    """With the schema: a trail written before the audit key is signed with it, once (and a new
    database records the key's fingerprint)."""
    from service.integrity.backfill import sign_trail

    signed = await sign_trail(engine, now=clock.now())
    if signed is not None:
        typer.echo(
            f"Signed the audit trail with the audit key: {signed.case_events} case events in "
            f"{signed.cases} cases, {signed.security_events} security events.",
            err=True,
        )


def _engine(settings: Settings) -> AsyncEngine:
    """The engine with the audit key (exit 2 naming the setting when the key is missing or bad)."""
    from service.main import engine_for

    try:
        return engine_for(settings)
    except ConfigError as exc:
        typer.echo(f"Configuration is invalid:\n{exc}", err=True)
        raise typer.Exit(2) from exc


async def _check_key(engine: object, settings: Settings) -> None:
    """Exit 2 when JIEFEN_DATA_KEY cannot open the personal data already in the database."""
    from sqlalchemy.ext.asyncio import AsyncEngine

    from service.attachments.service import check_keys as check_file_keys
    from service.main import load_cipher
    from service.personal.crypto import DataKeyError
    from service.privacy.parties import check_key

    assert isinstance(engine, AsyncEngine)
    try:
        cipher = load_cipher(settings)
        await check_key(engine, cipher)
        await check_file_keys(engine, cipher)
    except ConfigError as exc:
        typer.echo(f"Configuration is invalid:\n{exc}", err=True)
        raise typer.Exit(2) from exc
    except DataKeyError as exc:
        typer.echo(
            f"JIEFEN_DATA_KEY cannot open the personal data already stored ({exc}). Use the key ring "
            "the data was written with; during a rotation list the new key first and keep the old "
            "ones after it.",
            err=True,
        )
        raise typer.Exit(2) from exc


def _read_only(settings: Settings, work: Callable[..., Awaitable[T]], *args: object) -> T:
    """Run ``work(engine, *args)`` on the database as it is: nothing is created or migrated. Exits
    2, naming the problem, when it cannot be reached or does not hold the current schema."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import DBAPIError

    url = settings.effective_database_url
    if is_sqlite(url):
        path = make_url(url).database
        if not path or path == ":memory:" or not Path(path).is_file():
            typer.echo(
                f"No database at {path or url}: nothing to check (is JIEFEN_DATA_DIR right?)", err=True
            )
            raise typer.Exit(2)

    def fail(message: str) -> NoReturn:
        typer.echo(message, err=True)
        raise typer.Exit(2)

    async def main() -> T:
        engine = _engine(settings)
        where = engine.url.render_as_string(hide_password=True)
        try:
            try:
                found = await migrate.current(engine)
            except (DBAPIError, OSError) as exc:
                fail(f"Cannot read {where}: {str(exc).splitlines()[0]}")
            expected = migrate.head()
            if found is None:
                fail(
                    f"No Jiefen schema in {where}: nothing to check. Is JIEFEN_DATABASE_URL the right "
                    "database, or did a restore fail?"
                )
            if not migrate.known(found):
                fail(
                    f"The schema is at {found}, newer than this version of jiefen knows ({expected}): "
                    "use the version that wrote it."
                )
            if found != expected:
                fail(
                    f"The schema is at {found}; this version of jiefen reads {expected}. Run `jiefen "
                    "migrate` first (this command only reads: it changed nothing)."
                )
            return await work(engine, *args)
        finally:
            await engine.dispose()

    return asyncio.run(main())


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    demo: Annotated[
        bool | None,
        typer.Option("--demo/--no-demo", help="seed demo users and cases (default: on SQLite default)"),
    ] = None,
    workers: Annotated[int, typer.Option(help="worker processes (PostgreSQL only)")] = 1,
) -> None:
    """Run the service (web pages and API): migrate, load units, seed demo data when asked, and serve."""
    import uvicorn

    settings = get_settings()
    ctx = _context(settings)
    seed = settings.should_seed_demo if demo is None else demo

    async def prepare(engine: object) -> list[str]:
        from sqlalchemy.ext.asyncio import AsyncEngine

        from service import demo as demo_data

        assert isinstance(engine, AsyncEngine)
        await sync_units(engine, ctx.org)
        await backfill(engine, ctx)
        if not seed:
            return []
        now = clock.now()
        demo_users = await demo_data.seed_users(engine, ctx, settings.demo_password, now)
        made = await demo_data.seed_cases(engine, ctx, settings.demo_cases, now)
        lines = [
            f"  {u.username:<22} {u.role.value:<15} {u.unit_code:<20} {u.display_name}" for u in demo_users
        ]
        if made:
            lines.append(f"  ({made} demo cases created)")
        return lines

    logins = _run(settings, prepare)
    where = (
        settings.effective_database_url
        if not settings.is_default_database
        else settings.data_dir / "jiefen.db"
    )
    typer.echo(f"Jiefen 解纷 on {where}")
    sign_in = "(sign in with a login below)" if logins else "(sign in with an account: `jiefen users create`)"
    typer.echo(f"  Web:  http://{host}:{port}/    {sign_in}")
    typer.echo(f"  API:  http://{host}:{port}/api/v1    docs: http://{host}:{port}/docs")
    if logins:
        typer.echo(f"Demo logins (password: {settings.demo_password}):")
        typer.echo("\n".join(logins))
    if workers > 1 and is_sqlite(settings.effective_database_url):
        typer.echo("SQLite serves one worker; ignoring --workers.", err=True)
        workers = 1
    uvicorn.run(
        "service.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level.lower(),
        # Our formatter in every worker; the middleware writes the access lines (with request id).
        log_config=logging_config(settings.log_format, settings.log_level),
        access_log=False,
        # The app believes X-Forwarded-For / -Proto from JIEFEN_TRUSTED_PROXIES only
        # (service.http_safety.TrustedProxies); uvicorn's own handling would trust FORWARDED_ALLOW_IPS.
        proxy_headers=False,
        # An idle keep-alive connection is closed after this; behind nginx, longer than its upstream
        # keepalive_timeout, so nginx never sends a request on a connection we are closing.
        timeout_keep_alive=settings.keep_alive_seconds,
        # uvicorn has no timeout for a request that is slow to arrive (this one covers idle time
        # between requests only): exposed to browsers, put the proxy in front, which cuts slow
        # headers and bodies off (deploy/nginx.conf).
    )


@app.command("migrate")
def migrate_command() -> None:
    """Apply database migrations and mirror the configured units (idempotent)."""
    settings = get_settings()
    ctx = _context(settings)

    async def work(engine: object) -> None:
        from sqlalchemy.ext.asyncio import AsyncEngine

        assert isinstance(engine, AsyncEngine)
        await sync_units(engine, ctx.org)
        await backfill(engine, ctx)

    _run(settings, work)
    typer.echo(f"Database is at the latest schema; {len(ctx.org)} units in place.")


@app.command("seed-demo")
def seed_demo(cases: Annotated[int, typer.Option(help="how many demo cases")] = 300) -> None:
    """Seed demo users and cases into an empty database."""
    from service import demo as demo_data

    settings = get_settings()
    ctx = _context(settings)

    async def work(engine: object) -> int:
        from sqlalchemy.ext.asyncio import AsyncEngine

        assert isinstance(engine, AsyncEngine)
        await sync_units(engine, ctx.org)
        now = clock.now()
        await demo_data.seed_users(engine, ctx, settings.demo_password, now)
        return await demo_data.seed_cases(engine, ctx, cases, now)

    made = _run(settings, work)
    typer.echo(f"{made} demo cases created." if made else "The database already has cases; nothing seeded.")


@config_app.command("check")
def config_check() -> None:
    """Validate every configuration file; errors name the file, the key and what is wrong."""
    settings = get_settings()
    ctx = _context(settings)
    typer.echo(f"units: {len(ctx.org)} units OK ({settings.config_dir / 'units'})")
    typer.echo(f"triage: {len(ctx.rules.rules)} rules OK ({settings.config_dir / 'triage.yaml'})")
    typer.echo(
        f"deadlines: {len(ctx.policies.policies)} policies OK ({settings.config_dir / 'deadlines.yaml'})"
    )
    webhooks = settings.config_dir / "webhooks.yaml"
    typer.echo(f"webhooks: {len(ctx.webhooks)} configured subscriptions OK ({webhooks})")
    from service.config.calendars import calendar_warnings

    warnings = calendar_warnings(ctx.calendar, clock.now().astimezone(clock.SHANGHAI).date())
    for warning in warnings:
        typer.echo(f"WARNING: {warning}", err=True)
    typer.echo("calendars: OK" if not warnings else "calendars: INCOMPLETE (see warnings above)")
    from service.config.case_file import load_case_file_rules
    from service.config.numbering import load_numbering
    from service.config.screening import load_screening_policy
    from service.documents.render import TemplateError, load_templates

    def loaded(load: Callable[[Path], T], path: Path) -> T:
        try:
            return load(path)
        except (ConfigError, TemplateError) as exc:
            typer.echo(f"Configuration is invalid:\n{exc}", err=True)
            raise typer.Exit(2) from exc

    numbers = settings.config_dir / "numbering.yaml"
    numbering = loaded(lambda path: load_numbering(path, ctx.org), numbers)
    typer.echo(
        f"numbering: {len(numbering.kinds)} kinds, {len(numbering.units)} unit prefixes OK ({numbers})"
    )
    file_rules_path = settings.config_dir / "case_file.yaml"
    file_rules = loaded(load_case_file_rules, file_rules_path)
    typer.echo(f"case file: {len(file_rules.items)} items OK ({file_rules_path})")
    documents = settings.config_dir / "documents"
    templates = loaded(load_templates, documents)
    typer.echo(f"documents: {len(templates.compiled)} templates OK ({documents})")
    screening_path = settings.config_dir / "screening.yaml"
    screening = loaded(load_screening_policy, screening_path)
    typer.echo(f"screening: {len(screening.periods)} unit kinds owe rounds OK ({screening_path})")


@units_app.command("import")
def units_import(
    csv_file: Annotated[Path, typer.Argument(help="CSV: code, name, parent code (national division list)")],
    output: Annotated[
        Path | None, typer.Option(help="YAML file to add villages to (default: config/units/imported.yaml)")
    ] = None,
) -> None:
    """Add villages/communities from the national statistical division list (idempotent)."""
    from service.units.importer import import_villages

    settings = get_settings()
    ctx = _context(settings)
    target = output or settings.config_dir / "units" / "imported.yaml"
    try:
        report = import_villages(csv_file, ctx.org, target)
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    typer.echo(
        f"added {len(report.added)}, skipped {len(report.skipped)}, rejected {len(report.rejected)} → {target}"
    )
    for unit in report.added:
        typer.echo(f"  + {unit.code} {unit.name} (under {unit.parent_code})")
    for line, code, why in report.skipped:
        typer.echo(f"  = line {line}: {code}: {why}")
    for line, code, why in report.rejected:
        typer.echo(f"  ! line {line}: {code}: {why}", err=True)
    if report.added:
        typer.echo("Restart the service (or run `jiefen migrate`) to load the new units.")


@users_app.command("create")
def users_create(
    username: Annotated[str, typer.Option(help="sign-in name")],
    password: Annotated[
        str, typer.Option(help="see the password policy in the README", prompt=True, hide_input=True)
    ],
    role: Annotated[
        str, typer.Option(help="mediator, coordinator, agency_officer, court_clerk, admin or auditor")
    ],
    unit: Annotated[str, typer.Option(help="the code of the unit the user belongs to")],
    display_name: Annotated[str, typer.Option(help="name shown in the audit trail")] = "",
) -> None:
    """Create a user account at once. This is how the first administrators are made: a coordinator,
    auditor or admin created here needs no second administrator (the API's grants do), and is
    recorded and alerted to the auditors."""
    from service.errors import ServiceError
    from service.users.passwords import PasswordPolicy
    from service.users.service import create_user

    settings = get_settings()
    ctx = _context(settings)

    async def work(engine: object) -> int:
        from sqlalchemy.ext.asyncio import AsyncEngine

        assert isinstance(engine, AsyncEngine)
        await sync_units(engine, ctx.org)
        async with engine.begin() as conn:
            return await create_user(
                conn,
                username=username,
                password=password,
                role=role,
                unit_code=unit,
                org=ctx.org,
                now=clock.now(),
                display_name=display_name,
                password_policy=PasswordPolicy.from_settings(settings),
            )

    try:
        user_id = _run(settings, work)
    except ServiceError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"created user {username} (id {user_id}, {role} at {unit})")


@tokens_app.command("create")
def tokens_create(
    username: Annotated[str, typer.Option(help="the service account the token acts as")],
    name: Annotated[str, typer.Option(help="what the token is for, e.g. court-system")],
    days: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="expire after this many days (default: JIEFEN_MACHINE_TOKEN_DAYS, 90; "
            "at most JIEFEN_MACHINE_TOKEN_MAX_DAYS, 365)",
        ),
    ] = None,
) -> None:
    """Issue a machine API token for another system; it is shown once, with its expiry on
    standard error. Issue its replacement before it expires."""
    from service.errors import ServiceError
    from service.users.service import MachineTokenPolicy, issue_machine_token

    settings = get_settings()
    policy = MachineTokenPolicy.from_settings(settings)
    now = clock.now()
    expires = now + (timedelta(days=days) if days else policy.lifetime)

    async def work(engine: object) -> str:
        from sqlalchemy.ext.asyncio import AsyncEngine

        assert isinstance(engine, AsyncEngine)
        async with engine.begin() as conn:
            return await issue_machine_token(conn, username, name, now=now, expires_at=expires, policy=policy)

    try:
        token = _run(settings, work)
    except ServiceError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(token)
    typer.echo(f"expires {expires.astimezone(clock.SHANGHAI).isoformat(timespec='minutes')}", err=True)


@app.command("sweep")
def sweep_command(
    once: Annotated[bool, typer.Option("--once", help="run a single sweep and exit")] = False,
    now: Annotated[
        str | None, typer.Option(help="sweep as of this ISO-8601 instant, e.g. 2026-03-05T09:00:00+08:00")
    ] = None,
) -> None:
    """Run one deadline sweep now (or as of --now): warnings, breaches, escalations."""
    from datetime import datetime

    from service.sweep import sweep

    if not once:
        typer.echo("Use --once for a single sweep; `jiefen scheduler` runs sweeps continuously.", err=True)
        raise typer.Exit(2)
    at = clock.now()
    if now is not None:
        try:
            at = datetime.fromisoformat(now)
        except ValueError as exc:
            typer.echo(f"--now: not an ISO-8601 instant: {now!r}", err=True)
            raise typer.Exit(2) from exc
        if at.tzinfo is None:
            typer.echo("--now: give a timezone, e.g. +08:00", err=True)
            raise typer.Exit(2)
    settings = get_settings()
    ctx = _context(settings)

    async def work(engine: object) -> str:
        from sqlalchemy.ext.asyncio import AsyncEngine

        assert isinstance(engine, AsyncEngine)
        report = await sweep(engine, ctx, now=at)
        return (
            f"sweep as of {at.isoformat()}: {report.warned} warnings, {report.breached} breaches "
            f"{report.actions or ''}, {report.duplicates} already done elsewhere"
        )

    typer.echo(_run(settings, work))


@deadlines_app.command("recompute")
def deadlines_recompute(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="print what would change; write nothing")
    ] = False,
) -> None:
    """Recompute every open deadline from its case's history with the current policies and
    calendars (after a new config/calendars/YYYY.yaml or a policy change): prints old → new per
    deadline, and writes each changed case as an audited event. Safe to run again."""
    from datetime import datetime

    from service.clock import SHANGHAI
    from service.recompute import RecomputeReport, recompute_deadlines

    settings = get_settings()
    ctx = _context(settings)
    at = clock.now()

    async def work(engine: AsyncEngine) -> RecomputeReport:
        return await recompute_deadlines(engine, ctx, now=at, dry_run=dry_run)

    report = _run(settings, work)

    def shown(moment: datetime) -> str:
        return moment.astimezone(SHANGHAI).isoformat(timespec="minutes")

    for c in report.changes:
        typer.echo(
            f"{c.number} {c.kind}: due {shown(c.old_due)} → {shown(c.new_due)}; "
            f"{c.warnings_moved} pending warnings moved"
        )
    for line in report.skipped:
        typer.echo(f"skipped: {line}", err=True)
    for number in report.stale_cases:
        typer.echo(f"{number}: changed while recomputing, nothing written; run again", err=True)
    if dry_run:
        typer.echo(
            f"dry run: {len(report.changes)} of {report.checked} open deadlines would change "
            f"in {report.cases} cases; nothing written"
        )
        return
    typer.echo(
        f"recomputed {report.checked} open deadlines: {len(report.changes)} changed in "
        f"{report.written_cases} cases, {len(report.stale_cases)} cases changed meanwhile"
    )
    if report.stale_cases:
        raise typer.Exit(1)


@app.command("scheduler")
def scheduler_command() -> None:
    """Run the deadline sweep and webhook delivery as their own process (no API)."""
    from service.scheduler import build_scheduler, http_client

    settings = get_settings()
    ctx = _context(settings)

    async def work(engine: object) -> None:
        from sqlalchemy.ext.asyncio import AsyncEngine

        assert isinstance(engine, AsyncEngine)
        await sync_units(engine, ctx.org)
        async with http_client(ctx) as client:
            scheduler = build_scheduler(engine, ctx, client)
            scheduler.start()
            if settings.metrics_enabled and settings.scheduler_metrics_port:
                from prometheus_client import start_http_server

                # Sweep duration and lag, webhook deliveries: this process's own metrics.
                try:
                    start_http_server(settings.scheduler_metrics_port)
                except OSError as exc:  # the sweep matters more than its metrics
                    typer.echo(f"metrics not served on :{settings.scheduler_metrics_port}: {exc}", err=True)
            typer.echo(
                f"scheduler running: sweep every {settings.sweep_interval_seconds:g} s, "
                f"webhooks every {settings.delivery_interval_seconds:g} s (Ctrl-C stops)"
            )
            try:
                await asyncio.Event().wait()
            finally:
                scheduler.shutdown(wait=False)

    _run(settings, work)


@outbox_app.command("retry")
def outbox_retry() -> None:
    """Send dead-lettered webhook messages again from the start."""
    from service.notifications.delivery import retry_dead

    settings = get_settings()

    async def work(engine: object) -> int:
        from sqlalchemy.ext.asyncio import AsyncEngine

        assert isinstance(engine, AsyncEngine)
        return await retry_dead(engine, now=clock.now())

    typer.echo(f"{_run(settings, work)} dead-lettered messages queued for delivery again")


@privacy_app.command("new-key")
def privacy_new_key(
    kid: Annotated[
        str | None,
        typer.Option(help="key id, letters and digits (default: k1, or the next after JIEFEN_DATA_KEY's)"),
    ] = None,
) -> None:
    """Print a new AES-256 key line for JIEFEN_DATA_KEY (keep it out of the repository). With a
    key ring already set, the new key gets the next id, ready to go first in the rotated ring."""
    from service.personal.crypto import DataKeyError, new_key_line, next_kid

    if kid is None:
        ring = os.environ.get("JIEFEN_DATA_KEY")
        ring_file = os.environ.get("JIEFEN_DATA_KEY_FILE")
        try:
            if not ring and ring_file:
                ring = Path(ring_file).read_text(encoding="utf-8")
            kid = next_kid(ring)
        except (OSError, DataKeyError) as exc:
            typer.echo(f"Cannot read the current key ring to number the new key: {exc}", err=True)
            raise typer.Exit(2) from exc
    typer.echo(new_key_line(kid))


@privacy_app.command("rotate-key")
def privacy_rotate_key() -> None:
    """Re-encrypt every party, crime report, mediator, webhook secret and case file under the first
    key of JIEFEN_DATA_KEY (older keys must still be listed)."""
    from service.attachments.service import reseal_attachments
    from service.cases.reports import reseal_reports
    from service.mediators.service import reseal_mediators
    from service.notifications.secrets import seal_secrets
    from service.privacy.parties import reseal_all
    from service.screening.major import reseal_reports as reseal_major_reports

    settings = get_settings()
    ctx = _context(settings)

    async def work(engine: object) -> tuple[int, int, int, int, int]:
        from sqlalchemy.ext.asyncio import AsyncEngine

        assert isinstance(engine, AsyncEngine)
        parties = await reseal_all(engine, ctx.cipher, only_plaintext=False)
        reports = await reseal_reports(engine, ctx.cipher)
        reports += await reseal_major_reports(engine, ctx.cipher)  # major-dispute reports' statements
        mediators = await reseal_mediators(engine, ctx.cipher)
        secrets = await seal_secrets(engine, ctx.cipher, only_plaintext=False)
        return parties, reports, mediators, secrets, await reseal_attachments(engine, ctx.cipher)

    count, reports, mediators, secrets, files = _run(settings, work)
    typer.echo(
        f"re-encrypted {count} parties, {reports} crime reports, {files} case files, {mediators} mediators"
        f" and {secrets} webhook secrets under key "
        f"{ctx.cipher.current_kid}; the old keys may now be removed"
    )


@privacy_app.command("export")
def privacy_export(
    id_number: Annotated[str, typer.Option(help="the person's ID number")],
    output: Annotated[
        Path | None, typer.Option(help="write the JSON here instead of standard output")
    ] = None,
) -> None:
    """Everything held about a person (PIPL art. 45), as JSON; the export itself is audited.
    --output makes a new file readable by its owner only; it never overwrites a file or follows a link."""
    import json

    from service.privacy.pipl import create_private_file, export_person

    settings = get_settings()
    ctx = _context(settings)

    async def work(engine: object) -> dict[str, object]:
        from sqlalchemy.ext.asyncio import AsyncEngine

        assert isinstance(engine, AsyncEngine)
        return await export_person(engine, ctx, id_number, actor="cli", now=clock.now())

    if output is None:
        typer.echo(json.dumps(_run(settings, work), ensure_ascii=False, indent=2))
        return
    try:  # before the export: a refused path exports (and records) nothing
        file = create_private_file(output)
    except FileExistsError as exc:
        typer.echo(f"error: {output} already exists (or is a symbolic link); name a new file", err=True)
        raise typer.Exit(2) from exc
    except OSError as exc:
        typer.echo(f"error: cannot create {output}: {exc.strerror}", err=True)
        raise typer.Exit(2) from exc
    with file:
        try:
            text = json.dumps(_run(settings, work), ensure_ascii=False, indent=2)
        except BaseException:
            output.unlink(missing_ok=True)
            raise
        file.write((text + "\n").encode("utf-8"))
    typer.echo(f"written to {output} (readable by its owner only)")


@privacy_app.command("anonymise-closed")
def privacy_anonymise(
    closed_before_days: Annotated[
        int, typer.Option(help="cases closed longer ago than this (at least 365)")
    ] = 1825,
) -> None:
    """Remove personal data from cases closed past retention; statistics are kept; audited."""
    from service.privacy.pipl import anonymise_closed_cases

    settings = get_settings()
    ctx = _context(settings)

    async def work(engine: object) -> int:
        from sqlalchemy.ext.asyncio import AsyncEngine

        assert isinstance(engine, AsyncEngine)
        return await anonymise_closed_cases(
            engine, ctx, closed_before_days=closed_before_days, actor="cli", now=clock.now()
        )

    try:
        count = _run(settings, work)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"anonymised {count} closed cases")


@audit_app.command("new-key")
def audit_new_key() -> None:
    """Print a new audit key (base64) for JIEFEN_AUDIT_KEY or JIEFEN_AUDIT_KEY_FILE. A database
    stays with the key its trail was first signed with: keep the key safe, apart from backups."""
    from service.audit.keys import new_key_text

    typer.echo(new_key_text())


@audit_app.command("verify")
def audit_verify(
    checkpoints: Annotated[
        list[Path] | None,
        typer.Option(
            "--checkpoints",
            help="checkpoint files, or directories of them, to hold the trail against (repeatable)",
        ),
    ] = None,
) -> None:
    """Recompute every keyed link and case digest: says 'intact' with the counts, or names the
    first broken link; with --checkpoints, also finds cases and events removed since each was
    taken. Reads only: a database without the current schema is reported (exit 2), never migrated."""
    from service.integrity.checkpoint import verify_checkpoints
    from service.integrity.verify import VerifyReport, verify_audit

    settings = get_settings()

    async def work(engine: AsyncEngine) -> tuple[VerifyReport, int, list[str]]:
        report = await verify_audit(engine)
        checked, findings = await verify_checkpoints(engine, checkpoints or [])
        return report, checked, [f"{f.path.name}: {f.problem}" for f in findings]

    report, checked, findings = _read_only(settings, work)
    counts = (
        f"{report.case_events} case events in {report.cases} cases, {report.security_events} security events"
    )
    if checkpoints:
        counts += f", {checked} checkpoints"
    for finding in findings:
        typer.echo(f"REMOVED OR REPLACED: {finding}", err=True)
    if report.intact and not findings:
        typer.echo(f"intact: {counts}")
        return
    if not report.intact:
        typer.echo(f"BROKEN: {report.broken} (checked {counts} before it)", err=True)
    raise typer.Exit(1)


@audit_app.command("checkpoint")
def audit_checkpoint(
    directory: Annotated[
        Path | None, typer.Option("--dir", help="where to write it (default: JIEFEN_AUDIT_CHECKPOINT_DIR)")
    ] = None,
) -> None:
    """Write a signed checkpoint of the whole audit trail (the scheduler writes one every
    JIEFEN_AUDIT_CHECKPOINT_MINUTES when JIEFEN_AUDIT_CHECKPOINT_DIR is set). Reads only."""
    from service.integrity.checkpoint import take_checkpoint, write_checkpoint

    settings = get_settings()
    target = directory or settings.audit_checkpoint_dir
    if target is None:
        typer.echo("Name a directory: --dir, or JIEFEN_AUDIT_CHECKPOINT_DIR", err=True)
        raise typer.Exit(2)

    async def work(engine: AsyncEngine) -> dict[str, object]:
        settle = timedelta(seconds=settings.audit_checkpoint_settle_seconds)
        return await take_checkpoint(engine, now=clock.now(), settle=settle)

    from service.audit.keys import AuditKeyError

    try:
        checkpoint = _read_only(settings, work)
    except AuditKeyError as exc:
        typer.echo(f"No checkpoint written: {exc}", err=True)
        raise typer.Exit(2) from exc
    path = write_checkpoint(target, checkpoint)
    typer.echo(f"checkpoint of {checkpoint['cases']} cases and {checkpoint['case_events']} events: {path}")


@audit_app.command("purge-security-events")
def audit_purge(
    older_than_days: Annotated[
        int, typer.Option(help="delete security events older than this (at least 183)")
    ] = 365,
) -> None:
    """Delete security events past retention; the purge is itself recorded and the chain re-anchored."""
    from service.audit.retention import purge_security_events

    settings = get_settings()

    async def work(engine: object) -> int:
        from sqlalchemy.ext.asyncio import AsyncEngine

        assert isinstance(engine, AsyncEngine)
        return await purge_security_events(
            engine, older_than_days=older_than_days, actor="cli", now=clock.now()
        )

    try:
        count = _run(settings, work)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"purged {count} security events older than {older_than_days} days")


README_BEGIN = "<!-- lifecycle-diagram:begin (generated by `jiefen diagram --readme README.md`) -->"
README_END = "<!-- lifecycle-diagram:end -->"


def readme_with_diagram(readme: str, diagram: str) -> str:
    """The README text with the block between the markers replaced by the current diagram."""
    start, end = readme.index(README_BEGIN) + len(README_BEGIN), readme.index(README_END)
    return readme[:start] + "\n```mermaid\n" + diagram + "```\n" + readme[end:]


@app.command()
def diagram(
    readme: Annotated[
        Path | None, typer.Option(help="rewrite the diagram block of this README in place")
    ] = None,
) -> None:
    """Print the lifecycle as a mermaid diagram, generated from the transition table."""
    from workflows.lifecycle import mermaid_diagram

    if readme is None:
        typer.echo(mermaid_diagram(), nl=False)
        return
    readme.write_text(
        readme_with_diagram(readme.read_text(encoding="utf-8"), mermaid_diagram()), encoding="utf-8"
    )
    typer.echo(f"updated the lifecycle diagram in {readme}")


def main() -> None:
    try:
        settings = get_settings()
        configure_logging(settings.log_format, settings.log_level)
    except ValueError:  # invalid settings: the command reports them; log as text meanwhile
        configure_logging()
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)

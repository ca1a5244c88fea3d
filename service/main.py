"""create_app() and its lifespan: configuration, database, routes, error handlers."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.ext.asyncio import AsyncEngine
from swagger_ui_bundle import swagger_ui_path

from service import clock, migrate
from service.admission import Admission
from service.assignment.routes import router as assignment_router
from service.attachments.routes import UPLOAD_PAGES, upload_limits
from service.attachments.routes import router as attachments_router
from service.audit.keys import AuditKey, AuditKeyError, engine_options, new_key_text
from service.auditor.routes import router as auditor_router
from service.casefile.routes import router as casefile_router
from service.caseload.routes import router as caseload_router
from service.cases.report_routes import router as crime_reports_router
from service.cases.routes import router as cases_router
from service.config.calendars import calendar_warnings, load_calendar
from service.config.case_file import load_case_file_rules
from service.config.deadlines import load_deadlines
from service.config.loading import ConfigError, ConfigProblem
from service.config.numbering import load_numbering
from service.config.screening import load_screening_policy
from service.config.settings import Settings, get_settings
from service.config.triage import load_triage
from service.config.units import load_units
from service.config.webhooks import TargetPolicy, load_webhooks
from service.context import AppContext
from service.court.routes import router as court_router
from service.db import create_engine, is_sqlite, session_factory
from service.documents.render import TemplateError, load_templates
from service.documents.routes import router as documents_router
from service.dossier.routes import router as dossier_router
from service.errors import PROBLEM_RESPONSES, install_handlers
from service.filings.routes import router as filings_router
from service.health import router as health_router
from service.http_safety import install as install_http_safety
from service.http_safety import install_trusted_proxies
from service.inbox.pages import router as inbox_pages_router
from service.inbox.routes import router as inbox_router
from service.integrity.backfill import UnsignedTrail, check_audit_key
from service.mediators.routes import router as mediators_router
from service.moj.routes import router as moj_router
from service.notifications.routes import admin as webhooks_router
from service.notifications.secrets import seal_secrets
from service.notifications.sync import sync_webhooks
from service.numbering.routes import router as numbering_router
from service.numbering.service import Numbering
from service.observability import install_observability
from service.personal.crypto import DataCipher, DataKeyError, load_or_create_key_file, new_key_line
from service.privacy.parties import reseal_all
from service.privacy.routes import router as privacy_router
from service.scheduler import build_scheduler, http_client
from service.screening.major import on_edit as major_on_edit
from service.screening.major import on_registration as major_on_registration
from service.screening.routes import router as screening_router
from service.sessions.routes import router as sessions_router
from service.stats.routes import router as stats_router
from service.subsidy.routes import router as subsidy_router
from service.subsidy.rules import load_rules as load_subsidy_rules
from service.units.routes import router as units_router
from service.units.sync import sync_units
from service.users.routes import router as auth_router
from service.users.security import hash_workers
from service.users.service import token_cache
from service.web import install as install_web
from service.workflow_routes import router as workflow_router

log = logging.getLogger(__name__)


def load_context(settings: Settings) -> AppContext:
    """Load and validate every configuration file; raises ConfigError naming file and key."""
    org = load_units(settings.config_dir / "units")
    rules = load_triage(settings.config_dir / "triage.yaml")
    calendar = load_calendar(settings.config_dir / "calendars")
    policies = load_deadlines(settings.config_dir / "deadlines.yaml")
    webhooks = load_webhooks(
        settings.config_dir / "webhooks.yaml", org, policy=TargetPolicy.from_settings(settings)
    )
    return AppContext(
        settings=settings,
        org=org,
        rules=rules,
        calendar=calendar,
        policies=policies,
        cipher=load_cipher(settings),
        webhooks=webhooks,
        after_registration=[major_on_registration],  # a group dispute is reported at once
        after_edit=[major_on_edit],  # and so is a case corrected to be one
    )


async def backfill(engine: AsyncEngine, context: AppContext) -> None:
    """One-off data upgrades that scan whole tables: run by `jiefen migrate` (the one-shot job in
    docker-compose) and before `jiefen serve` starts, not by every API replica at start-up."""
    sealed = await reseal_all(engine, context.cipher, only_plaintext=True)
    if sealed:
        log.warning("encrypted personal data of %s parties stored in clear before", sealed)
    secrets = await seal_secrets(engine, context.cipher, only_plaintext=True)
    if secrets:
        log.warning("encrypted %s webhook secrets stored in clear before", secrets)


def _key_text(
    settings: Settings,
    setting: str,
    value: str | None,
    file: Path | None,
    default: str,
    make: Callable[[], str],
    why: str,
) -> str:
    """A key's text from the environment, a key file, or (embedded default only) a file beside
    the database, created once by ``make`` (owner-only); else a ConfigError naming the setting."""
    if value:
        return value
    if file:
        return file.read_text(encoding="utf-8")
    if settings.is_default_database:
        return load_or_create_key_file(settings.data_dir / default, make)
    raise ConfigError([ConfigProblem(setting, "", f"set {setting} or {setting}_FILE: {why}")])


def load_cipher(settings: Settings) -> DataCipher:
    """The personal-data key ring: environment, key file, or (embedded default only) var/data.key."""
    try:
        text = _key_text(
            settings,
            "JIEFEN_DATA_KEY",
            settings.data_key,
            settings.data_key_file,
            "data.key",
            new_key_line,
            "personal data is encrypted at rest (generate one with `jiefen privacy new-key`)",
        )
        return DataCipher.from_text(text)
    except (OSError, DataKeyError) as exc:
        raise ConfigError([ConfigProblem("JIEFEN_DATA_KEY", "", str(exc))]) from exc


def load_audit_key(settings: Settings) -> AuditKey:
    """The audit trail's key: environment, key file, or (embedded default only) var/audit.key."""
    try:
        text = _key_text(
            settings,
            "JIEFEN_AUDIT_KEY",
            settings.audit_key,
            settings.audit_key_file,
            "audit.key",
            new_key_text,
            "the audit trail is signed with a key kept outside the database "
            "(generate one with `jiefen audit new-key`)",
        )
        return AuditKey.from_text(text)
    except (OSError, AuditKeyError) as exc:
        raise ConfigError([ConfigProblem("JIEFEN_AUDIT_KEY", "", str(exc))]) from exc


def engine_for(settings: Settings, *, pool_size: int | None = None) -> AsyncEngine:
    """The database engine, carrying the audit key that signs what it writes to the trail."""
    url = settings.effective_database_url
    if is_sqlite(url):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    return create_engine(
        url,
        pool_size=pool_size or settings.db_pool_size,
        execution_options=engine_options(load_audit_key(settings)),
    )


def reporting_engine_for(settings: Settings, primary: AsyncEngine) -> AsyncEngine:
    """The engine statistics and reports read from: the replica of
    ``JIEFEN_REPORTING_DATABASE_URL`` (never migrated nor written: a hot standby refuses writes),
    or the primary itself when the setting is unset."""
    url = settings.reporting_database_url
    if not url:
        return primary
    return create_engine(
        url,
        pool_size=settings.db_pool_size,
        execution_options=engine_options(load_audit_key(settings)),
    )


def create_app(settings: Settings | None = None, *, migrate_on_start: bool = True) -> FastAPI:
    settings = settings or get_settings()
    try:
        context = load_context(settings)
        case_file_rules = load_case_file_rules(settings.config_dir / "case_file.yaml")
        subsidy_rules = load_subsidy_rules(settings.config_dir / "subsidy.yaml").judging_files_by(
            case_file_rules
        )
        numbering = Numbering(
            load_numbering(settings.config_dir / "numbering.yaml", context.org), context.org
        )
        document_templates = load_templates(settings.config_dir / "documents")
        load_screening_policy(settings.config_dir / "screening.yaml")
        load_audit_key(settings)  # fail here, naming the setting, not inside the lifespan
    except (ConfigError, TemplateError) as exc:
        raise SystemExit(f"Configuration is invalid:\n{exc}") from exc

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = engine_for(settings)
        if migrate_on_start:
            await migrate.upgrade(engine)
        try:
            await check_audit_key(engine)
        except (AuditKeyError, UnsignedTrail) as exc:
            await engine.dispose()
            raise SystemExit(f"Cannot start: {exc}") from exc
        await sync_units(engine, context.org)
        await sync_webhooks(engine, context.webhooks, clock.now(), context.cipher)
        for warning in calendar_warnings(context.calendar, clock.now().astimezone(clock.SHANGHAI).date()):
            log.warning("CALENDAR: %s", warning)
        token_cache.seconds = settings.token_cache_seconds
        token_cache.clear()
        hash_workers.resize(settings.password_hash_threads)
        app.state.engine = engine
        app.state.reporting_engine = reporting = reporting_engine_for(settings, engine)
        app.state.sessions = session_factory(engine)
        client = http_client(context)
        scheduler = build_scheduler(engine, context, client) if settings.run_scheduler else None
        if scheduler is not None:
            scheduler.start()
        # Start-up objects live forever: keep them out of the collector's way (p99 latency).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.shutdown(wait=False)
            await client.aclose()
            if reporting is not engine:
                await reporting.dispose()
            await engine.dispose()

    app = FastAPI(
        title="Jiefen 解纷",
        version="0.1.0",
        summary="Case routing for non-litigation dispute resolution in Kunshan's three-tier mediation network",
        lifespan=lifespan,
        default_response_class=JSONResponse,
        # The stock /docs page loads Swagger UI from a CDN; ours serves the pinned copy itself.
        docs_url=None,
        # Every route documents its 422 as the problem+json the service really sends.
        responses=PROBLEM_RESPONSES,
        redoc_url=None,
    )
    app.state.context = context
    app.state.subsidy_rules = subsidy_rules
    app.state.case_file_rules = case_file_rules
    app.state.numbering = numbering
    app.state.document_templates = document_templates
    install_handlers(app)
    # Added first, so innermost: an oversized request is refused before it takes a turn, and a
    # request that waits its turn is still timed and logged.
    app.add_middleware(Admission, limit=settings.request_concurrency or settings.db_pool_size)
    install_http_safety(
        app,
        max_body_bytes=settings.max_body_bytes,
        larger=upload_limits(settings.attachment_max_bytes),
        pages=UPLOAD_PAGES,
    )
    install_observability(app, settings)  # after http_safety: wraps it, so a 413 has an id too
    # Outermost: everything inside (logs, throttling, the audit trail) sees the real client.
    install_trusted_proxies(app, settings.trusted_proxy_networks)
    app.include_router(auth_router)
    app.include_router(cases_router)
    # Before any /api/v1/mediators/{id} route: "caseload" is not a mediator's id.
    app.include_router(caseload_router)
    app.include_router(assignment_router)
    app.include_router(sessions_router)
    app.include_router(crime_reports_router)
    app.include_router(units_router)
    app.include_router(inbox_router)
    app.include_router(court_router)
    app.include_router(privacy_router)
    app.include_router(webhooks_router)
    app.include_router(workflow_router)
    app.include_router(health_router)
    app.include_router(moj_router)
    app.include_router(stats_router)
    app.include_router(auditor_router)
    app.include_router(mediators_router)
    app.include_router(subsidy_router)
    app.include_router(filings_router)
    app.include_router(attachments_router)
    app.include_router(numbering_router)
    app.include_router(casefile_router)
    app.include_router(documents_router)
    app.include_router(screening_router)
    app.include_router(dossier_router)
    _install_docs(app)
    install_web(app)
    app.include_router(inbox_pages_router)  # the inbox's page: service.inbox renders through service.web
    return app


def _install_docs(app: FastAPI) -> None:
    app.mount("/static/swagger-ui", StaticFiles(directory=swagger_ui_path), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="Jiefen 解纷 API",
            swagger_js_url="/static/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/static/swagger-ui/favicon-32x32.png",
        )

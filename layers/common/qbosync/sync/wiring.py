"""The composition root: every service the handlers call, built from settings and secrets.

One style throughout: a service that is safe to share for a container's life is a cached factory
(``@_cached``: built on first use, never at import time); a tenant's clients are built per call. Services
take their collaborators as required arguments and import nothing from here, so this is the only module
that knows the production graph. A router built from its own parts (an API app's dependencies) caches
what it builds from them through ``cached_factory``, the same style. ``reset()`` forgets everything
cached (the root ``tests/conftest.py`` calls it around every test).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping
from functools import cache
from typing import TYPE_CHECKING, TypeVar

# Each factory imports its service and stores itself: a handler's first request loads the graph of the
# services it calls, not the whole project's (cold start, README).
if TYPE_CHECKING:
    from datetime import datetime

    from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer

    from qbosync.qbo.client import QboClient
    from qbosync.qbo.governor import RealmGovernor
    from qbosync.qbo.oauth import IntuitOAuthClient, TokenGrant
    from qbosync.qbo.read_budget import ReadBudget, ReadPurpose
    from qbosync.source.port import SourcePort
    from qbosync.store.app_secrets import AppSecrets
    from qbosync.store.reconcile_signals import ReconcileSignalRepository
    from qbosync.store.tokens import TokenVault
    from qbosync.sync.backstop import ReconcileCadence
    from qbosync.sync.bulk.dependencies import BulkSyncDependencies
    from qbosync.sync.bulk.plan import InitialSyncPlanner
    from qbosync.sync.bulk.service import InitialSyncService
    from qbosync.sync.configuration import ConfigurationService, MappingRow, TenantSettings
    from qbosync.sync.connection import ConnectionService
    from qbosync.sync.fanout import ScheduleDispatcher, ScheduledWorker
    from qbosync.sync.keepalive import TokenKeepAlive
    from qbosync.sync.onboarding.link_import import LinkImportService
    from qbosync.sync.onboarding.suggestions import SuggestionService
    from qbosync.sync.onboarding.undo import RunUndo
    from qbosync.sync.preflight import PreflightReport
    from qbosync.sync.pull.service import PullService
    from qbosync.sync.push.service import PushService
    from qbosync.sync.reconcile import Reconciler
    from qbosync.sync.reference import ConnectionReader
    from qbosync.sync.reports import ReconciliationReporter
    from qbosync.sync.retry.pause import TenantPause
    from qbosync.sync.retry.replay import EventReplay
    from qbosync.sync.retry.requeue import EventRequeue
    from qbosync.sync.retry.schedule import EventRetrySchedule

_T = TypeVar("_T")
_CACHED: list[Callable[[], object]] = []
# Factories made for one router live as long as it does (tests build many), so they are held weakly.
_ROUTER_CACHED: weakref.WeakSet[Callable[[], object]] = weakref.WeakSet()


def _cached(factory: Callable[[], _T]) -> Callable[[], _T]:
    """Build on first call, then reuse for the container's life; ``reset()`` forgets it."""
    built = cache(factory)
    _CACHED.append(built)
    return built


def cached_factory(factory: Callable[[], _T]) -> Callable[[], _T]:
    """``factory`` built on its first call (never when a router is made), then reused while its owner
    lives; ``reset()`` forgets it. For services a router builds from the parts it was given."""
    built = cache(factory)
    _ROUTER_CACHED.add(built)
    return built


def reset() -> None:
    """Forget every cached service and client, and the process-wide caches under them (the shared
    httpx client, the shared secret cache, the boto3 clients, the token cache): tests switching
    environments use this."""
    from qbosync.invocation import forget_end_work
    from qbosync.qbo.http import shared_http_client
    from qbosync.store.app_secrets import shared_secret_box
    from qbosync.store.aws import reset_clients
    from qbosync.store.tokens import clear_token_cache

    for factory in [*_CACHED, *_ROUTER_CACHED]:
        factory.cache_clear()  # type: ignore[attr-defined]
    shared_http_client.cache_clear()
    shared_secret_box.cache_clear()
    reset_clients()
    clear_token_cache()
    forget_end_work()


# --- QBO, Intuit and the source --------------------------------------------------------------------


@_cached
def app_secrets() -> AppSecrets:
    """The app's secrets behind one max-age cache per container (a rotated secret is picked up)."""
    from qbosync.store.app_secrets import AppSecrets, SecretBox

    return AppSecrets(SecretBox())


@_cached
def oauth_client() -> IntuitOAuthClient:
    """The Intuit app's OAuth client; its client credentials are read through ``app_secrets()``."""
    from qbosync.qbo.oauth import IntuitOAuthClient
    from qbosync.settings import get_settings

    return IntuitOAuthClient(
        str(get_settings().intuit_discovery_url), credentials=app_secrets().intuit_client_credentials
    )


class _CountedRefresher:
    """Intuit's refresh, counted (``TokenRefreshes``) wherever the vault asks for one."""

    def __init__(self, oauth: IntuitOAuthClient) -> None:
        self._oauth = oauth

    def refresh(self, refresh_token: str) -> TokenGrant:
        from qbosync.metrics import Metric, count

        count(Metric.TOKEN_REFRESHES)
        return self._oauth.refresh(refresh_token)


@_cached
def realm_governor() -> RealmGovernor:
    """The per-realm rate governor, shared through DynamoDB by every container. The container keeps its
    concurrency slots between QBO calls and gives them back at the end of each invocation."""
    from qbosync.invocation import at_invocation_end
    from qbosync.metrics import Metric, count
    from qbosync.qbo.governor import RealmGovernor
    from qbosync.settings import get_qbo_limits
    from qbosync.store.governor import DynamoGovernorStore

    class CountedGovernor(RealmGovernor):
        """The governor, counting each 429 it absorbs (``QboThrottledAbsorbed``)."""

        def throttled(self, realm_id: str, retry_after: float | None) -> None:
            count(Metric.QBO_THROTTLED)
            super().throttled(realm_id, retry_after)

    limits = get_qbo_limits()
    governor = CountedGovernor(
        DynamoGovernorStore(window_seconds=limits.window_seconds), limits, keep_slots=True
    )
    at_invocation_end("governor-slots", governor.release_kept)
    return governor


def token_vault(tenant_id: str) -> TokenVault:
    """A tenant's token vault, refreshing through the Intuit app."""
    from qbosync.qbo.oauth import InvalidGrant
    from qbosync.store.tokens import TokenVault

    return TokenVault(
        tenant_id, refresher=_CountedRefresher(oauth_client()), invalid_grant_errors=(InvalidGrant,)
    )


@_cached
def read_budget() -> ReadBudget:
    """The app-wide Intuit read budget, counted in batches into DynamoDB (reads per purpose as metrics)."""
    from qbosync.invocation import at_invocation_end
    from qbosync.metrics import count_reads
    from qbosync.qbo.read_budget import ReadBudget, ReadBudgetPolicy
    from qbosync.settings import get_read_budget_settings
    from qbosync.store.read_budget import DynamoReadBudgetStore

    settings = get_read_budget_settings()

    def counted(reads: Mapping[str, int]) -> None:
        for purpose, reads_made in reads.items():
            count_reads(purpose, reads_made)

    budget = ReadBudget(
        ReadBudgetPolicy(settings.monthly_allowance, settings.reserve),
        DynamoReadBudgetStore(),
        flush_every=settings.flush_every,
        flush_seconds=settings.flush_seconds,
        on_flush=counted,
    )
    # A container may be frozen for hours after an invocation: its counts go to the shared counter first.
    at_invocation_end("read_budget", budget.flush)
    return budget


def qbo_client_for_tenant(tenant_id: str, purpose: ReadPurpose | None = None) -> QboClient:
    """A QBO client for the tenant's connected company, governed, refreshing its own tokens, and
    counting its reads for ``purpose`` (an admin's, when not given) against the read budget."""
    from qbosync.errors import NotConnected
    from qbosync.qbo.client import QboClient
    from qbosync.qbo.read_budget import ReadPurpose, TenantReads
    from qbosync.store.connections import ConnectionRepository

    connection = ConnectionRepository().get(tenant_id)
    if connection is None or connection.status == "disconnected":
        raise NotConnected(f"Tenant '{tenant_id}' has no QuickBooks connection.")
    return QboClient.for_realm(
        connection.realm_id,
        token_vault(tenant_id),
        realm_governor(),
        reads=TenantReads(read_budget(), tenant_id, purpose or ReadPurpose.ADMIN),
    )


def qbo_reader_for(purpose: ReadPurpose) -> Callable[[str], QboClient]:
    """``qbo_client_for_tenant`` with its reads counted for ``purpose``, for a flow's ``qbo_for``."""

    def for_tenant(tenant_id: str) -> QboClient:
        return qbo_client_for_tenant(tenant_id, purpose)

    return for_tenant


class _FreshTokenProvider:
    """Serves the access token of a grant just obtained, before any vault holds it."""

    def __init__(self, access_token: str):
        self._token = access_token

    def access_token(self) -> str:
        return self._token

    def refresh_after_unauthorized(self, rejected: str) -> str:
        from qbosync.qbo.faults import QboAuthenticationFault

        raise QboAuthenticationFault("QuickBooks refused a token it had just issued", status=401)


def company_reader(realm_id: str, access_token: str) -> QboClient:
    """A client for a company being connected, using the token from the code exchange."""
    from qbosync.qbo.client import QboClient

    return QboClient.for_realm(realm_id, _FreshTokenProvider(access_token), realm_governor())


def source_for_tenant(tenant_id: str) -> SourcePort:
    """The tenant's source system, through the adapter its tenant record names (the source contract's
    HTTP adapter at ``SOURCE_BASE_URL`` when it names none)."""
    from qbosync.settings import get_settings
    from qbosync.source.registry import default_registry
    from qbosync.store.app_secrets import TenantSecrets, shared_secret_box
    from qbosync.store.source_versions import SourceVersionStore
    from qbosync.store.source_write_keys import SourceWriteKeys
    from qbosync.store.tenants import TenantRepository

    # Through the container's secret cache: a worker builds a source per batch, not per container.
    credentials = TenantSecrets(shared_secret_box()).source_credentials(tenant_id)
    # Versions and idempotency keys qbosync keeps for a source without them (Rev.io) live in the main
    # table, so every container and worker sees the same ones.
    return default_registry().build(
        tenant_id,
        TenantRepository().get(tenant_id).source,
        credentials,
        default_base_url=get_settings().source_base_url,
        version_store=SourceVersionStore(tenant_id),
        write_keys=SourceWriteKeys(tenant_id),
    )


# --- A tenant's configuration ----------------------------------------------------------------------


def configuration_service() -> ConfigurationService:
    from qbosync.clock import utc_now
    from qbosync.store.config import AuditRepository, MappingRepository, SettingsRepository
    from qbosync.sync.configuration import ConfigurationService

    return ConfigurationService(SettingsRepository(), MappingRepository(), AuditRepository(), utc_now)


def tenant_settings(tenant_id: str) -> TenantSettings:
    """The tenant's stored settings (defaults before the first save)."""
    from qbosync.store.config import SettingsRepository
    from qbosync.sync.configuration import TenantSettings

    stored = SettingsRepository().get(tenant_id)
    return TenantSettings() if stored is None else TenantSettings.model_validate(stored.document)


def payment_method_rows(tenant_id: str) -> list[MappingRow]:
    """The tenant's payment-method mapping rows (none before the first save)."""
    from qbosync.store.config import MappingRepository
    from qbosync.sync.configuration import MappingKind, MappingRow

    stored = MappingRepository().get(tenant_id, MappingKind.PAYMENT_METHODS.value)
    return [] if stored is None else [MappingRow.model_validate(row) for row in stored.document]


# --- Connecting --------------------------------------------------------------------------------------


def _prerequisites_of_connected_company(tenant_id: str, realm_id: str) -> list[dict[str, object]]:
    from qbosync.qbo.read_budget import ReadPurpose
    from qbosync.sync.preflight import connection_prerequisites

    return connection_prerequisites(
        tenant_id, realm_id, qbo_client_for_tenant(tenant_id, ReadPurpose.ONBOARDING)
    )


@_cached
def connection_service() -> ConnectionService:
    """The connect / callback / disconnect flows."""
    from qbosync.settings import get_settings
    from qbosync.store.connections import ConnectionRepository
    from qbosync.store.ledger import WriteLedger
    from qbosync.store.oauth_states import OAuthStateRepository
    from qbosync.sync.connection import ConnectionService
    from qbosync.sync.oauth_state import OAuthStateSigner

    settings = get_settings()
    return ConnectionService(
        states=OAuthStateRepository(),
        connections=ConnectionRepository(),
        signer=OAuthStateSigner(lambda: app_secrets().state_signing_key().get_secret_value().encode()),
        oauth=oauth_client(),
        vault_for=token_vault,
        company_reader_for=company_reader,
        prerequisites=_prerequisites_of_connected_company,
        redirect_uri=settings.oauth_redirect_uri,
        admin_return_url=settings.admin_return_url,
        writes=WriteLedger(),
        on_connected=release_after_reconnect,
    )


# --- Flows ---------------------------------------------------------------------------------------------


@_cached
def event_requeue() -> EventRequeue:
    from qbosync.store.pull_queue import PullQueue
    from qbosync.store.queues import PushQueue
    from qbosync.sync.retry.requeue import EventRequeue

    return EventRequeue(push_queue=PushQueue(), pull_queue=PullQueue())


def reconciliation_reporter(tenant_id: str) -> ReconciliationReporter:
    """One tenant's reconciliation report: its QBO company, its source and the links between them."""
    from qbosync.store.links import LinkRepository
    from qbosync.sync.reports import ReconciliationReporter

    return ReconciliationReporter(
        tenant_id, qbo_client_for_tenant(tenant_id), source_for_tenant(tenant_id), LinkRepository()
    )


@_cached
def event_replay() -> EventReplay:
    """An admin's retry of one event, and the release of events waiting for a mapping."""
    from qbosync.store.events import EventRepository
    from qbosync.sync.retry.replay import EventReplay

    return EventReplay(EventRepository(), event_requeue())


def release_events_waiting_for_mappings(tenant_id: str, kind: str, source_keys: list[str]) -> int:
    """For the mappings PUT: once these ``kind`` keys are mapped, retry the events that waited for them."""
    return event_replay().release_waiting_for_mappings(tenant_id, kind, source_keys)


def release_events_waiting_for_go_live(tenant_id: str) -> int:
    """For a settings save that sets ``onboarding.go_live_date``: push the documents parked for want of it."""
    from qbosync.store.events import EventRepository
    from qbosync.sync.push.go_live import GO_LIVE_PARKED_KEY
    from qbosync.sync.retry.parked import ParkedRelease

    return ParkedRelease(EventRepository(), event_requeue()).release(tenant_id, GO_LIVE_PARKED_KEY)


def release_after_reconnect(tenant_id: str) -> int:
    """Re-queue the tenant's events that failed because QuickBooks was not connected."""
    return event_replay().release_after_reconnect(tenant_id)


@_cached
def push_service() -> PushService:
    from datetime import timedelta

    from qbosync.clock import utc_now
    from qbosync.qbo.read_budget import ReadPurpose
    from qbosync.settings import get_settings
    from qbosync.store.events import EventRepository
    from qbosync.store.ledger import WriteLedger
    from qbosync.store.links import LinkRepository
    from qbosync.store.tenants import TenantRepository
    from qbosync.sync.push.service import PushDependencies, PushService
    from qbosync.sync.retry.parked import ParkedRelease

    return PushService(
        PushDependencies(
            events=EventRepository(),
            links=LinkRepository(),
            configuration=configuration_service(),
            qbo_for=qbo_reader_for(ReadPurpose.PUSH_LOOKUP),
            source_for=source_for_tenant,
            parked=ParkedRelease(EventRepository(), event_requeue()),
            clock=utc_now,
            ledger=WriteLedger(),
            requestid_window=timedelta(seconds=get_settings().qbo_requestid_window_seconds),
            paused=TenantRepository().is_paused,
        )
    )


@_cached
def idempotency_store() -> BasePersistenceLayer:
    """Powertools Idempotency's table: the push worker applies each event delivery once."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    from qbosync.settings import get_settings
    from qbosync.store.aws import dynamodb_client

    return DynamoDBPersistenceLayer(
        table_name=get_settings().idempotency_table_name, boto3_client=dynamodb_client()
    )


@_cached
def pull_service() -> PullService:
    from qbosync.qbo.read_budget import ReadPurpose
    from qbosync.store.events import EventRepository
    from qbosync.store.links import LinkRepository
    from qbosync.store.queues import PushQueue
    from qbosync.store.tenants import TenantRepository
    from qbosync.sync.pull.service import PullService

    return PullService(
        qbo_for=qbo_reader_for(ReadPurpose.PULL),
        source_for=source_for_tenant,
        settings_for=tenant_settings,
        payment_methods_for=payment_method_rows,
        links=LinkRepository(),
        events=EventRepository(),
        push_queue=PushQueue(),
        paused=TenantRepository().is_paused,
    )


@_cached
def reconcile_signals() -> ReconcileSignalRepository:
    """What makes a tenant's reconciliation due sooner: requests and detected gaps."""
    from qbosync.store.reconcile_signals import ReconcileSignalRepository

    return ReconcileSignalRepository()


@_cached
def reconcile_cadence() -> ReconcileCadence:
    """When each tenant's reconciliation reads: the backstop CDC and the source listing's backoff."""
    from qbosync.settings import get_read_budget_settings
    from qbosync.store.events import EventRepository
    from qbosync.sync.backstop import ReconcileCadence

    settings = get_read_budget_settings()
    return ReconcileCadence(
        signals=reconcile_signals(),
        budget=read_budget(),
        backstop_interval=settings.reconcile_backstop,
        low_budget_factor=settings.reconcile_low_budget_factor,
        source_max_backoff=settings.source_reconcile_max_backoff,
        events=EventRepository(),
        gap_min_interval=settings.reconcile_gap_min_interval,
    )


@_cached
def reconciler() -> Reconciler:
    from qbosync.qbo.read_budget import ReadPurpose
    from qbosync.store.checkpoints import CheckpointRepository
    from qbosync.store.connections import ConnectionRepository
    from qbosync.store.links import LinkRepository
    from qbosync.store.queues import PushQueue
    from qbosync.store.tenants import TenantRepository
    from qbosync.sync.push.customers import CustomerPush
    from qbosync.sync.reconcile import Reconciler

    links = LinkRepository()
    return Reconciler(
        pull=pull_service(),
        customers=CustomerPush(
            qbo_for=qbo_reader_for(ReadPurpose.PUSH_LOOKUP), source_for=source_for_tenant, links=links
        ),
        qbo_for=qbo_reader_for(ReadPurpose.RECONCILE),
        source_for=source_for_tenant,
        settings_for=tenant_settings,
        connections=ConnectionRepository(),
        checkpoints=CheckpointRepository(),
        links=links,
        push_queue=PushQueue(),
        cadence=reconcile_cadence(),
        paused=TenantRepository().is_paused,
    )


@_cached
def retry_schedule() -> EventRetrySchedule:
    from qbosync.store.connections import ConnectionRepository
    from qbosync.store.events import EventRepository
    from qbosync.store.tenants import TenantRepository
    from qbosync.sync.retry.schedule import EventRetrySchedule

    return EventRetrySchedule(
        events=EventRepository(),
        connections=ConnectionRepository(),
        requeue=event_requeue(),
        paused=TenantRepository().is_paused,
    )


@_cached
def tenant_pause() -> TenantPause:
    """Pausing and resuming a tenant's sync (the admin API and the operator CLI)."""
    from qbosync.clock import utc_now
    from qbosync.store.events import EventRepository
    from qbosync.store.tenants import TenantRepository
    from qbosync.sync.retry.parked import ParkedRelease
    from qbosync.sync.retry.pause import TenantPause

    return TenantPause(TenantRepository(), ParkedRelease(EventRepository(), event_requeue()), utc_now)


@_cached
def token_keepalive() -> TokenKeepAlive:
    from qbosync.sync.keepalive import TokenKeepAlive

    return TokenKeepAlive(vault_for=token_vault)


@_cached
def schedule_dispatcher() -> ScheduleDispatcher:
    from qbosync.store.connections import ConnectionRepository
    from qbosync.store.work_queue import ScheduledWorkQueue
    from qbosync.sync.fanout import ScheduleDispatcher

    return ScheduleDispatcher(connections=ConnectionRepository(), queue=ScheduledWorkQueue())


@_cached
def scheduled_worker() -> ScheduledWorker:
    """One tenant's scheduled job; each service is built on the job's first use in the container."""
    from qbosync.store.connections import ConnectionRepository
    from qbosync.store.job_claims import JobClaims
    from qbosync.sync.fanout import ScheduledJob, ScheduledWorker

    return ScheduledWorker(
        jobs={
            ScheduledJob.RECONCILE: lambda tenant_id: reconciler().reconcile_tenant(tenant_id),
            ScheduledJob.KEEPALIVE: lambda tenant_id: token_keepalive().keep_alive_tenant(tenant_id),
            ScheduledJob.RETRY: lambda tenant_id: retry_schedule().run_tenant(tenant_id),
        },
        claims=JobClaims(),
        connections=ConnectionRepository(),
    )


@_cached
def bulk_sync_dependencies() -> BulkSyncDependencies:
    from qbosync.qbo.read_budget import ReadPurpose
    from qbosync.sync.bulk.dependencies import BulkSyncDependencies

    return BulkSyncDependencies(qbo_for=qbo_reader_for(ReadPurpose.ONBOARDING), source_for=source_for_tenant)


def initial_sync_service(
    connections: ConnectionReader,
    preflight: Callable[[str], PreflightReport],
    clock: Callable[[], datetime],
) -> InitialSyncService:
    """Starts, shows and resumes a tenant's initial bulk sync (one Step Functions execution per run);
    the API passes the connection reader, preflight and clock its routes use."""
    from qbosync.store.executions import BulkSyncExecutions
    from qbosync.store.runs import RunRepository
    from qbosync.sync.bulk.service import InitialSyncService

    return InitialSyncService(RunRepository(), BulkSyncExecutions(), connections, preflight, clock)


# --- Onboarding a tenant whose books already exist ------------------------------------------------------


def initial_sync_planner() -> InitialSyncPlanner:
    """The initial sync's dry run (started as an execution of the dry-run state machine), on the same
    collaborators as the run's tasks."""
    from qbosync.store.executions import DryRunExecutions
    from qbosync.sync.bulk.plan import InitialSyncPlanner

    return InitialSyncPlanner(bulk_sync_dependencies(), executions=DryRunExecutions())


def link_import_service(clock: Callable[[], datetime]) -> LinkImportService:
    from qbosync.store.links import LinkRepository
    from qbosync.sync.onboarding.link_import import LinkImportService

    return LinkImportService(LinkRepository(), qbo_client_for_tenant, source_for_tenant, clock)


def suggestion_service(clock: Callable[[], datetime]) -> SuggestionService:
    from qbosync.store.onboarding import SuggestionRepository
    from qbosync.sync.onboarding.suggestions import SuggestionService

    return SuggestionService(SuggestionRepository(), clock)


def run_undo() -> RunUndo:
    from qbosync.store.links import LinkRepository
    from qbosync.store.runs import RunRepository
    from qbosync.sync.onboarding.undo import RunUndo

    return RunUndo(RunRepository(), LinkRepository(), qbo_client_for_tenant)

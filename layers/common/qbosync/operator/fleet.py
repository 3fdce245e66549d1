"""Operator actions on tenants: register, provision and rotate source credentials, list, offboard, purge."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from pydantic import BaseModel

from qbosync.clock import utc_now
from qbosync.errors import Conflict, ValidationFailed
from qbosync.source.config import SourceAdapterKind, TenantSourceConfig, missing_options
from qbosync.store.app_secrets import AppSecrets, SecretBox, SourceCredentials, TenantSecrets
from qbosync.store.checkpoints import CheckpointRepository
from qbosync.store.connections import ConnectionRepository
from qbosync.store.events import EventRepository, EventStatus
from qbosync.store.source_credentials import SourceCredentialsStore
from qbosync.store.table import MainTable, governor_pk, realm_pk, tenant_pk
from qbosync.store.tenants import Tenant, TenantRepository, UnknownTenant
from qbosync.sync.retry.pause import PauseState, TenantPause

DEFAULT_RETENTION_DAYS = 30
# Failure counts in the fleet listing stop here: enough to rank tenants, without reading a backlog whole.
COUNT_CAP = 1000


class TenantOffboarded(Conflict):
    """The tenant was offboarded; only the purge may touch it now."""

    code = "tenant_offboarded"


class SourceConnectionIncomplete(ValidationFailed):
    """A source connection without a secret or option its adapter kind needs (each named in details)."""

    code = "source_connection_incomplete"


class SourceConnected(BaseModel):
    """What an operator hands on after connecting a tenant's source: for the contract adapter, the
    webhook secret the source signs with; for Rev.io, the path of the tenant's receiver on the API."""

    tenant_id: str
    adapter: SourceAdapterKind
    webhook_secret: str | None = None
    revio_receiver_path: str | None = None


class TenantSummary(BaseModel):
    """One line of the fleet listing."""

    tenant_id: str
    name: str
    connection: str  # not_connected, connected, needs_reauth, disconnected
    realm_id: str | None = None
    needs_reauth_since: datetime | None = None
    last_qbo_reconcile: datetime | None = None
    last_source_reconcile: datetime | None = None
    failed_events: int = 0
    parked_events: int = 0
    offboarded_at: datetime | None = None
    purge_after: datetime | None = None
    paused_at: datetime | None = None
    paused_by: str | None = None


class OffboardReport(BaseModel):
    tenant_id: str
    disconnected: bool  # the QBO grant was revoked at Intuit and its tokens deleted
    offboarded_at: datetime
    purge_after: datetime


class PurgeReport(BaseModel):
    tenant_id: str
    items_deleted: int


def _pause_service() -> TenantPause:
    from qbosync.sync.wiring import tenant_pause

    return tenant_pause()


class Disconnect(Protocol):
    """Revokes the grant at Intuit and deletes the tokens (the admin API's disconnect, run as the operator).

    Raises ``AmbiguousWrites`` while a QBO write's outcome is unknown, unless ``force``."""

    def __call__(self, tenant_id: str, operator: str, *, force: bool = False) -> object: ...


def _disconnect_through_connection_service(tenant_id: str, operator: str, *, force: bool = False) -> None:
    from qbosync.sync.wiring import connection_service

    connection_service().disconnect(tenant_id, operator, force=force)


@dataclass
class FleetOperator:
    """Operator actions over the stack's table and secrets; collaborators are passed in by tests."""

    table: MainTable = field(default_factory=MainTable)
    tenants: TenantRepository = field(default_factory=TenantRepository)
    # Read uncached: an operator's command must see what it just wrote.
    secret_box: SecretBox = field(default_factory=lambda: SecretBox(max_age_seconds=0))
    connections: ConnectionRepository = field(default_factory=ConnectionRepository)
    checkpoints: CheckpointRepository = field(default_factory=CheckpointRepository)
    events: EventRepository = field(default_factory=EventRepository)
    disconnect: Disconnect = _disconnect_through_connection_service
    # Pauses and resumes a tenant's sync (the admin API's pause, run as the operator).
    pause_service: Callable[[], TenantPause] = _pause_service
    clock: Callable[[], datetime] = utc_now

    @property
    def app_secrets(self) -> AppSecrets:
        return AppSecrets(self.secret_box)

    @property
    def tenant_secrets(self) -> TenantSecrets:
        return TenantSecrets(self.secret_box, SourceCredentialsStore(self.table))

    def set_intuit_app(self, client_id: str, client_secret: str, verifier_token: str) -> None:
        """Fill the Intuit app secret the stack creates empty (client id, secret, webhook verifier token)."""
        if not (client_id.strip() and client_secret.strip() and verifier_token.strip()):
            raise ValueError("client id, client secret and verifier token are all required")
        self.app_secrets.put_intuit_app(client_id.strip(), client_secret.strip(), verifier_token.strip())

    def register(self, tenant_id: str, name: str) -> Tenant:
        """Register a tenant (again: renames it). An offboarded tenant must be purged first."""
        tenant = Tenant(tenant_id=tenant_id, name=name)
        self._refuse_offboarded(tenant_id)
        self.tenants.register(tenant)
        return self.tenants.get(tenant_id)

    def provision_source(self, tenant_id: str, api_key: str) -> str:
        """Store how qbosync calls the tenant's source; returns the tenant's webhook signing secret.

        The webhook secret is derived from the app's source webhook key and the tenant's secret version,
        so it is never stored per tenant: hand it to the source, which signs with it. Calling this again
        replaces the API key (a new secret version; containers pick it up within ``SECRET_CACHE_SECONDS``).
        """
        tenant = self.tenants.get(tenant_id)
        if tenant.source is not None and tenant.source.adapter is not SourceAdapterKind.HTTP_CONTRACT:
            # An API key alone would leave the tenant's adapter without the secrets it needs.
            raise SourceConnectionIncomplete(
                f"tenant {tenant_id!r} connects through the {tenant.source.adapter.value} adapter:"
                f" use source-credentials --adapter {tenant.source.adapter.value}",
                details=[
                    {"loc": "adapter", "type": "not_http_contract", "adapter": tenant.source.adapter.value}
                ],
            )
        if not api_key.strip():
            raise ValueError("the source API key is required")
        self.tenant_secrets.put_source_credentials(tenant_id, api_key.strip())
        return self.webhook_secret(tenant_id)

    def connect_source(
        self, tenant_id: str, source: TenantSourceConfig, credentials: SourceCredentials
    ) -> SourceConnected:
        """Point the tenant at its source through ``source.adapter`` and seal the secrets that adapter
        needs (``SourceConnectionIncomplete``, a 422 naming each missing field, before anything is
        written). Calling it again replaces both."""
        from qbosync.source.revio.client import DEFAULT_BASE_URL as REVIO_BASE_URL

        tenant = self.tenants.get(tenant_id)
        missing = credentials.missing_for(source.adapter) + missing_options(source)
        if missing:
            raise SourceConnectionIncomplete(
                f"the {source.adapter.value} adapter needs {', '.join(missing)}",
                details=[
                    {"loc": name, "type": "missing", "adapter": source.adapter.value} for name in missing
                ],
            )
        if source.adapter is SourceAdapterKind.REVIO and source.base_url is None:
            # Not the deployment's SOURCE_BASE_URL, which is the contract adapter's default.
            source = source.model_copy(update={"base_url": REVIO_BASE_URL})
        self.tenant_secrets.put_source_credentials(tenant_id, credentials)
        self.tenants.register(tenant.model_copy(update={"source": source}))
        if source.adapter is SourceAdapterKind.REVIO:
            return SourceConnected(
                tenant_id=tenant_id,
                adapter=source.adapter,
                revio_receiver_path=self.revio_receiver_path(tenant_id),
            )
        return SourceConnected(
            tenant_id=tenant_id, adapter=source.adapter, webhook_secret=self.webhook_secret(tenant_id)
        )

    def revio_receiver_path(self, tenant_id: str) -> str:
        """``/webhooks/revio/{tenant}/{token}``: where Rev.io delivers the tenant's notifications."""
        version = self.tenants.get(tenant_id).webhook_secret_version
        token = self.app_secrets.revio_receiver_token(tenant_id, version).get_secret_value()
        return f"/webhooks/revio/{tenant_id}/{token}"

    def register_revio_receiver(self, tenant_id: str, api_url: str) -> dict[str, object]:
        """Register the tenant's receiver (``api_url`` + ``revio_receiver_path``) with Rev.io and
        subscribe it to the events qbosync syncs. Rev.io then sends the ``X-Hook-Secret`` confirmation to
        the deployed route, which answers it; the receiver id is printed for ``activate`` if it did not."""
        from qbosync.source.registry import SourceConnection, revio_client
        from qbosync.source.revio.client import DEFAULT_BASE_URL as REVIO_BASE_URL
        from qbosync.source.revio.webhooks import RevioWebhookRegistration

        tenant = self.tenants.get(tenant_id)
        if tenant.source is None or tenant.source.adapter is not SourceAdapterKind.REVIO:
            raise SourceConnectionIncomplete(
                f"tenant {tenant_id!r} is not connected through the revio adapter",
                details=[{"loc": "adapter", "type": "not_revio"}],
            )
        if not api_url.startswith(("https://", "http://")):
            raise ValueError("the API URL must start with https://")
        connection = SourceConnection(
            tenant_id,
            tenant.source.base_url or REVIO_BASE_URL,
            self.tenant_secrets.source_credentials(tenant_id, fresh=True),
            dict(tenant.source.options),
        )
        receiver_url = api_url.rstrip("/") + self.revio_receiver_path(tenant_id)
        registration = RevioWebhookRegistration(revio_client(connection))
        receiver_id = registration.register(receiver_url)
        registration.subscribe(receiver_id)
        return {"tenant_id": tenant_id, "webhook_receiver_id": receiver_id, "receiver_url": receiver_url}

    def webhook_secret(self, tenant_id: str) -> str:
        """The tenant's current source webhook signing secret, for the source to sign with."""
        version = self.tenants.get(tenant_id).webhook_secret_version
        return self.app_secrets.source_webhook_secret(tenant_id, version).get_secret_value()

    def rotate_webhook_secret(self, tenant_id: str) -> str:
        """Move the tenant to its next webhook secret (the old one is refused at once); returns it."""
        rotated = self.tenants.next_webhook_secret_version(tenant_id)
        return self.app_secrets.source_webhook_secret(
            tenant_id, rotated.webhook_secret_version
        ).get_secret_value()

    def pause(self, tenant_id: str, operator: str) -> PauseState:
        """Hold the tenant's pushes and pulls until it is resumed (webhooks are still accepted)."""
        return self.pause_service().pause(tenant_id, operator)

    def resume(self, tenant_id: str, operator: str) -> PauseState:
        """Resume the tenant's sync and queue again what was held while it was paused."""
        return self.pause_service().resume(tenant_id, operator)

    def index_connected(self) -> dict[str, int]:
        """Once after upgrading: connected tenants recorded before the schedules' sparse index join it."""
        return {"added_to_connected_index": self.connections.backfill_connected_index()}

    def migrate_source_credentials(self) -> dict[str, int]:
        """Once after upgrading: move every tenant's source credentials out of the secret older versions
        kept them in, into the sealed item, and delete those secrets (running it again is harmless)."""
        moved = sum(
            1
            for tenant in self.tenants.list_all()
            if self.tenant_secrets.migrate_source_credentials(tenant.tenant_id)
        )
        return {"source_secrets_migrated": moved}

    def list_fleet(self) -> list[TenantSummary]:
        """Every tenant with its connection, reconciliation checkpoints and failure counts."""
        return [self._summary(tenant) for tenant in self.tenants.list_all()]

    def offboard(
        self,
        tenant_id: str,
        operator: str,
        retention_days: int = DEFAULT_RETENTION_DAYS,
        *,
        force: bool = False,
    ) -> OffboardReport:
        """Revoke at Intuit, delete the tenant's secrets now, refuse it everywhere, purge its data later.

        While a QBO write's outcome is unknown the disconnect refuses (``AmbiguousWrites``) and nothing
        changes; ``force`` disconnects anyway, leaving those documents to be checked in QBO by hand.
        """
        if retention_days < 0:
            raise ValueError("retention days cannot be negative")
        profile = self.tenants.profile(tenant_id)
        if profile is None:
            raise UnknownTenant(f"Tenant '{tenant_id}' is not registered with qbosync.")
        connection = self.connections.get(tenant_id)
        disconnected = connection is not None and connection.status != "disconnected"
        if disconnected:
            self.disconnect(tenant_id, operator, force=force)
        self.tenant_secrets.delete_source_credentials(tenant_id)
        now = self.clock()
        marked = self.tenants.mark_offboarded(tenant_id, now, now + timedelta(days=retention_days))
        assert marked.offboarded_at is not None and marked.purge_after is not None
        return OffboardReport(
            tenant_id=tenant_id,
            disconnected=disconnected,
            offboarded_at=marked.offboarded_at,
            purge_after=marked.purge_after,
        )

    def purge(self, tenant_id: str | None = None) -> list[PurgeReport]:
        """Delete every item of offboarded tenants whose retention has passed (or of the one named)."""
        now = self.clock()
        due = [
            tenant
            for tenant in self.tenants.list_all()
            if tenant.purge_after is not None
            and tenant.purge_after <= now
            and (tenant_id is None or tenant.tenant_id == tenant_id)
        ]
        return [self._purge_one(tenant.tenant_id) for tenant in due]

    def _purge_one(self, tenant_id: str) -> PurgeReport:
        deleted = 0
        connection = self.connections.get(tenant_id)
        if connection is not None:
            # The realm's items (refresh lock, governor state) go too, unless another tenant has since
            # connected that company and now owns them.
            owner = self.table.get(realm_pk(connection.realm_id), "OWNER")
            if owner is None or owner.get("tenant_id") == tenant_id:
                deleted += self._delete_partition(realm_pk(connection.realm_id))
                deleted += self._delete_partition(governor_pk(connection.realm_id))
        # The profile goes last, so an interrupted purge is found again and finished by the next one.
        items = list(self.table.query_all(tenant_pk(tenant_id)))
        for item in sorted(items, key=lambda item: item["sk"] == "PROFILE"):
            self.table.delete(item["pk"], item["sk"])
            deleted += 1
        return PurgeReport(tenant_id=tenant_id, items_deleted=deleted)

    def _delete_partition(self, pk: str) -> int:
        items = list(self.table.query_all(pk))
        for item in items:
            self.table.delete(item["pk"], item["sk"])
        return len(items)

    def _refuse_offboarded(self, tenant_id: str) -> None:
        profile = self.tenants.profile(tenant_id)
        if profile is not None and profile.offboarded_at is not None:
            raise TenantOffboarded(f"Tenant '{tenant_id}' was offboarded: purge it before registering again.")

    def _summary(self, tenant: Tenant) -> TenantSummary:
        connection = self.connections.get(tenant.tenant_id)
        return TenantSummary(
            tenant_id=tenant.tenant_id,
            name=tenant.name,
            connection=connection.status if connection is not None else "not_connected",
            realm_id=connection.realm_id if connection is not None else None,
            needs_reauth_since=connection.needs_reauth_since if connection is not None else None,
            last_qbo_reconcile=self.checkpoints.get(tenant.tenant_id, "qbo"),
            last_source_reconcile=self.checkpoints.get(tenant.tenant_id, "source"),
            failed_events=self._count(tenant.tenant_id, "failed"),
            parked_events=self._count(tenant.tenant_id, "parked"),
            offboarded_at=tenant.offboarded_at,
            purge_after=tenant.purge_after,
            paused_at=tenant.paused_at,
            paused_by=tenant.paused_by,
        )

    def _count(self, tenant_id: str, status: EventStatus) -> int:
        counted = 0
        cursor: str | None = None
        while counted < COUNT_CAP:
            page = self.events.list(tenant_id, status, limit=100, cursor=cursor)
            counted += len(page.items)
            if page.cursor is None:
                break
            cursor = page.cursor
        return min(counted, COUNT_CAP)

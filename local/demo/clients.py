"""The demo's HTTP clients: the people and systems it plays, each reaching the service the way they would.

- ``AdminApi``: a tenant admin with a bearer token, on the front door.
- ``Browser``: follows the OAuth redirects an admin's browser would (non-interactive, loopback only).
- ``SourceSystem``: the source's own API (with the tenant's API key) and its control API, which changes
  data and sends signed webhooks to the front door, as the real billing system would.
- ``QboCompany``: the QBO company as its bookkeeper sees it: a token the demo obtains through the QBO
  sandbox's OAuth as the app, then Intuit's Accounting API; plus the sandbox's control plane.

Every unexpected answer raises ``StepFailed`` with the method, path, status and error body.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import boto3
import httpx

from local.demo.narration import StepFailed

HTTP_TIMEOUT_SECONDS = 30.0
QBO_MINOR_VERSION = "75"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def _expect(response: httpx.Response, *statuses: int) -> httpx.Response:
    if response.status_code not in statuses:
        body = response.text[:600]
        raise StepFailed(
            f"{response.request.method} {response.request.url.path} answered {response.status_code}"
            f" (expected {', '.join(map(str, statuses))}): {body}"
        )
    return response


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        document = response.json()
    except ValueError as error:
        raise StepFailed(f"{response.request.url.path} did not answer JSON: {response.text[:200]}") from error
    if not isinstance(document, dict):
        raise StepFailed(f"{response.request.url.path} answered {type(document).__name__}, not an object")
    return document


def require_loopback(url: str) -> str:
    host = urlsplit(url).hostname or ""
    if host not in LOOPBACK_HOSTS:
        raise StepFailed(f"refusing to follow {url}: the demo only talks to loopback")
    return url


class AdminApi:
    """The admin API on the front door, as one tenant's admin."""

    def __init__(self, front_door_url: str, tenant_id: str, admin_token: str) -> None:
        self.tenant_id = tenant_id
        self.http = httpx.Client(
            base_url=front_door_url,
            headers={"Authorization": f"Bearer {admin_token}"},
            timeout=HTTP_TIMEOUT_SECONDS,
            follow_redirects=False,
        )

    def path(self, suffix: str) -> str:
        return f"/tenants/{self.tenant_id}{suffix}"

    def get(self, suffix: str, **params: Any) -> dict[str, Any]:
        return _json_object(_expect(self.http.get(self.path(suffix), params=params), 200))

    def get_versioned(self, suffix: str) -> tuple[dict[str, Any], str]:
        """A document and its ETag, for a change guarded by If-Match."""
        response = _expect(self.http.get(self.path(suffix)), 200)
        etag = response.headers.get("etag")
        if not etag:
            raise StepFailed(f"GET {self.path(suffix)} carried no ETag")
        return _json_object(response), etag

    def put_versioned(self, suffix: str, body: dict[str, Any], etag: str) -> dict[str, Any]:
        response = self.http.put(self.path(suffix), json=body, headers={"If-Match": etag})
        return _json_object(_expect(response, 200))

    def post(self, suffix: str, expected: int, body: dict[str, Any] | None = None) -> dict[str, Any]:
        return _json_object(_expect(self.http.post(self.path(suffix), json=body), expected))

    def redirect_from(self, suffix: str) -> str:
        response = _expect(self.http.get(self.path(suffix)), 302, 303, 307)
        return require_loopback(response.headers["location"])

    def close(self) -> None:
        self.http.close()


class Browser:
    """Follows redirects one hop at a time, as a browser would, until ``stop_at`` is reached."""

    MAX_HOPS = 8

    def __init__(self) -> None:
        self.http = httpx.Client(timeout=HTTP_TIMEOUT_SECONDS, follow_redirects=False)

    def follow(self, url: str, stop_at: str) -> list[str]:
        """Every URL visited, ending with the first one that starts with ``stop_at``."""
        visited = [url]
        for _hop in range(self.MAX_HOPS):
            if url.startswith(stop_at):
                return visited
            response = self.http.get(url)
            if response.status_code not in (301, 302, 303, 307, 308):
                raise StepFailed(
                    f"the browser stopped at {urlsplit(url).path} ({response.status_code}): "
                    f"{response.text[:300]}"
                )
            url = require_loopback(str(response.url.join(response.headers["location"])))
            visited.append(url)
        raise StepFailed(f"more than {self.MAX_HOPS} redirects without reaching {stop_at}")

    def close(self) -> None:
        self.http.close()


def query_parameters(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


class OperatorSecrets:
    """What an operator reads from the deployment's Secrets Manager (moto here, through its endpoint)."""

    def __init__(self, aws_endpoint_url: str) -> None:
        self._endpoint_url = aws_endpoint_url
        self.client = boto3.client(
            "secretsmanager",
            endpoint_url=aws_endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 - moto's fixed local credentials
        )

    def read(self, name_suffix: str) -> dict[str, Any]:
        names = [
            entry["Name"]
            for page in self.client.get_paginator("list_secrets").paginate()
            for entry in page["SecretList"]
            if entry["Name"].endswith(name_suffix)
        ]
        if len(names) != 1:
            raise StepFailed(f"expected one secret ending in {name_suffix!r}, found {len(names)}")
        value = json.loads(self.client.get_secret_value(SecretId=names[0])["SecretString"])
        if not isinstance(value, dict):
            raise StepFailed(f"secret {names[0]} is not a JSON object")
        return value

    def source_api_key(self, tenant_id: str) -> str:
        """The tenant's source API key, opened from its sealed item with the stack's KMS key, as an operator
        with the account's credentials can (source credentials are not a secret of their own)."""
        from qbosync.store.source_credentials import SourceCredentialsStore
        from qbosync.store.table import MainTable

        def client(service: str) -> Any:
            return boto3.client(
                service,  # type: ignore[call-overload]
                endpoint_url=self._endpoint_url,
                region_name="us-east-1",
                aws_access_key_id="testing",
                aws_secret_access_key="testing",  # noqa: S106 - moto's fixed local credentials
            )

        dynamodb = client("dynamodb")
        tables = [name for name in dynamodb.list_tables()["TableNames"] if name.endswith("-MainTable")]
        if len(tables) != 1:
            raise StepFailed(f"expected one main table, found {tables}")
        credentials = SourceCredentialsStore(MainTable(dynamodb, tables[0]), kms=client("kms")).get(tenant_id)
        if credentials is None:
            raise StepFailed(f"tenant {tenant_id} has no source credentials")
        return str(credentials["api_key"])


class SourceSystem:
    """The source sandbox: its public API with the tenant's key, and its control API."""

    card_method = "CC-VISA"
    card_label = "Visa"
    bills_one_time_products = True
    """Whether the source's catalog has one-time products (Rev.io's prices every product per month)."""

    def __init__(self, base_url: str, tenant_id: str, api_key: str) -> None:
        self.tenant_id = tenant_id
        self.api = httpx.Client(
            base_url=f"{base_url}/tenants/{tenant_id}",
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=HTTP_TIMEOUT_SECONDS,
        )
        self.control = httpx.Client(
            base_url=f"{base_url}/_sandbox/tenants/{tenant_id}", timeout=HTTP_TIMEOUT_SECONDS
        )

    def list_all(self, collection: str) -> list[dict[str, Any]]:
        """Every item of a list, following ``next_cursor``."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 500} if collection in _PAGED else {}
            if cursor:
                params["cursor"] = cursor
            page = _json_object(_expect(self.api.get(f"/{collection}", params=params), 200))
            items.extend(page.get("items", []))
            cursor = page.get("next_cursor")
            if not cursor:
                return items

    def read(self, collection: str, object_id: str) -> dict[str, Any]:
        return _json_object(_expect(self.api.get(f"/{collection}/{object_id}"), 200))

    def create(self, collection: str, body: dict[str, Any]) -> dict[str, Any]:
        return _json_object(_expect(self.control.post(f"/{collection}", json=body), 201))

    def change(self, collection: str, object_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return _json_object(_expect(self.control.put(f"/{collection}/{object_id}", json=body), 200))

    def delete(self, collection: str, object_id: str) -> dict[str, Any]:
        return _json_object(_expect(self.control.delete(f"/{collection}/{object_id}"), 200))

    def close(self) -> None:
        self.api.close()
        self.control.close()


_PAGED = frozenset({"customers", "products", "invoices", "payments", "credit-notes"})


class QboCompany:
    """One QBO company through Intuit's Accounting API, with a token of the demo's own."""

    def __init__(self, sandbox_url: str, realm_id: str, access_token: str) -> None:
        self.realm_id = realm_id
        self.sandbox_url = sandbox_url
        self.http = httpx.Client(
            base_url=f"{sandbox_url}/v3/company/{realm_id}",
            headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
            params={"minorversion": QBO_MINOR_VERSION},
            timeout=HTTP_TIMEOUT_SECONDS,
        )
        self.control = httpx.Client(base_url=f"{sandbox_url}/_sandbox", timeout=HTTP_TIMEOUT_SECONDS)

    @classmethod
    def authorize(
        cls,
        discovery_url: str,
        sandbox_url: str,
        realm_id: str,
        app_credentials: tuple[str, str],
        redirect_uri: str,
    ) -> QboCompany:
        """Authorization code grant as the app: consent, read the code from the redirect, exchange it.

        The redirect is not followed (it would reach the service's callback); the code is taken from it.
        ``app_credentials`` is the Intuit app's client id and secret.
        """
        client_id, client_secret = app_credentials
        with httpx.Client(timeout=HTTP_TIMEOUT_SECONDS, follow_redirects=False) as http:
            discovery = _json_object(_expect(http.get(discovery_url), 200))
            authorize_url = require_loopback(str(discovery["authorization_endpoint"]))
            query = urlencode(
                {
                    "client_id": client_id,
                    "response_type": "code",
                    "scope": "com.intuit.quickbooks.accounting",
                    "redirect_uri": redirect_uri,
                    "state": "qbosync-demo-reader",
                    "realm_id": realm_id,
                }
            )
            consent = _expect(http.get(f"{authorize_url}?{query}"), 302)
            answer = query_parameters(consent.headers["location"])
            if "code" not in answer:
                raise StepFailed(f"the QBO sandbox refused the demo's own authorization: {answer}")
            token = _expect(
                http.post(
                    require_loopback(str(discovery["token_endpoint"])),
                    data={
                        "grant_type": "authorization_code",
                        "code": answer["code"],
                        "redirect_uri": redirect_uri,
                    },
                    auth=(client_id, client_secret),
                    headers={"Accept": "application/json"},
                ),
                200,
            )
        return cls(sandbox_url, answer.get("realmId", realm_id), str(_json_object(token)["access_token"]))

    def find(self, entity: str, field: str, value: str) -> list[dict[str, Any]]:
        """Every ``entity`` whose ``field`` equals ``value``, through QBO's query language."""
        quoted = value.replace("\\", "\\\\").replace("'", "\\'")
        statement = f"SELECT * FROM {entity} WHERE {field} = '{quoted}'"  # noqa: S608 - QBO query, value quoted
        document = _json_object(_expect(self.http.get("/query", params={"query": statement}), 200))
        rows = document.get("QueryResponse", {}).get(entity, [])
        return list(rows) if isinstance(rows, list) else []

    def read(self, entity: str, entity_id: str) -> dict[str, Any]:
        document = _json_object(_expect(self.http.get(f"/{entity.lower()}/{entity_id}"), 200))
        return dict(document[entity])

    def create(self, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        document = _json_object(_expect(self.http.post(f"/{entity.lower()}", json=body), 200))
        return dict(document[entity])

    def count(self, entity: str) -> int:
        document = _json_object(
            _expect(self.http.get("/query", params={"query": f"SELECT COUNT(*) FROM {entity}"}), 200)  # noqa: S608
        )
        return int(document.get("QueryResponse", {}).get("totalCount", 0))

    def flush_webhooks(self) -> dict[str, Any]:
        """Send the change notifications the sandbox is batching now (as QBO does when its window ends)."""
        return _json_object(_expect(self.control.post("/webhooks/flush"), 200))

    def close(self) -> None:
        self.http.close()
        self.control.close()

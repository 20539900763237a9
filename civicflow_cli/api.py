"""The gateway's REST API as the command line uses it; every answer that is not a success becomes an ApiError.

Exceptions:
    CliError
    ├── ApiError: the gateway answered with an error status (its JSON error shape, or whatever came),
    │             or its events stream ended with an `error` event (the same shape)
    └── GatewayUnreachableError: no answer at all (nothing listening, a timeout, a broken connection)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx2

EVENT_STREAM = "text/event-stream"
ERROR_EVENT = "error"


class CliError(Exception):
    """A failure to report to the person at the terminal, exit status 1."""


@dataclass(frozen=True)
class Problem:
    field: str
    problem: str


class ApiError(CliError):
    """The gateway refused or failed a request; carries its error body {"status", "code", "message", "details"}."""

    def __init__(self, status: int, code: str, message: str, details: list[Problem] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []

    @classmethod
    def from_body(cls, body: Any) -> ApiError:
        """The gateway's error shape; KeyError, TypeError or ValueError if `body` is not that shape."""
        error = body["error"]
        details = [Problem(field=str(item["field"]), problem=str(item["problem"])) for item in error["details"]]
        return cls(int(error["status"]), str(error["code"]), str(error["message"]), details)

    @classmethod
    def from_response(cls, response: httpx2.Response) -> ApiError:
        try:
            return cls.from_body(response.json())
        except (ValueError, KeyError, TypeError):
            # Not the gateway's error shape (a proxy, another server on the port): show what came.
            text = response.text.strip()[:300] or "(empty body)"
            return cls(response.status_code, response.reason_phrase or "HTTP_ERROR", text)


class GatewayUnreachableError(CliError):
    """No HTTP answer from the gateway."""


@dataclass(frozen=True)
class Api:
    client: httpx2.Client
    # The caller's bearer token, sent with every request; without one the gateway answers 401.
    token: str | None = None

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = dict(extra or {})
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def _request(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx2.Response:
        try:
            response = self.client.request(method, path, headers=self._headers(headers), **kwargs)
        except httpx2.TransportError as error:
            raise GatewayUnreachableError(self._unreachable(error)) from error
        if response.status_code >= 400:
            raise ApiError.from_response(response)
        return response

    def _unreachable(self, error: Exception) -> str:
        where = str(self.client.base_url).rstrip("/")
        reason = str(error) or type(error).__name__
        return (
            f"no answer from the Civicflow gateway at {where} ({reason}); "
            "is it running (`make run`)? The address is --url or CIVICFLOW_URL."
        )

    def get(self, path: str, **params: Any) -> Any:
        return self._request("GET", path, params=params or None).json()

    def post(self, path: str, body: dict[str, Any], *, idempotency_key: str | None = None) -> httpx2.Response:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return self._request("POST", path, json=body, headers=headers)

    def templates(self) -> list[dict[str, Any]]:
        return list(self.get("/templates"))

    def instance(self, instance_id: str) -> dict[str, Any]:
        return dict(self.get(f"/workflows/{instance_id}"))

    def execute(
        self, template_id: str, inputs: dict[str, Any], *, asynchronous: bool, idempotency_key: str | None
    ) -> dict[str, Any]:
        """The finished run (synchronous), or the started run's id and status (asynchronous: 202)."""
        body: dict[str, Any] = {"template_id": template_id, "inputs": inputs}
        if asynchronous:
            body["mode"] = "async"
        return dict(self.post("/workflows/execute", body, idempotency_key=idempotency_key).json())

    def events(self, instance_id: str) -> Iterator[dict[str, Any]]:
        """The run's Server-Sent Events: the instance after each change, as `instance` answers it.

        The gateway reads the run before it answers, so an unknown instance is an ApiError here; a
        failure once the stream has begun arrives as an `error` event and is raised as an ApiError
        where it comes.
        """
        request = self.client.build_request(
            "GET", f"/workflows/{instance_id}/events", headers=self._headers({"Accept": EVENT_STREAM})
        )
        try:
            response = self.client.send(request, stream=True)
        except httpx2.TransportError as error:
            raise GatewayUnreachableError(self._unreachable(error)) from error
        if response.status_code >= 400:
            response.read()
            response.close()
            raise ApiError.from_response(response)
        return _event_data(response)


def _event_data(response: httpx2.Response) -> Iterator[dict[str, Any]]:
    """Parses text/event-stream: `data:` lines up to a blank line make one event, named by an `event:` line.

    The gateway sends each snapshot unnamed, and a failure after the stream began as `event: error`
    with its error body: that is raised as an ApiError, never taken for a snapshot.
    """
    try:
        name = ""
        data: list[str] = []
        for line in response.iter_lines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
            elif not line:
                if data:
                    body = json.loads("\n".join(data))
                    if name == ERROR_EVENT:
                        raise ApiError.from_body(body)
                    yield body
                name, data = "", []
    except httpx2.TransportError:
        return  # a broken stream ends the events; the caller polls for the rest
    finally:
        response.close()

"""The HTTP layer of the client: one session, auth and namespace, error responses → core errors."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

import aiohttp

from pgqueue_core.errors import InvalidArgument, PgQueueError
from pgqueue_core.models import MISSING

from .config import DEFAULT_URL
from .errors import ConnectionFailed, ProtocolError, connect_reason, error_for

T = TypeVar("T")
JSONHook = Callable[[Any], None]
Params = list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list: `count` is the total matching (ignoring paging).

    Unpacks like the core's lists: `count, queues = await client.list_queues()`.
    """

    count: int
    items: list[T]

    def __iter__(self) -> Iterator[Any]:
        return iter((self.count, self.items))

    def __len__(self) -> int:
        return len(self.items)


def check_url(url: str) -> str:
    """The API base URL without a trailing slash; InvalidArgument unless http(s)://host…"""
    text = url.strip().rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidArgument(f"{url!r} is not an http(s) URL of the API (e.g. {DEFAULT_URL})")
    return text


def response_error(status: int, doc: Any, url: str, retry_after: str | None) -> PgQueueError:
    """The core error an error response stands for (the class the server raised)."""
    key = None
    if isinstance(doc, dict) and doc.get("object") == "error":
        key = doc.get("error") if isinstance(doc.get("error"), str) else None
        message = str(doc.get("reason") or f"HTTP {status}")
        # The reason reads "Not Found: queue 'x' not found"; the class says the first part.
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
        if phrase and message.startswith(phrase + ": "):
            message = message[len(phrase) + 2 :]
        detail = doc.get("detail")
        if isinstance(detail, str) and detail and detail not in message:
            message = f"{message}: {detail}"
    else:
        message = f"HTTP {status} from {url}"
        detail = doc
    if status == 404 and (key == "endpoint_not_found" or key is None):
        # The path is not the API's: most likely the base URL is (a wrong --prefix).
        message = (
            f"no such endpoint: {url} (is the API's base URL right? it ends with the "
            f"server's --prefix, e.g. {DEFAULT_URL}; set it with --url or PGQUEUE_URL)"
        )
    if status == 503 and retry_after:
        message = f"{message} (retry after {retry_after}s)"
    return error_for(status, key, message, detail)


def parse_json(body: bytes, url: str) -> Any:
    """A response body's JSON (None for an empty body); ProtocolError when it is not JSON."""
    try:
        return json.loads(body) if body else None
    except ValueError:
        raise ProtocolError(url, "the body is not JSON (is the URL right?)") from None


def decoded(decode: Callable[[Any], T], doc: Any, url: str) -> T:
    """Decode a response document; a shape the API never sends is a ProtocolError."""
    try:
        return decode(doc)
    except (KeyError, TypeError, ValueError, AttributeError, PgQueueError) as exc:
        raise ProtocolError(url, f"malformed response ({type(exc).__name__}: {exc})") from exc


def body_list(doc: Any) -> tuple[int, list[Any]]:
    """The list envelope {"count", "body"} (a bare array is accepted too)."""
    if isinstance(doc, list):
        return len(doc), doc
    body = doc["body"]
    if not isinstance(body, list):
        raise TypeError("body is not a list")
    return int(doc["count"]), body


class _SessionHolder:
    """One aiohttp session shared by a client and its `with_namespace` copies."""

    def __init__(self, session: aiohttp.ClientSession | None) -> None:
        self.session = session
        self.owned = session is None

    def get(self) -> aiohttp.ClientSession:
        if self.session is None or (self.owned and self.session.closed):
            self.session = aiohttp.ClientSession()
        return self.session

    async def close(self) -> None:
        if self.owned and self.session is not None:
            await self.session.close()
            self.session = None


class Transport:
    """Requests to one API base URL as one namespace (None: the server's default)."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        namespace: str | None = None,
        token: str | None = None,
        timeout: float = 30.0,
        session: aiohttp.ClientSession | None = None,
        on_json: JSONHook | None = None,
    ) -> None:
        self.url = check_url(url)
        self.namespace = namespace or None
        self.token = token or None
        self.timeout = timeout
        self.on_json = on_json
        self._holder = _SessionHolder(session)

    async def close(self) -> None:
        """Close the HTTP session (shared with `with_namespace` copies) unless passed in."""
        await self._holder.close()

    def session(self) -> aiohttp.ClientSession:
        return self._holder.get()

    def headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def params(self, extra: Params | None = None) -> Params:
        query = list(extra or [])
        if self.namespace:
            query.append(("namespace", self.namespace))
        return query

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        body: Any = MISSING,
        text: bool = False,
        raw: bool = False,
        notify: bool = True,
        timeout: float | None = None,
    ) -> tuple[int, Any]:
        """Send one request; the status and the parsed JSON (None for an empty body), or
        the body as a string with `text`, as bytes with `raw` (neither goes to `on_json`).
        `notify=False` keeps it from `on_json`; `timeout` replaces the client's (a
        long-poll waits longer)."""
        url = self.url + path
        timeout = self.timeout if timeout is None else timeout
        kwargs: dict[str, Any] = {} if body is MISSING else {"json": body}
        try:
            async with self.session().request(
                method,
                url,
                params=self.params(params),
                headers=self.headers(),
                timeout=aiohttp.ClientTimeout(total=timeout),
                **kwargs,
            ) as response:
                content = await response.read()
                status = response.status
                retry_after = response.headers.get("Retry-After")
        except TimeoutError:
            raise ConnectionFailed(self.url, f"no answer within {timeout:g}s") from None
        except aiohttp.ClientError as exc:
            raise ConnectionFailed(self.url, connect_reason(exc)) from None
        if text and status < 400:
            return status, content.decode("utf-8", "replace")
        if raw and status < 400:
            return status, content
        try:
            doc = parse_json(content, url)
        except ProtocolError:
            if status >= 400:
                raise response_error(status, None, url, retry_after) from None
            raise
        if status >= 400:
            raise response_error(status, doc, url, retry_after)
        if notify and self.on_json is not None and doc is not None:
            self.on_json(doc)
        return status, doc

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        body: Any = MISSING,
        timeout: float | None = None,
    ) -> Any:
        """`request` for the document only."""
        return (await self.request(method, path, params=params, body=body, timeout=timeout))[1]

    async def one(
        self,
        decode: Callable[[Any], T],
        method: str,
        path: str,
        *,
        params: Params | None = None,
        body: Any = MISSING,
    ) -> T:
        """One request whose document is decoded into a model."""
        doc = await self.call(method, path, params=params, body=body)
        return decoded(decode, doc, self.url + path)

    async def page(
        self, decode: Callable[[Any], T], path: str, params: Params | None = None
    ) -> Page[T]:
        """A GET of a list envelope, each item decoded."""
        doc = await self.call("GET", path, params=params)
        count, body = decoded(body_list, doc, self.url + path)
        return Page(count, [decoded(decode, item, self.url + path) for item in body])

    @staticmethod
    def paging(offset: int, limit: int | None) -> Params:
        params: Params = []
        if offset:
            params.append(("offset", str(offset)))
        if limit is not None:
            params.append(("limit", str(limit)))
        return params

"""OpenAPI building blocks: error responses, parameters and the operation helper."""

from __future__ import annotations

from .schemas import JSON, NAME_IN, ref

ERRORS = {
    400: "Bad input: the reason names the problem",
    401: "Missing or wrong bearer token",
    403: "The token's scope, or the read-only reserved namespace `pgqueue`, forbids it",
    404: "No such queue, task or ticker in the namespace",
    409: "Conflict: already exists, or not in a state that allows it",
    413: "Request body larger than the server's limit",
    429: "The token holds its limit of open ticker streams already (`--max-streams-per-token`)",
    503: "Database unavailable; retry after the `Retry-After` seconds",
}


def json_response(description: str, schema: JSON) -> JSON:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def error(code: int) -> JSON:
    response = json_response(ERRORS[code], ref("Error"))
    if code in (429, 503):
        response["headers"] = {"Retry-After": {"schema": {"type": "integer"}}}
    return response


def param(
    name: str,
    where: str,
    schema: JSON,
    description: str,
    *,
    required: bool = False,
    explode: bool | None = None,
) -> JSON:
    param: JSON = {"name": name, "in": where, "schema": schema, "description": description}
    if required or where == "path":
        param["required"] = True
    if explode is not None:
        param["explode"] = explode
        param["style"] = "form"
    return param


NAMESPACE = param(
    "namespace",
    "query",
    NAME_IN,
    "namespace (default: the server's); `pgqueue` is reserved and read-only",
)
PAGING = [
    param(
        "offset",
        "query",
        {"type": "integer", "minimum": 0, "maximum": 2**53},
        "skip this many (default 0)",
    ),
    param(
        "limit",
        "query",
        {"type": "integer", "minimum": 0, "maximum": 2**53},
        "page size (default and cap 100)",
    ),
]
QUEUE_NAME = param("name", "path", NAME_IN, "queue name")
TICKER_NAME = param("name", "path", NAME_IN, "ticker name")
TASK_ID_SCHEMA = {"type": "integer", "format": "int64", "minimum": 1, "maximum": 2**63 - 1}
TASK_ID = param("id", "path", TASK_ID_SCHEMA, "task id")
# PUT /task/{queue} and GET|PATCH /task/{id} share one path template (as in the original).
TASK_REF_ID = param("queue_or_id", "path", TASK_ID_SCHEMA, "task id")
TASK_REF_QUEUE = param("queue_or_id", "path", NAME_IN, "queue name")


def op(
    op_id: str,
    summary: str,
    ok: dict[int, JSON],
    *,
    params: list[JSON] | None = None,
    body: str | None = None,
    body_required: bool = True,
    errors: tuple[int, ...] = (),
    namespaced: bool = True,
    tag: str = "",
) -> JSON:
    operation: JSON = {"operationId": op_id, "summary": summary, "tags": [tag] if tag else []}
    operation["parameters"] = ([NAMESPACE] if namespaced else []) + (params or [])
    if body is not None:
        operation["requestBody"] = {
            "required": body_required,
            "content": {"application/json": {"schema": ref(body)}},
        }
    codes = {400, 503, *errors}
    if namespaced:
        codes.add(403)
    if body is not None:
        codes.add(413)
    responses: JSON = {str(code): response for code, response in ok.items()}
    responses.update({str(code): error(code) for code in sorted(codes)})
    operation["responses"] = responses
    return operation


def ok(schema: str, description: str = "OK") -> JSON:
    return json_response(description, ref(schema))

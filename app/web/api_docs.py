"""The API contract: /openapi.json completed, and /docs, the same schema for people.

FastAPI's schema knows the parameters and bodies; ``contract`` adds what it cannot
see: how to authenticate (bearer token or the session cookie; reads are public
unless ``NEWSMON_PUBLIC_READ`` is off), every error status as RFC 9457
problem+json, and the links a client follows from a created flag.

Swagger UI loads its JavaScript from a CDN and boots with an inline script: both
break under our CSP (and offline). /docs renders the schema as plain HTML in the
site's layout, no script at all, references resolved and Markdown rendered.
"""

from __future__ import annotations

import json
import textwrap
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from markdown_it import MarkdownIt
from markupsafe import Markup

from app.web.auth import COOKIE
from app.web.schemas import ProblemOut

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
ERRORS = {
    400: "Invalid input (a bad value, an unknown query parameter)",
    401: "Not signed in, or a bad token",
    403: "Signed in without the needed role or token scope, or no CSRF token",
    404: "No such resource",
    409: "Conflict with the current state",
    413: "Request body too large",
    422: "The request does not match the schema",
    429: "Too many failed attempts; see Retry-After",
    503: "The database is busy or unreachable; see Retry-After",
}
FLAG_LINKS = {
    "UpdateFlag": {
        "operationId": "patch_flag_api_v1_flags__flag_id__patch",
        "parameters": {"flag_id": "$response.body#/id"},
    },
    "DeleteFlag": {
        "operationId": "delete_flag_api_v1_articles__article_id__flags__flag_id__delete",
        "parameters": {
            "article_id": "$response.body#/article_id",
            "flag_id": "$response.body#/id",
        },
    },
}


FEED_LINKS = {
    "EnableFeed": {
        "operationId": "enable_feed_api_v1_feeds__feed_id__enable_post",
        "parameters": {"feed_id": "$response.body#/id"},
    },
    "RemoveFeed": {
        "operationId": "remove_feed_api_v1_feeds__feed_id__delete",
        "parameters": {"feed_id": "$response.body#/id"},
    },
}


VIEW_LINKS = {
    "GetView": {
        "operationId": "get_view_api_v1_views__view_id__get",
        "parameters": {"view_id": "$response.body#/id"},
    },
    "UpdateView": {
        "operationId": "patch_view_api_v1_views__view_id__patch",
        "parameters": {"view_id": "$response.body#/id"},
    },
    "DeleteView": {
        "operationId": "delete_view_api_v1_views__view_id__delete",
        "parameters": {"view_id": "$response.body#/id"},
    },
}

ALERT_LINKS = {
    "GetAlert": {
        "operationId": "get_alert_api_v1_alerts__alert_id__get",
        "parameters": {"alert_id": "$response.body#/id"},
    },
    "UpdateAlert": {
        "operationId": "patch_alert_api_v1_alerts__alert_id__patch",
        "parameters": {"alert_id": "$response.body#/id"},
    },
    "AlertDeliveries": {
        "operationId": "alert_deliveries_api_v1_alerts__alert_id__deliveries_get",
        "parameters": {"alert_id": "$response.body#/id"},
    },
    "DeleteAlert": {
        "operationId": "delete_alert_api_v1_alerts__alert_id__delete",
        "parameters": {"alert_id": "$response.body#/id"},
    },
}


def install(app: FastAPI, *, public_read: bool) -> None:
    """Replace ``app.openapi`` with the completed contract (built once, then cached)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = contract(spec, public_read=public_read)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def contract(spec: dict[str, Any], *, public_read: bool) -> dict[str, Any]:
    components = spec.setdefault("components", {})
    components.setdefault("schemas", {})["Problem"] = ProblemOut.model_json_schema()
    components["securitySchemes"] = {
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token (`newsmon tokens create`); scope read or write.",
        },
        "session": {
            "type": "apiKey",
            "in": "cookie",
            "name": COOKIE,
            "description": "The browser session after /login; writes also need X-CSRF-Token.",
        },
    }
    for path, operations in spec.get("paths", {}).items():
        for method, op in operations.items():
            _complete(path, method, op, public_read=public_read)
    return spec


def _complete(path: str, method: str, op: dict[str, Any], *, public_read: bool) -> None:
    write = method != "get"
    required: list[dict[str, list[str]]] = [{"bearer": []}, {"session": []}]
    if path == "/healthz":
        op["security"] = []
    else:
        op["security"] = required if write or not public_read else [*required, {}]
    codes = {400, 422, 503}
    if op["security"]:
        codes |= {401, 403} if write or not public_read else {401}
    if any(p.get("in") == "path" for p in op.get("parameters", [])):
        codes.add(404)
    if "requestBody" in op:
        codes.add(413)
    if path.startswith("/api/v1/feeds") and method == "post":
        codes.add(409)
    responses = op.setdefault("responses", {})
    for code in sorted(codes):
        entry = responses.setdefault(str(code), {"description": ERRORS[code]})
        entry["content"] = {"application/problem+json": {"schema": PROBLEM_REF}}
        if entry.get("description") in (None, "", "Validation Error"):
            entry["description"] = ERRORS[code]
    if path == "/api/v1/articles/{article_id}/flags" and method == "post":
        responses["201"]["links"] = FLAG_LINKS
    if path == "/api/v1/feeds" and method == "post":
        responses["201"]["links"] = FEED_LINKS
    if path == "/api/v1/views" and method == "post":
        responses["201"]["links"] = VIEW_LINKS
    if path == "/api/v1/alerts" and method == "post":
        responses["201"]["links"] = ALERT_LINKS


# -- /docs ----------------------------------------------------------------------------

router = APIRouter(include_in_schema=False)
_markdown = MarkdownIt("commonmark", {"html": False})


def markdown(text: str) -> Markup:
    return Markup(_markdown.render(_dedent(text)))  # noqa: S704 - raw HTML is escaped


def _dedent(text: str) -> str:
    """A docstring's first line is not indented, the rest is: Markdown would read code."""
    lines = text.splitlines()
    first, rest = lines[:1], lines[1:]
    return "\n".join([*[line.strip() for line in first], textwrap.dedent("\n".join(rest))])


@router.get("/docs", response_class=HTMLResponse)
def api_docs(request: Request) -> HTMLResponse:
    spec = request.app.openapi()
    operations = [
        _operation(spec, path, method, op)
        for path, ops in spec.get("paths", {}).items()
        for method, op in ops.items()
    ]
    page: HTMLResponse = request.app.state.templates.TemplateResponse(
        request,
        "api_docs.html",
        {"spec": spec, "intro": markdown(spec["info"].get("description", "")), "ops": operations},
    )
    return page


def _operation(spec: dict[str, Any], path: str, method: str, op: dict[str, Any]) -> dict[str, Any]:
    body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
    return {
        "anchor": op.get("operationId", f"{method}-{path}"),
        "method": method.upper(),
        "path": path,
        "summary": op.get("summary", ""),
        "description": markdown(op.get("description", "")),
        "public": {} in op.get("security", [{}]),
        "parameters": [
            {
                "name": p["name"],
                "where": p.get("in", ""),
                "required": p.get("required", False),
                "type": describe_schema(spec, p.get("schema", {})),
                "description": markdown(p.get("description", "")),
                "example": _example(p),
            }
            for p in op.get("parameters", [])
        ],
        "body": _fields(spec, body.get("schema")) if body else [],
        "responses": [
            (code, r.get("description", ""), ", ".join(r.get("content", {})))
            for code, r in op.get("responses", {}).items()
        ],
    }


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    return schema


def describe_schema(spec: dict[str, Any], schema: dict[str, Any]) -> str:
    """A schema in a few words: ``integer 1–200``, ``one of: a, b``, ``list of …``."""
    schema = resolve(spec, schema)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            parts = [describe_schema(spec, s) for s in schema[key] if s.get("type") != "null"]
            optional = any(s.get("type") == "null" for s in schema[key])
            return " or ".join(parts) + (" (or null)" if optional else "")
    if "enum" in schema:
        return "one of: " + ", ".join(map(str, schema["enum"]))
    if "const" in schema:
        return json.dumps(schema["const"])
    kind = schema.get("type", "any")
    if kind == "array":
        return "list of " + describe_schema(spec, schema.get("items", {}))
    if kind == "object" and "properties" in schema:
        return "object: " + ", ".join(schema["properties"])
    extra = [schema["format"]] if "format" in schema else []
    if "minimum" in schema or "maximum" in schema:
        extra.append(f"{schema.get('minimum', '')}–{schema.get('maximum', '')}")
    if "maxLength" in schema:
        extra.append(f"at most {schema['maxLength']} characters")
    if "pattern" in schema:
        extra.append(f"matching {schema['pattern']}")
    return str(kind) + (f" ({', '.join(map(str, extra))})" if extra else "")


def _fields(spec: dict[str, Any], schema: dict[str, Any] | None) -> list[dict[str, Any]]:
    schema = resolve(spec, schema or {})
    required = set(schema.get("required", []))
    return [
        {
            "name": name,
            "required": name in required,
            "type": describe_schema(spec, prop),
            "description": markdown(prop.get("description", "")),
        }
        for name, prop in schema.get("properties", {}).items()
    ]


def _example(param: dict[str, Any]) -> str:
    examples = param.get("examples") or param.get("schema", {}).get("examples") or []
    if isinstance(examples, dict):
        examples = [e.get("value") for e in examples.values()]
    return str(json.dumps(examples[0])) if examples else ""

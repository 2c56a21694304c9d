"""The OpenAPI schema's shared parts: every operation's RFC 9457 errors."""

from __future__ import annotations

PROBLEM = {
    "type": "object",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": "string", "nullable": True},
                    "message": {"type": "string"},
                },
                "required": ["field", "message"],
            },
        },
    },
    "required": ["type", "title", "status"],
    "additionalProperties": True,
}
_ERRORS = {
    "400": "Invalid input (the fields in error are named).",
    "401": "No key, or an unknown, revoked or expired one.",
    "403": "The key's role does not allow this.",
    "404": "Not found.",
    "405": "Method not allowed.",
    "409": "A request with this Idempotency-Key is being answered.",
    "415": "Unsupported media type.",
    "422": "The Idempotency-Key was sent with another request.",
    "429": "Too many requests for this key (see Retry-After).",
}


def problems_everywhere(result: dict, generator, request, public) -> dict:  # type: ignore[no-untyped-def]
    """drf-spectacular postprocessing hook: the Problem schema, referenced by
    each operation's error answers."""
    result.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM
    ref = {"$ref": "#/components/schemas/Problem"}
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for code, text in _ERRORS.items():
                responses.setdefault(
                    code,
                    {
                        "description": text,
                        "content": {"application/problem+json": {"schema": ref}},
                    },
                )
    return result

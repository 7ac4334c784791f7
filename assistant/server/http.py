"""The HTTP side of `assistant serve` (aiohttp): Rasa's REST channel, per-turn records, health
and Prometheus metrics, over one `ConversationHub`.

    POST /webhooks/rest/webhook           {"sender", "message"} -> [{"recipient_id", "text"}]
    GET  /webhooks/rest/                  {"status": "ok"}  (Rasa's channel health)
    POST /conversations/{id}/turns        {"text"} -> the turn record of `chat --json`
    GET  /health                          {"status", "pipeline", "conversations"}
    GET  /metrics                         Prometheus text

`make_app` returns a plain `web.Application`: another module adds its routes (`/ws`, static
files) to it, and they get the same token check and JSON errors (the `_guard` middleware).
Every error is JSON `{"error": "..."}` saying what was wrong and what to do.
"""

from __future__ import annotations

import functools
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

from aiohttp import web

from assistant.messages import Reply
from assistant.server.hub import (
    ConversationHub,
    HubBusy,
    HubClosed,
    HubError,
    check_conversation_id,
    check_text,
)
from assistant.server.metrics import ServerMetrics
from assistant.session import TurnRecord

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
RASA_DEFAULT_SENDER = "default"  # what Rasa calls a sender that gives no id
RASA_EXAMPLE = '{"sender": "alice", "message": "hello"}'
TURN_EXAMPLE = '{"text": "hello"}'

HUB = web.AppKey("hub", ConversationHub)
METRICS = web.AppKey("metrics", ServerMetrics)
TOKEN = web.AppKey("token", str)  # "" when no token is required
BODY_LIMIT = web.AppKey("body_limit", int)

dumps = functools.partial(json.dumps, ensure_ascii=False)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    """A request refused: its HTTP status and a message for the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def fail(status: int, message: str) -> NoReturn:
    raise ApiError(status, message)


def error_response(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status, dumps=dumps)


def make_app(
    hub: ConversationHub, *, token: str | None = None, max_body: int = MAX_BODY
) -> web.Application:
    """The application over `hub` (which the caller closes). With `token`, every request must
    carry it: `Authorization: Bearer <token>` or `?token=<token>`."""
    app = web.Application(middlewares=[_guard], client_max_size=max_body)
    app[HUB] = hub
    app[TOKEN] = token or ""
    app[BODY_LIMIT] = max_body
    app[METRICS] = ServerMetrics(hub)
    app.router.add_post("/webhooks/rest/webhook", rasa_webhook)
    app.router.add_get("/webhooks/rest/", rasa_health)
    app.router.add_post("/conversations/{conversation_id}/turns", conversation_turn)
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
    return app


# --- token, errors, request counts ---------------------------------------------------------------


def authorized(request: web.Request) -> bool:
    """Whether the request carries the app's token (always, when none is required). The
    comparison takes the same time whatever the given token, so it leaks nothing of it."""
    expected = request.app[TOKEN]
    if not expected:
        return True
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    given = value.strip() if scheme.lower() == "bearer" else request.query.get("token", "")
    return hmac.compare_digest(given.encode(), expected.encode())


@web.middleware
async def _guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The token first (nothing runs without it), then JSON for every error."""
    response: web.StreamResponse
    try:
        if not authorized(request):
            response = error_response(
                401, "missing or wrong token: send 'Authorization: Bearer <token>' or ?token="
            )
            response.headers["WWW-Authenticate"] = "Bearer"
        else:
            response = await handler(request)
    except ApiError as exc:
        response = error_response(exc.status, exc.message)
    except web.HTTPException as exc:  # aiohttp's own: unknown path, wrong method, too large
        if exc.status < 400:
            raise  # a redirect, say, from a route another module added: not an error
        response = error_response(exc.status, _explain(request, exc))
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        response = error_response(500, "the server failed on this request; see its log")
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    request.app[METRICS].requests.labels(route, str(response.status)).inc()
    return response


def _explain(request: web.Request, exc: web.HTTPException) -> str:
    if exc.status == 404:
        return (
            f"no such path: {request.path}; see /health, /metrics, /webhooks/rest/webhook, "
            "/conversations/{id}/turns"
        )
    if exc.status == 405:
        return f"{request.method} is not allowed on {request.path}"
    if exc.status == 413:
        limit = request.app[BODY_LIMIT]
        return f"the body is larger than {limit} bytes; send a shorter message"
    return exc.reason


async def read_object(request: web.Request, example: str) -> dict[str, Any]:
    """The body as a JSON object, or a 4xx saying what is wrong with it."""
    limit = request.app[BODY_LIMIT]
    if request.content_length is not None and request.content_length > limit:
        fail(413, f"the body is larger than {limit} bytes; send a shorter message")
    body = await request.read()  # aiohttp raises 413 past client_max_size, length or not
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        fail(400, f"the body is not valid JSON ({exc}); send an object like {example}")
    if not isinstance(data, dict):
        fail(400, f"the body must be a JSON object, like {example}")
    return data


def text_field(data: dict[str, Any], name: str, example: str) -> str:
    value = data.get(name)
    if value is None:
        fail(400, f"{name}: missing; send an object like {example}")
    if not isinstance(value, str):
        fail(400, f"{name}: must be a string, not {type(value).__name__}")
    if not value.strip():
        fail(400, f"{name}: the text is empty; say something, e.g. 'hello'")
    return value


def checked(name: str, check: Callable[[object], str], value: object) -> str:
    try:
        return check(value)
    except HubError as exc:
        fail(400, f"{name}: {exc}")


async def _say(request: web.Request, conversation_id: str, text: str) -> TurnRecord:
    try:
        return await request.app[HUB].say(conversation_id, text)
    except HubError as exc:  # checked before; kept for a hub that checks more
        fail(400, str(exc))
    except HubClosed as exc:
        fail(503, f"{exc}; try again in a moment")
    except HubBusy as exc:
        fail(409, str(exc))


# --- routes --------------------------------------------------------------------------------------


async def rasa_webhook(request: web.Request) -> web.StreamResponse:
    """Rasa's REST channel (`rasa/core/channels/rest.py`): `sender` names the conversation
    (Rasa's "default" when absent; a number is taken as its text), `message` is the user's
    text; `input_channel` and `metadata` are accepted and not used. The answer is one object
    per message: timer announcements that waited for this conversation, then the reply.
    `?stream=true` sends the same objects as JSON lines, as Rasa does."""
    data = await read_object(request, RASA_EXAMPLE)
    sender = data.get("sender")
    if sender is None:
        sender = RASA_DEFAULT_SENDER
    elif isinstance(sender, bool) or not isinstance(sender, str | int):
        fail(400, f"sender: must be a string (the conversation id), not {type(sender).__name__}")
    sender = checked("sender", check_conversation_id, str(sender))
    message = checked("message", check_text, text_field(data, "message", RASA_EXAMPLE))
    if not isinstance(data.get("metadata"), dict | None):
        fail(400, "metadata: must be a JSON object")
    if not isinstance(data.get("input_channel"), str | None):
        fail(400, "input_channel: must be a string")
    record = await _say(request, sender, message)
    texts = [reply.text for reply in request.app[HUB].take_kept(sender)]
    texts += [record.text] if record.text else []  # empty only when the turn was withdrawn
    messages = [{"recipient_id": sender, "text": text} for text in texts]
    if request.query.get("stream", "").lower() != "true":
        return web.json_response(messages, dumps=dumps)
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    for item in messages:
        await response.write((dumps(item) + "\n").encode())
    await response.write_eof()
    return response


async def rasa_health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def conversation_turn(request: web.Request) -> web.Response:
    """One turn: the record `assistant chat --json` prints, plus `proactive`: the timer
    announcements that waited for this conversation (as `chat --json` prints them)."""
    conversation_id = checked(
        "the path's conversation id", check_conversation_id, request.match_info["conversation_id"]
    )
    data = await read_object(request, TURN_EXAMPLE)
    text = checked("text", check_text, text_field(data, "text", TURN_EXAMPLE))
    record = await _say(request, conversation_id, text)
    body = record.to_json()
    body["proactive"] = [proactive_json(r) for r in request.app[HUB].take_kept(conversation_id)]
    return web.json_response(body, dumps=dumps)


def proactive_json(reply: Reply) -> dict[str, Any]:
    return {
        "proactive": True,
        "session": reply.session_id,
        "text": reply.text,
        "intent": reply.intent,
    }


async def health(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    return web.json_response(
        {"status": "ok", "pipeline": hub.name, "conversations": hub.active}, dumps=dumps
    )


async def metrics(request: web.Request) -> web.Response:
    registry = request.app[METRICS]
    return web.Response(body=registry.render(), headers={"Content-Type": registry.content_type})

"""`assistant serve`'s HTTP side: real aiohttp servers on 127.0.0.1 (ephemeral ports) over one
started text pipeline (in-memory tracker), driven by a real HTTP client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from assistant.core.runner import Pipeline
from assistant.server.http import make_app
from assistant.server.hub import ConversationHub
from assistant.session import APOLOGY
from tests.test_pipeline import make_plan
from tests.test_server_hub import Running as HubRunning

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "s3cret-token"
T = TypeVar("T")


class Server:
    """A running app on an ephemeral loopback port."""

    def __init__(self, runner: web.AppRunner) -> None:
        self.runner = runner
        host, port = runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    @classmethod
    async def start(cls, app: web.Application) -> Server:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return cls(runner)


class Running(HubRunning):
    """One real text pipeline and hub for the module, served twice: openly and with a token."""

    def __init__(self) -> None:
        super().__init__()
        self.open = self.run(Server.start(make_app(self.hub)))
        self.guarded = self.run(Server.start(make_app(self.hub, token=TOKEN)))

    def post(
        self,
        path: str,
        body: Any = None,
        *,
        data: bytes | None = None,
        server: Server | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        return self.run(request("POST", (server or self.open).url + path, body, data, headers))

    def get(
        self, path: str, *, server: Server | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        return self.run(request("GET", (server or self.open).url + path, None, None, headers))

    def close(self) -> None:
        self.run(self.open.runner.cleanup())
        self.run(self.guarded.runner.cleanup())
        super().close()


async def request(
    method: str, url: str, body: Any, data: bytes | None, headers: dict[str, str] | None
) -> tuple[int, Any]:
    """Status and body (JSON when it is JSON, else text)."""
    async with (
        aiohttp.ClientSession() as client,
        client.request(
            method, url, json=body if data is None else None, data=data, headers=headers
        ) as response,
    ):
        text = await response.text()
        if response.content_type == "application/json":
            return response.status, json.loads(text)
        return response.status, text


@pytest.fixture(scope="module")
def running() -> Iterator[Running]:
    running = Running()
    yield running
    running.close()


# --- Rasa's REST channel -------------------------------------------------------------------------


def test_rasa_rest_round_trip(running: Running) -> None:
    status, body = running.post(
        "/webhooks/rest/webhook", {"sender": "http-rasa", "message": "what is 17 times 23"}
    )
    assert status == 200
    assert body == [{"recipient_id": "http-rasa", "text": body[0]["text"]}]
    assert "391" in body[0]["text"]


def test_rasa_fields_as_rasa_takes_them(running: Running) -> None:
    """No sender is Rasa's 'default'; a number is its text; input_channel and metadata are
    accepted; Rasa's channel health answers; ?stream=true gives JSON lines."""
    status, body = running.post("/webhooks/rest/webhook", {"message": "hello"})
    assert status == 200 and [m["recipient_id"] for m in body] == ["default"]
    status, body = running.post(
        "/webhooks/rest/webhook",
        {"sender": 42, "message": "hi", "input_channel": "web", "metadata": {"page": "/"}},
    )
    assert status == 200 and [m["recipient_id"] for m in body] == ["42"]
    assert running.get("/webhooks/rest/") == (200, {"status": "ok"})
    status, text = running.post(
        "/webhooks/rest/webhook?stream=true",
        {"sender": "http-stream", "message": "what is 2 plus 3"},
    )
    lines = [json.loads(line) for line in text.splitlines()]
    assert status == 200 and len(lines) == 1 and "5" in lines[0]["text"]


def test_a_timer_that_ended_comes_with_the_conversations_next_request(running: Running) -> None:
    sender = "http-timer"
    status, body = running.post(
        "/webhooks/rest/webhook", {"sender": sender, "message": "set a timer for 1 second"}
    )
    assert status == 200 and len(body) == 1
    running.run(asyncio.sleep(2.5))
    _, other = running.post("/webhooks/rest/webhook", {"sender": "http-other", "message": "hi"})
    assert len(other) == 1  # not another conversation's timer
    _, body = running.post("/webhooks/rest/webhook", {"sender": sender, "message": "thanks"})
    assert len(body) == 2, body
    assert "timer is done" in body[0]["text"]
    assert {m["recipient_id"] for m in body} == {sender}


# --- the record, health, metrics -----------------------------------------------------------------


def test_the_turn_record_is_chat_json(running: Running) -> None:
    status, record = running.post(
        "/conversations/http-record/turns", {"text": "what is 17 times 23"}
    )
    assert status == 200
    assert record["session"] == "http-record" and record["turn"] == 1
    assert record["input"] == "what is 17 times 23"
    assert "391" in record["text"]
    assert record["intent"]["name"] == "calculate"
    assert record["errors"] == [] and record["proactive"] == []
    assert {"nlu", "dst", "respond", "total"} <= set(record["timings_ms"])
    expected = {"slots", "sentiment", "guard", "tone", "filter", "source", "timed_out"}
    assert expected <= set(record)
    _, second = running.post("/conversations/http-record/turns", {"text": "hello"})
    assert second["turn"] == 2


def test_health(running: Running) -> None:
    status, body = running.get("/health")
    assert status == 200
    assert body == {"status": "ok", "pipeline": "text", "conversations": running.hub.active}


def metric_samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_count_turns_stages_and_conversations(running: Running) -> None:
    turns = ("assistant_turns_total", (("pipeline", "text"),))
    nlu = ("assistant_stage_seconds_count", (("stage", "nlu"),))
    status, before_text = running.get("/metrics")
    assert status == 200
    before = metric_samples(before_text)
    for text in ("hello", "what is 3 plus 4", "tell me a joke"):
        running.post("/conversations/http-metrics/turns", {"text": text})
    after = metric_samples(running.get("/metrics")[1])
    assert after[turns] - before.get(turns, 0) == 3
    assert after[nlu] - before.get(nlu, 0) == 3
    assert after[("assistant_turn_seconds_count", ())] >= 3
    assert after[("assistant_active_conversations", ())] == running.hub.active
    ok = (
        "assistant_http_requests_total",
        (("route", "/conversations/{conversation_id}/turns"), ("status", "200")),
    )
    assert after[ok] >= 3


# --- the token -----------------------------------------------------------------------------------


def test_with_a_token_nothing_runs_without_it(running: Running) -> None:
    guarded = running.guarded
    turn = {"sender": "http-token", "message": "hello"}
    for headers in (None, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        status, body = running.post("/webhooks/rest/webhook", turn, server=guarded, headers=headers)
        assert status == 401 and "token" in body["error"]
    assert running.post("/webhooks/rest/webhook?token=nope", turn, server=guarded)[0] == 401
    assert running.get("/health", server=guarded)[0] == 401
    assert running.get("/metrics", server=guarded)[0] == 401
    assert running.get("/nowhere", server=guarded)[0] == 401
    assert "http-token" not in running.hub._conversations  # nothing was processed
    good = {"Authorization": f"Bearer {TOKEN}"}
    status, body = running.post("/webhooks/rest/webhook", turn, server=guarded, headers=good)
    assert status == 200 and body[0]["recipient_id"] == "http-token"
    assert running.post(f"/webhooks/rest/webhook?token={TOKEN}", turn, server=guarded)[0] == 200
    assert running.get(f"/health?token={TOKEN}", server=guarded)[0] == 200


# --- isolation -----------------------------------------------------------------------------------

ITEMS = [
    "milk", "eggs", "bread", "apples", "coffee", "rice", "butter", "tea", "onions", "cheese",
    "pasta", "carrots", "yogurt", "lemons", "flour", "sugar", "salt", "honey", "garlic", "beans",
]  # fmt: skip


def test_twenty_concurrent_conversations_each_see_only_their_own_list(running: Running) -> None:
    url = running.open.url + "/webhooks/rest/webhook"

    async def converse(client: aiohttp.ClientSession, index: int) -> str:
        sender = f"http-iso-{index}"
        for message in (f"add {ITEMS[index]} to my shopping list", "what's on my shopping list"):
            async with client.post(url, json={"sender": sender, "message": message}) as response:
                body = await response.json()
        assert [m["recipient_id"] for m in body] == [sender]
        return str(body[-1]["text"]).lower()

    async def scenario() -> list[str]:
        async with aiohttp.ClientSession() as client:
            return await asyncio.gather(*(converse(client, i) for i in range(20)))

    for index, listed in enumerate(running.run(scenario())):
        assert ITEMS[index] in listed, listed
        assert not any(item in listed for item in set(ITEMS) - {ITEMS[index]}), listed


# --- bad input -----------------------------------------------------------------------------------

WEBHOOK = "/webhooks/rest/webhook"


@pytest.mark.parametrize(
    ("path", "body", "problem"),
    [
        (WEBHOOK, b'{"sender": "a", "message": ', "not valid JSON"),
        (WEBHOOK, b"\xff\xfe", "not valid JSON"),
        (WEBHOOK, b'["hello"]', "must be a JSON object"),
        (WEBHOOK, b'{"sender": "a"}', "message: missing"),
        (WEBHOOK, b'{"sender": "a", "message": 7}', "message: must be a string"),
        (WEBHOOK, b'{"sender": ["a"], "message": "hi"}', "sender: must be a string"),
        (WEBHOOK, b'{"sender": "a b", "message": "hi"}', "sender: the conversation id may only"),
        (WEBHOOK, b'{"sender": "a", "message": "  "}', "message: the text is empty"),
        (WEBHOOK, b'{"sender": "a", "message": "hi", "metadata": 3}', "metadata: must be"),
        ("/conversations/a/turns", b'{"message": "hi"}', "text: missing"),
        ("/conversations/a/turns", b'{"text": ""}', "text: the text is empty"),
        ("/conversations/a%20b/turns", b'{"text": "hi"}', "conversation id may only"),
    ],
)
def test_bad_requests_get_400_saying_what_is_wrong(
    running: Running, path: str, body: bytes, problem: str
) -> None:
    status, answer = running.post(path, data=body)
    assert status == 400
    assert problem in answer["error"], answer


def test_a_body_over_the_limit_gets_413_with_or_without_its_length(running: Running) -> None:
    big = json.dumps({"sender": "http-big", "message": "a" * 70_000}).encode()
    status, answer = running.post(WEBHOOK, data=big)
    assert status == 413 and "larger than 65536 bytes" in answer["error"]

    async def chunks() -> Any:  # no Content-Length: the server counts as it reads
        for start in range(0, len(big), 8192):
            yield big[start : start + 8192]

    async def chunked() -> tuple[int, Any]:
        async with (
            aiohttp.ClientSession() as client,
            client.post(running.open.url + WEBHOOK, data=chunks()) as response,
        ):
            return response.status, await response.json()

    status, answer = running.run(chunked())
    assert status == 413 and "larger than" in answer["error"]
    assert "http-big" not in running.hub._conversations


def test_unknown_paths_and_methods_get_json_errors(running: Running) -> None:
    status, answer = running.get("/nowhere")
    assert status == 404 and "no such path: /nowhere" in answer["error"]
    status, answer = running.get(WEBHOOK)
    assert status == 405 and "GET is not allowed" in answer["error"]


def test_a_crashing_stage_costs_only_its_own_turn(tmp_path: Path) -> None:
    """The fake parser raises on 'boom': that turn's answer is the apology, the server goes on
    (machinery under test, so a fake stage)."""

    async def scenario() -> list[tuple[int, Any]]:
        async with Pipeline(make_plan(tmp_path)) as pipeline:
            hub = ConversationHub(pipeline)
            server = await Server.start(make_app(hub))
            try:
                return [
                    await request(
                        "POST", server.url + WEBHOOK, {"sender": s, "message": m}, None, None
                    )
                    for s, m in (("c1", "boom"), ("c1", "hello"), ("c2", "again"))
                ]
            finally:
                await server.runner.cleanup()
                await hub.close()

    crashed, after, other = asyncio.run(scenario())
    assert crashed == (200, [{"recipient_id": "c1", "text": APOLOGY}])
    assert after == (200, [{"recipient_id": "c1", "text": "you said hello"}])
    assert other == (200, [{"recipient_id": "c2", "text": "you said again"}])

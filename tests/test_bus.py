"""The bus: ordering, fan-out, sender routing, observers, backpressure, interrupts."""

from __future__ import annotations

import asyncio

import pytest

from assistant.core.bus import Bus, Envelope
from assistant.messages import Interrupt, Message, Reply, Transcript


def transcript(turn: int, text: str = "x", session: str = "s") -> Transcript:
    return Transcript(session_id=session, turn_id=turn, text=text)


async def drain(bus: Bus, subscription_name: str, count: int) -> list[Message]:
    subscription = next(s for s in bus._subscriptions if s.name == subscription_name)
    received = []
    for _ in range(count):
        received.append((await subscription.inbox.get()).message)
        subscription.inbox.task_done()
    return received


def test_each_subscriber_gets_messages_in_publication_order() -> None:
    async def scenario() -> list[Message]:
        bus = Bus(default_maxsize=1000)
        bus.subscribe("reader", {Transcript: None})
        for turn in range(200):
            await bus.publish(transcript(turn), "input")
        return await drain(bus, "reader", 200)

    received = asyncio.run(scenario())
    assert [m.turn_id for m in received] == list(range(200))


def test_fan_out_and_dispatch_by_type() -> None:
    async def scenario() -> tuple[list[Message], list[Message], list[Message]]:
        bus = Bus()
        bus.subscribe("a", {Transcript: None})
        bus.subscribe("b", {Transcript: None})
        bus.subscribe("replies", {Reply: None})
        await bus.publish(transcript(1), "input")
        await bus.publish(Reply(session_id="s", turn_id=1, text="hello"), "respond")
        return (await drain(bus, "a", 1), await drain(bus, "b", 1), await drain(bus, "replies", 1))

    a, b, replies = asyncio.run(scenario())
    assert a == b and isinstance(a[0], Transcript)
    assert isinstance(replies[0], Reply)


def test_routes_can_require_a_sender() -> None:
    async def scenario() -> list[Message]:
        bus = Bus()
        bus.subscribe("after-tone", {Reply: "tone"})
        await bus.publish(Reply(session_id="s", turn_id=1, text="raw"), "respond")
        await bus.publish(Reply(session_id="s", turn_id=1, text="toned"), "tone")
        return await drain(bus, "after-tone", 1)

    (reply,) = asyncio.run(scenario())
    assert isinstance(reply, Reply) and reply.text == "toned"


def test_observers_see_every_message_with_its_sender_and_a_broken_one_is_ignored() -> None:
    seen: list[tuple[str, str]] = []

    def broken(message: Message, sender: str) -> None:
        raise RuntimeError("observer bug")

    async def scenario() -> None:
        bus = Bus()
        bus.observe(broken)
        remove = bus.observe(lambda m, s: seen.append((type(m).__name__, s)))
        await bus.publish(transcript(1), "input")  # nobody subscribed: still observed
        await bus.publish(Reply(session_id="s", turn_id=1, text="hi"), "respond")
        remove()
        await bus.publish(transcript(2), "input")

    asyncio.run(scenario())
    assert seen == [("Transcript", "input"), ("Reply", "respond")]


def test_a_full_inbox_makes_the_publisher_wait() -> None:
    async def scenario() -> None:
        bus = Bus()
        subscription = bus.subscribe("slow", {Transcript: None}, maxsize=2)
        await bus.publish(transcript(1), "input")
        await bus.publish(transcript(2), "input")
        third = asyncio.create_task(bus.publish(transcript(3), "input"))
        await asyncio.sleep(0.05)
        assert not third.done(), "the publisher should wait while the inbox is full"
        assert len(subscription.inbox) == 2
        await subscription.inbox.get()
        subscription.inbox.task_done()
        await asyncio.wait_for(third, 1)
        assert len(subscription.inbox) == 2

    asyncio.run(scenario())


def test_system_messages_skip_the_queue_and_the_bound() -> None:
    async def scenario() -> list[Message]:
        bus = Bus()
        bus.subscribe("stage", {Transcript: None, Interrupt: None}, maxsize=1)
        await bus.publish(transcript(5), "input")
        # The inbox is full, yet the interrupt goes through at once and is read first.
        await asyncio.wait_for(bus.publish(Interrupt(session_id="other", turn_id=1), "input"), 0.5)
        return await drain(bus, "stage", 2)

    received = asyncio.run(scenario())
    assert isinstance(received[0], Interrupt)
    assert isinstance(received[1], Transcript)


def test_interrupt_drops_queued_work_of_the_interrupted_turns_only() -> None:
    interrupted: list[Interrupt] = []

    async def scenario() -> list[Message]:
        bus = Bus()
        bus.subscribe("stage", {Transcript: None}, on_interrupt=interrupted.append)
        for turn in (1, 2, 3):
            await bus.publish(transcript(turn), "input")
        await bus.publish(transcript(1, session="other-session"), "input")
        await bus.publish(Interrupt(session_id="s", turn_id=2), "input")
        received = await drain(bus, "stage", 2)
        await asyncio.wait_for(bus.join(), 1)  # dropped messages count as handled
        return received

    received = asyncio.run(scenario())
    assert [(m.session_id, m.turn_id) for m in received] == [("s", 3), ("other-session", 1)]
    assert len(interrupted) == 1


def test_an_interrupt_from_a_first_turn_spares_the_turns_before() -> None:
    """A withdrawn turn (the user went on with it) is dropped; earlier turns still queued go on."""

    async def scenario() -> list[Message]:
        bus = Bus()
        bus.subscribe("stage", {Transcript: None})
        for turn in (1, 2, 3):
            await bus.publish(transcript(turn), "input")
        await bus.publish(Interrupt(session_id="s", turn_id=2, first_turn_id=2), "input")
        received = await drain(bus, "stage", 2)
        await asyncio.wait_for(bus.join(), 1)
        return received

    assert [m.turn_id for m in asyncio.run(scenario())] == [1, 3]


def test_join_waits_until_everything_is_handled() -> None:
    async def scenario() -> list[str]:
        bus = Bus()
        done: list[str] = []
        subscription = bus.subscribe("worker", {Transcript: None})

        async def worker() -> None:
            while True:
                envelope = await subscription.inbox.get()
                await asyncio.sleep(0.01)
                done.append(envelope.message.text)  # type: ignore[attr-defined]
                subscription.inbox.task_done()

        task = asyncio.create_task(worker())
        for text in ("a", "b", "c"):
            await bus.publish(transcript(1, text), "input")
        await asyncio.wait_for(bus.join(), 2)
        task.cancel()
        return done

    assert asyncio.run(scenario()) == ["a", "b", "c"]


def test_inbox_needs_room() -> None:
    with pytest.raises(ValueError):
        Bus().subscribe("x", {Transcript: None}, maxsize=0).inbox  # noqa: B018


def test_interrupt_never_drops_input_audio() -> None:
    from assistant.messages import AudioFrame

    async def scenario() -> int:
        bus = Bus()
        subscription = bus.subscribe("vad", {AudioFrame: None})
        for _ in range(3):
            await bus.publish(AudioFrame(session_id="s", turn_id=0, pcm=b"\0\0"), "input")
        await bus.publish(Interrupt(session_id="s", turn_id=5), "input")
        return len(subscription.inbox)

    assert asyncio.run(scenario()) == 3


def test_the_dispatch_cache_follows_subscribers_coming_and_going() -> None:
    async def scenario() -> tuple[int, int]:
        bus = Bus()
        first = bus.subscribe("first", {Transcript: None})
        await bus.publish(transcript(1), "input")  # (Transcript, input) is now cached
        second = bus.subscribe("second", {Transcript: "input"})
        await bus.publish(transcript(2), "input")
        bus.unsubscribe(first)
        await bus.publish(transcript(3), "input")
        return len(first.inbox), len(second.inbox)

    assert asyncio.run(scenario()) == (2, 2)


def test_a_reader_waiting_on_an_empty_inbox_may_take_a_message_directly() -> None:
    async def scenario() -> None:
        bus = Bus()
        subscription = bus.subscribe("direct", {Transcript: None})
        inbox = subscription.inbox
        taken: list[int] = []

        def direct(envelope: Envelope) -> bool:
            taken.append(envelope.message.turn_id)
            return envelope.message.turn_id != 2  # turn 2 is declined: it queues

        inbox.direct = direct
        await bus.publish(transcript(0), "input")  # nobody waits: queued, direct not asked
        assert taken == [] and len(inbox) == 1
        assert (await inbox.get()).message.turn_id == 0
        inbox.task_done()

        reader = asyncio.create_task(inbox.get())
        await asyncio.sleep(0)  # the reader now waits on the empty inbox
        await bus.publish(transcript(1), "input")
        assert taken == [1] and len(inbox) == 0 and not reader.done()
        assert not inbox.idle, "a message taken directly is unfinished until task_done"
        joined = asyncio.create_task(inbox.join())
        await asyncio.sleep(0)
        assert not joined.done()
        inbox.task_done()
        await asyncio.wait_for(joined, 1)

        await bus.publish(transcript(2), "input")  # declined: the waiting reader gets it
        await bus.publish(transcript(3), "input")  # the reader was woken: queued behind 2
        assert taken == [1, 2]
        assert (await asyncio.wait_for(reader, 1)).message.turn_id == 2
        assert (await inbox.get()).message.turn_id == 3

    asyncio.run(scenario())


def test_an_inbox_has_one_reader() -> None:
    async def scenario() -> None:
        inbox = Bus().subscribe("x", {Transcript: None}).inbox
        first = asyncio.create_task(inbox.get())
        await asyncio.sleep(0)
        with pytest.raises(RuntimeError, match="one reader"):
            await inbox.get()
        first.cancel()

    asyncio.run(scenario())


def test_offer_leaves_what_a_full_inbox_cannot_take_to_deliver() -> None:
    async def scenario() -> None:
        bus = Bus()
        roomy = bus.subscribe("roomy", {Transcript: None}, maxsize=4)
        full = bus.subscribe("full", {Transcript: None}, maxsize=1)
        assert bus.offer(transcript(1), "input") is None
        pending = bus.offer(transcript(2), "input")
        assert pending is not None and pending[1] == (full.inbox,)
        assert len(roomy.inbox) == 2 and len(full.inbox) == 1
        delivering = asyncio.create_task(bus.deliver(pending))
        await asyncio.sleep(0.01)
        assert not delivering.done()
        await full.inbox.get()
        full.inbox.task_done()
        await asyncio.wait_for(delivering, 1)
        assert [(await full.inbox.get()).message.turn_id] == [2]

    asyncio.run(scenario())


def test_an_observer_may_remove_itself_or_add_another_while_it_is_called() -> None:
    seen: list[str] = []

    async def scenario() -> None:
        bus = Bus()

        def once(message: Message, sender: str) -> None:
            seen.append(f"once {message.turn_id}")
            remove_once()
            bus.observe(lambda m, s: seen.append(f"added {m.turn_id}"))

        remove_once = bus.observe(once)
        bus.observe(lambda m, s: seen.append(f"always {m.turn_id}"))
        await bus.publish(transcript(1), "input")
        await bus.publish(transcript(2), "input")

    asyncio.run(scenario())
    # What a publish calls is fixed when it starts: the added observer sees the next message.
    assert seen == ["once 1", "always 1", "always 2", "added 2"]

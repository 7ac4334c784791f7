"""The browser client at `/` in a real browser: Debian's Chromium driven by Playwright, headless,
against a real server (tests.test_ws.Server). Typing a question shows its answer; the microphone
path, fed by Chromium's fake capture device from a WAV this test synthesizes, answers a spoken
request in text and in audio. `UPDATE_SCREENSHOT=1` keeps the page in docs/browser-client.png."""

from __future__ import annotations

import os
import shutil
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.speech import conversation
from tests.test_ws import Server

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[1]
SCREENSHOT = ROOT / "docs" / "browser-client.png"
FLAGS = [
    "--no-sandbox", "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
    "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
]  # fmt: skip

pytestmark = pytest.mark.skipif(
    shutil.which(CHROMIUM) is None, reason="Debian's chromium is not installed (make test does)"
)


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    server = Server()
    yield server
    server.close()


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A spoken request with ~1 s of silence before and ~2 s after, as the fake microphone."""
    audio = conversation(1.0, "what time is it", 2.0)
    path = tmp_path_factory.mktemp("mic") / "request.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(audio.sample_rate)
        out.writeframes(audio.pcm)
    return path


@pytest.fixture(scope="module")
def page(
    server: Server, speech_wav: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[object]:
    profile = tmp_path_factory.mktemp("chromium-profile")
    with playwright_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=[*FLAGS, f"--use-file-for-fake-audio-capture={speech_wav}%noloop"],
            viewport={"width": 900, "height": 760},
        )
        page = context.new_page()
        page.goto(server.url + "/?conversation=browser-1")
        yield page
        context.close()


def test_the_page_loads_and_connects(page: object) -> None:
    expect = playwright_api.expect
    expect(page.get_by_role("heading", name="Assistant")).to_be_visible()  # type: ignore[attr-defined]
    expect(page.locator("#status")).to_contain_text("Connected", timeout=20_000)  # type: ignore[attr-defined]
    expect(page.locator("#text")).to_be_enabled()  # type: ignore[attr-defined]


def test_a_typed_question_shows_its_answer_and_its_timings(page: object) -> None:
    expect = playwright_api.expect
    page.locator("#text").fill("what is 17 times 23")  # type: ignore[attr-defined]
    page.locator("#text").press("Enter")  # type: ignore[attr-defined]
    reply = page.locator("#log li.assistant").last  # type: ignore[attr-defined]
    expect(reply).to_contain_text("391", timeout=60_000)
    expect(reply.locator(".timings")).to_contain_text("ms", timeout=30_000)
    expect(page.locator("#log li.user").last).to_contain_text("17 times 23")  # type: ignore[attr-defined]
    # Feedback on the reply is sent and acknowledged.
    thumbs_up = reply.get_by_role("button", name="Good reply")
    thumbs_up.click()
    expect(thumbs_up).to_have_attribute("aria-pressed", "true", timeout=10_000)


def test_a_spoken_request_through_the_microphone_is_answered_in_text_and_audio(
    page: object, tmp_path: Path
) -> None:
    expect = playwright_api.expect
    played_before = page.evaluate("window.assistantStats.audioChunks")  # type: ignore[attr-defined]
    replies_before = page.locator("#log li.assistant").count()  # type: ignore[attr-defined]
    page.locator("#mic").click()  # type: ignore[attr-defined]
    expect(page.locator("#mic")).to_have_attribute("aria-pressed", "true")  # type: ignore[attr-defined]
    heard = page.locator("#log li.user").last  # type: ignore[attr-defined]
    expect(heard).to_contain_text("time", timeout=60_000)
    reply = page.locator("#log li.assistant").nth(replies_before)  # type: ignore[attr-defined]
    expect(reply).to_contain_text("It", timeout=60_000)  # e.g. "It's 10:42."
    expect(reply.locator(".timings")).to_contain_text("voice to voice", timeout=30_000)
    page.wait_for_function(  # type: ignore[attr-defined]
        f"window.assistantStats.audioChunks > {played_before}", timeout=30_000
    )
    page.locator("#mic").click()  # type: ignore[attr-defined]
    # Still connected with the microphone off: a typed question is answered.
    page.locator("#text").fill("what is 6 times 7")  # type: ignore[attr-defined]
    page.locator("#text").press("Enter")  # type: ignore[attr-defined]
    last = page.locator("#log li.assistant").last  # type: ignore[attr-defined]
    expect(last).to_contain_text("42", timeout=60_000)
    expect(last.locator(".timings")).to_contain_text("ms", timeout=30_000)
    # The page as it stands, kept in docs/ when asked (it shows the time, so it changes).
    path = SCREENSHOT if os.environ.get("UPDATE_SCREENSHOT") else tmp_path / "page.png"
    page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

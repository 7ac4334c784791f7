"""Web pages as knowledge (`--knowledge http://...`), against a real aiohttp server on
127.0.0.1: extraction, the cache with URL and date, robots.txt, sitemaps, and a one-line error
for each page that cannot be used (404, not HTML, too large, too slow)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.typedefs import Handler

from assistant.commands.common import knowledge_paths
from assistant.knowledge.html_text import extract_text
from assistant.knowledge.web import WebFetcher, WebKnowledgeError, page_source

ROOT = Path(__file__).resolve().parents[1]

PAGE = """<!doctype html><html><head><title>Gull Point Lighthouse</title>
<style>body { color: red }</style><script>var tracking = "do not index me";</script></head>
<body><nav><a href="/">Home</a> <a href="/shop">Shop the gift store</a></nav>
<header>Coastal Heritage Trust</header>
<main><h1>Gull Point Lighthouse</h1>
<p>The lighthouse on Gull Point was built in 1874 from local granite.</p>
<p>The tower is 31 metres tall and its lamp can be seen 22 nautical miles out to sea.</p>
<h2>Visiting</h2>
<ul><li>Open daily from April to October.</li><li>Tickets cost four pounds for adults.</li></ul>
</main><footer>Copyright the trust. Cookie settings.</footer></body></html>"""

SECOND = """<html><head><title>Harbour Ferry</title></head><body><article>
<p>The harbour ferry leaves the pier every forty minutes between eight and six.</p>
</article></body></html>"""

SITEMAP = """<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
<url><loc>/page</loc></url><url><loc>/second</loc></url><url><loc>/private/notes</loc></url>
</urlset>"""

ROBOTS = "User-agent: *\nDisallow: /private\n"
XML = "text/xml"
LIMIT = 20_000  # the fetcher's size limit in these tests


async def _slow(request: web.Request) -> web.Response:
    await asyncio.sleep(3)
    return web.Response(text=PAGE, content_type="text/html")


def _redirect(to: str) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        raise web.HTTPFound(to)

    return handler


_FLAKY_SERVED: list[int] = []


async def _flaky(request: web.Request) -> web.Response:
    """The page the first time, then no answer in time (as if the network were gone)."""
    if _FLAKY_SERVED:
        await asyncio.sleep(3)
    _FLAKY_SERVED.append(1)
    return web.Response(text=PAGE, content_type="text/html")


async def _big_streamed(request: web.Request) -> web.StreamResponse:
    # No Content-Length: the limit must hold while reading, not only on the header.
    response = web.StreamResponse(headers={"Content-Type": "text/html"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    for _ in range(10):
        await response.write(b"<p>" + b"padding " * 1000 + b"</p>")
    await response.write_eof()
    return response


def _serve(make: Callable[[], web.Response]) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        return make()  # a response is sent once: a fresh one each time

    return handler


def _html(body: str) -> Handler:
    return _serve(lambda: web.Response(text=body, content_type="text/html", charset="utf-8"))


def _app() -> web.Application:
    app = web.Application()
    big = "<html><body><p>" + "word " * (LIMIT // 4) + "</p></body></html>"
    app.add_routes(
        [
            web.get("/robots.txt", _serve(lambda: web.Response(text=ROBOTS))),
            web.get("/page", _html(PAGE)),
            web.get("/second", _html(SECOND)),
            web.get("/private/notes", _html(SECOND)),
            web.get(
                "/sitemap.xml", _serve(lambda: web.Response(text=SITEMAP, content_type="text/xml"))
            ),
            web.get("/data.json", _serve(lambda: web.json_response({"height": 31}))),
            web.get("/big", _html(big)),
            web.get("/big-streamed", _big_streamed),
            web.get("/slow", _slow),
            web.get("/flaky", _flaky),
            web.get("/moved", _redirect("/page")),
            web.get("/sneaky", _redirect("/private/notes")),
        ]
    )
    return app


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    """The test site on 127.0.0.1 (a free port), served from a thread of its own."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(_app())
    loop.run_until_complete(runner.setup())
    tcp = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(tcp.start())
    port = runner.addresses[0][1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=10)


@pytest.fixture
def fetcher(tmp_path: Path) -> WebFetcher:
    return WebFetcher(tmp_path, timeout_s=0.5, max_bytes=LIMIT)


def test_the_main_text_is_kept_and_the_page_furniture_dropped() -> None:
    title, text = extract_text(PAGE)
    assert title == "Gull Point Lighthouse"
    assert text.splitlines()[0] == "# Gull Point Lighthouse"
    assert "The tower is 31 metres tall" in text
    assert "## Visiting" in text and "- Tickets cost four pounds for adults." in text
    for furniture in ("Shop the gift store", "Coastal Heritage", "Cookie", "tracking", "color"):
        assert furniture not in text


def test_a_page_is_cached_with_its_url_title_and_fetch_date(
    site: str, fetcher: WebFetcher, tmp_path: Path
) -> None:
    [page] = fetcher.fetch(f"{site}/page")
    assert page.path.parent == tmp_path / "web"
    assert "built in 1874 from local granite" in page.path.read_text()
    meta = json.loads(page.path.with_suffix(".json").read_text())
    assert meta["url"] == f"{site}/page" and meta["title"] == "Gull Point Lighthouse"
    assert meta["fetched"] == page.fetched and page.fetched.endswith("+00:00")
    assert page_source(page.path) == (f"{site}/page", "Gull Point Lighthouse")
    assert page_source(ROOT / "tests" / "data" / "knowledge" / "house-manual.md") is None


def test_a_redirect_is_followed(site: str, fetcher: WebFetcher) -> None:
    [page] = fetcher.fetch(f"{site}/moved")
    assert page.url == f"{site}/moved" and "31 metres tall" in page.path.read_text()


def test_a_sitemap_gives_its_pages_except_those_robots_txt_disallows(
    site: str, fetcher: WebFetcher, caplog: pytest.LogCaptureFixture
) -> None:
    pages = fetcher.fetch(f"{site}/sitemap.xml")
    assert [p.url for p in pages] == [f"{site}/page", f"{site}/second"]
    assert f"{site}/private/notes: robots.txt does not allow fetching it" in caplog.text


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("/private/notes", "robots.txt does not allow fetching it"),
        ("/sneaky", "robots.txt does not allow fetching it (redirected to {site}/private/notes)"),
        ("/missing", "HTTP 404 Not Found"),
        ("/data.json", "application/json is not an HTML page (or a sitemap.xml)"),
        ("/big", "larger than 20 kB, not used"),
        ("/big-streamed", "larger than 20 kB, not used"),
        ("/slow", "no answer within 0.5 s (timed out)"),
    ],
)
def test_a_page_that_cannot_be_used_is_a_one_line_error(
    site: str, fetcher: WebFetcher, path: str, error: str
) -> None:
    with pytest.raises(WebKnowledgeError) as raised:
        fetcher.fetch(site + path)
    assert str(raised.value) == f"{site}{path}: {error.format(site=site)}"
    assert not (fetcher.cache_dir / "web").exists() or not any(
        (fetcher.cache_dir / "web").iterdir()
    )


def test_a_closed_port_is_a_one_line_error(fetcher: WebFetcher) -> None:
    with pytest.raises(WebKnowledgeError, match=r"^http://127.0.0.1:9/page: cannot fetch it \("):
        fetcher.fetch("http://127.0.0.1:9/page")


def test_bad_urls_are_reported_and_the_other_documents_kept(
    site: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    notes = ROOT / "tests" / "data" / "knowledge" / "house-manual.md"
    paths = knowledge_paths([f"{site}/missing", notes, f"{site}/page"], tmp_path)
    assert paths[0] == notes and paths[1].parent == tmp_path / "web" and len(paths) == 2
    assert capsys.readouterr().err == f"knowledge: {site}/missing: HTTP 404 Not Found\n"


def test_chat_answers_from_a_page_and_names_it(site: str, tmp_path: Path) -> None:
    """Through `assistant chat`, a 404 beside the page: one line on stderr, and the answer
    comes from the page, naming it."""
    result = subprocess.run(
        [
            sys.executable, "-m", "assistant.cli", "chat", "--json", "--set", "dst=tracker-memory",
            "--knowledge", f"{site}/missing", "--knowledge", f"{site}/page",
            "--once", "how tall is the lighthouse on gull point",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"knowledge: {site}/missing: HTTP 404 Not Found" in result.stderr.splitlines()
    [turn] = [json.loads(line) for line in result.stdout.splitlines()]
    assert turn["source"] == "knowledge"
    assert turn["text"].startswith("According to Gull Point Lighthouse (127.0.0.1:")
    assert "31 metres" in turn["text"]


def test_a_page_fetched_before_answers_when_the_site_does_not(
    site: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Offline (here: the site answers once, then is too slow), the cached copy is used, with a
    warning that says when it was fetched; a site that answers 404 gets no second chance."""
    fetcher = WebFetcher(tmp_path, timeout_s=0.5)
    [page] = fetcher.fetch(f"{site}/flaky")
    assert "31 metres tall" in page.path.read_text()
    assert WebFetcher(tmp_path, timeout_s=0.5).fetch(f"{site}/flaky") == [page]
    assert (
        f"{site}/flaky: no answer within 0.5 s (timed out); using the copy fetched " in caplog.text
    )
    with pytest.raises(WebKnowledgeError, match="HTTP 404"):
        fetcher.fetch(f"{site}/missing")

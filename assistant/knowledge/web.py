"""Web pages as knowledge (`--knowledge https://...`: a page, or a sitemap.xml of pages).

Each page is fetched with httpx (robots.txt honoured, a timeout, a size limit, HTML only), its
main text extracted (`assistant.knowledge.html_text`) and kept in the cache folder as a markdown
file with a JSON sidecar naming its URL, title and fetch date. The knowledge index then reads the
markdown file like any document, and `page_source` tells the answer which page it came from.
A page that cannot be used is a one-line `WebKnowledgeError`; its caller reports it and goes on
with the other documents.
"""

from __future__ import annotations

import hashlib
import json
import logging
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from urllib.parse import urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import httpx

from assistant.knowledge.html_text import extract_text

log = logging.getLogger(__name__)

WEB_SUBDIR = "web"
USER_AGENT = "assistant-knowledge/1.0 (+offline voice assistant; fetches only what you name)"
MAX_PAGE_BYTES = 2_000_000  # a page of text is far smaller; larger is a download, not a page
TIMEOUT_S = 10.0
MAX_REDIRECTS = 5
MAX_SITEMAP_PAGES = 50  # a whole site is not a knowledge base for a voice assistant
HTML_TYPES = ("text/html", "application/xhtml+xml")
XML_TYPES = ("application/xml", "text/xml")


class WebKnowledgeError(Exception):
    """A URL that cannot be used as knowledge. The message is one line and names the URL;
    `unreachable` when the site did not answer (rather than answering no)."""

    def __init__(self, message: str, *, unreachable: bool = False) -> None:
        super().__init__(message)
        self.unreachable = unreachable


def is_url(value: str | Path) -> bool:
    return isinstance(value, str) and value.lower().startswith(("http://", "https://"))


@dataclass(frozen=True, slots=True)
class WebPage:
    url: str
    title: str
    fetched: str  # ISO 8601, UTC
    path: Path  # the cached markdown text the index reads


@dataclass(slots=True)
class WebFetcher:
    """Fetches pages for the knowledge index into `cache_dir/web/`."""

    cache_dir: Path
    timeout_s: float = TIMEOUT_S
    max_bytes: int = MAX_PAGE_BYTES
    max_pages: int = MAX_SITEMAP_PAGES
    _robots: dict[str, RobotFileParser] = field(default_factory=dict)

    def fetch(self, url: str) -> list[WebPage]:
        """The page at `url`, or each page of the sitemap at `url`. Raises WebKnowledgeError
        for the URL itself; a sitemap's pages that fail are skipped with a warning."""
        with httpx.Client(
            timeout=self.timeout_s, follow_redirects=False, headers={"User-Agent": USER_AGENT}
        ) as client:
            try:
                body, kind = self._get(client, url, accept_xml=True)
            except WebKnowledgeError as exc:
                # Offline, a page fetched before still answers (and says when it was fetched).
                cached = self.cached(url) if exc.unreachable else None
                if cached is None:
                    raise
                log.warning("%s; using the copy fetched %s", exc, cached.fetched)
                return [cached]
            if kind == "html":
                return [self._keep(url, body)]
            pages = []
            for page_url in self._sitemap_urls(client, url, body):
                try:
                    page_body, _ = self._get(client, page_url, accept_xml=False)
                    pages.append(self._keep(page_url, page_body))
                except WebKnowledgeError as exc:
                    log.warning("%s", exc)
            if not pages:
                raise WebKnowledgeError(f"{url}: the sitemap named no page that could be read")
            return pages

    def _get(self, client: httpx.Client, url: str, *, accept_xml: bool) -> tuple[bytes, str]:
        """(body, "html" or "xml") of `url`, checked for robots.txt, status, type and size.
        Redirects are followed here, not by httpx, so each hop's robots.txt is honoured."""
        current = url
        try:
            for _ in range(MAX_REDIRECTS + 1):
                if not self._allowed(client, current):
                    where = "" if current == url else f" (redirected to {current})"
                    raise WebKnowledgeError(f"{url}: robots.txt does not allow fetching it{where}")
                with client.stream("GET", current) as response:
                    if not response.is_redirect:
                        return self._read(response, url, accept_xml)
                    current = urljoin(current, response.headers.get("location", ""))
            raise WebKnowledgeError(f"{url}: more than {MAX_REDIRECTS} redirects")
        except httpx.TimeoutException:
            raise WebKnowledgeError(
                f"{url}: no answer within {self.timeout_s:g} s (timed out)", unreachable=True
            ) from None
        except httpx.HTTPError as exc:
            raise WebKnowledgeError(
                f"{url}: cannot fetch it ({_one_line(exc)})", unreachable=True
            ) from None

    def _read(self, response: httpx.Response, url: str, accept_xml: bool) -> tuple[bytes, str]:
        if response.status_code >= 400:
            reason = response.reason_phrase or "error"
            raise WebKnowledgeError(f"{url}: HTTP {response.status_code} {reason}")
        kind = _kind(response.headers.get("content-type", ""), url, accept_xml)
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise self._too_large(url)
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > self.max_bytes:
                raise self._too_large(url)
        return bytes(body), kind

    def _too_large(self, url: str) -> WebKnowledgeError:
        return WebKnowledgeError(f"{url}: larger than {self.max_bytes // 1000} kB, not used")

    def _allowed(self, client: httpx.Client, url: str) -> bool:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        robots = self._robots.get(origin)
        if robots is None:
            robots = self._robots[origin] = _read_robots(client, origin)
        return robots.can_fetch(USER_AGENT, url)

    def _sitemap_urls(self, client: httpx.Client, url: str, body: bytes) -> list[str]:
        """The page URLs a sitemap lists; a sitemap index's sitemaps are read one level deep."""
        kind, locations = _parse_sitemap(url, body)
        if kind == "sitemapindex":
            nested: list[str] = []
            for sitemap in locations:
                if len(nested) >= self.max_pages:
                    break
                try:
                    child, _ = self._get(client, sitemap, accept_xml=True)
                    child_kind, pages = _parse_sitemap(sitemap, child)
                    if child_kind == "urlset":
                        nested += pages
                except WebKnowledgeError as exc:
                    log.warning("%s", exc)
            locations = nested
        if len(locations) > self.max_pages:
            log.warning(
                "%s: only the first %d of %d pages are used", url, self.max_pages, len(locations)
            )
        return locations[: self.max_pages]

    def _paths(self, url: str) -> tuple[Path, Path]:
        """(markdown text, JSON sidecar) of the page at `url` in the cache."""
        key = hashlib.sha1(url.encode()).hexdigest()[:24]
        path = self.cache_dir / WEB_SUBDIR / f"{key}.md"
        return path, path.with_suffix(".json")

    def cached(self, url: str) -> WebPage | None:
        """The copy of the page at `url` fetched before, if the cache has it."""
        path, sidecar = self._paths(url)
        try:
            meta = json.loads(sidecar.read_text(encoding="utf-8"))
            if meta["url"] != url or not path.is_file():
                return None
            return WebPage(
                url=url, title=str(meta["title"]), fetched=str(meta["fetched"]), path=path
            )
        except (OSError, ValueError, KeyError):
            return None

    def _keep(self, url: str, body: bytes) -> WebPage:
        """Extract the page's text and cache it; the markdown is rewritten only when the text
        changed, so the index's embedding cache still recognises it."""
        title, text = extract_text(_decode(body))
        if not text.strip():
            raise WebKnowledgeError(f"{url}: the page has no text to answer from")
        path, sidecar = self._paths(url)
        folder = path.parent
        fetched = datetime.now(UTC).replace(microsecond=0).isoformat()
        document = f"# {title}\n\n{text}\n" if title else f"{text}\n"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if not path.is_file() or path.read_text(encoding="utf-8") != document:
                _write(path, document)
            meta = {"url": url, "title": title, "fetched": fetched}
            _write(sidecar, json.dumps(meta, ensure_ascii=False))
        except OSError as exc:
            raise WebKnowledgeError(f"{url}: cannot cache it in {folder}: {exc}") from None
        page_source.cache_clear()
        return WebPage(url=url, title=title, fetched=fetched, path=path)


@lru_cache(maxsize=256)
def page_source(path: Path) -> tuple[str, str] | None:
    """(URL, title) of a cached web page's markdown file, None for the user's own files."""
    if path.parent.name != WEB_SUBDIR or path.suffix != ".md":
        return None
    try:
        meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        return str(meta["url"]), str(meta.get("title", ""))
    except (OSError, ValueError, KeyError):
        return None


def source_name(url: str, title: str) -> str:
    """How an answer names its page: the title and the site, or the URL."""
    host = urlsplit(url).netloc
    return f"{title} ({host})" if title else url


def _read_robots(client: httpx.Client, origin: str) -> RobotFileParser:
    """The site's robots.txt: missing (4xx) allows everything, 401/403 nothing (the
    convention urllib.robotparser follows); unreachable allows, as the page fetch will fail."""
    robots = RobotFileParser(f"{origin}/robots.txt")
    try:
        response = client.get(f"{origin}/robots.txt")
    except httpx.HTTPError:
        robots.parse([])
        return robots
    if response.status_code in (401, 403):
        robots.parse(["User-agent: *", "Disallow: /"])
    elif response.status_code >= 400:
        robots.parse([])
    else:
        robots.parse(response.text[:500_000].splitlines())
    return robots


def _kind(content_type: str, url: str, accept_xml: bool) -> str:
    mime = content_type.split(";")[0].strip().lower()
    if mime in HTML_TYPES:
        return "html"
    if accept_xml and (mime in XML_TYPES or (not mime and url.lower().endswith(".xml"))):
        return "xml"
    what = mime or "no content type"
    raise WebKnowledgeError(f"{url}: {what} is not an HTML page (or a sitemap.xml)")


def _parse_sitemap(url: str, body: bytes) -> tuple[str, list[str]]:
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise WebKnowledgeError(f"{url}: not a readable sitemap ({exc})") from None
    kind = root.tag.rsplit("}", 1)[-1]
    if kind not in ("urlset", "sitemapindex"):
        raise WebKnowledgeError(f"{url}: XML that is not a sitemap (<{kind}>)")
    locations = [
        urljoin(url, el.text.strip())
        for el in root.iter()
        if el.tag.rsplit("}", 1)[-1] == "loc" and el.text and is_url(urljoin(url, el.text.strip()))
    ]
    return kind, list(dict.fromkeys(locations))


def _decode(body: bytes) -> str:
    """The page's text: utf-8 (with or without a BOM) when it is, else latin-1 (cp1252's
    superset is close enough for extraction), never an error."""
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError:
        return body.decode("cp1252", errors="replace")


def _write(path: Path, text: str) -> None:
    partial = path.with_suffix(path.suffix + ".tmp")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__

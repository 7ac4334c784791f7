"""Answers from the user's documents with the real MiniLM encoder: the right passage for
paraphrased questions, no answer for questions the documents do not cover, short markdown-free
spoken text, the on-disk embedding cache, and unusable files and paths."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from assistant.knowledge import KnowledgeError, KnowledgeIndex
from assistant.knowledge.answer import best_window
from assistant.knowledge.cache import CACHE_SUBDIR, Vectors
from assistant.knowledge.index import DEFAULT_THRESHOLD
from assistant.knowledge.passages import iter_sections, pack_sentences, strip_inline_markdown
from assistant.nlu.embedder import SentenceEncoder, shared_encoder
from assistant.text.sentences import split_sentences
from assistant.text.spoken import SPOKEN

DOCS = Path(__file__).resolve().parent / "data" / "knowledge"

# Paraphrases (not the documents' wording) -> (file, section heading) that holds the answer.
# benchmarks/knowledge.py measures the scores of these and of more, harder ones.
ANSWERABLE: dict[str, tuple[str, str]] = {
    "where can I find the wifi password": ("house-manual.md", "Wifi"),
    "which day does the rubbish get collected": ("house-manual.md", "Bins and recycling"),
    "the heating stopped working, how do I restart the boiler": (
        "house-manual.md",
        "Heating and hot water",
    ),
    "is there a number for someone to fix the boiler": ("house-manual.md", "Useful contacts"),
    "where is the fuse box": ("house-manual.md", "Water and electricity"),
    "how often should I water the monstera": ("plant-care.md", "Monstera (living room)"),
    "why are the leaves of my monstera turning yellow": (
        "plant-care.md",
        "Monstera (living room)",
    ),
    "how often does the basil need watering": ("plant-care.md", "Herbs on the kitchen windowsill"),
    "how do I connect the kettle to my phone": (
        "lumo-kettle-faq.md",
        "How do I pair the kettle with the app?",
    ),
    "what can I use to clean the inside of the kettle": (
        "lumo-kettle-faq.md",
        "How do I descale it?",
    ),
    "what does a flashing red light on the kettle mean": (
        "lumo-kettle-faq.md",
        "What do the ring light colours mean?",
    ),
    "what pressure should the car tyres be": ("car-notes.txt", "Car notes (the blue Skoda Fabia)"),
    "when is the car's MOT due": ("car-notes.txt", "Car notes (the blue Skoda Fabia)"),
}

UNANSWERABLE = [
    "who won the world cup in 1998",
    "what's the capital of australia",
    "tell me a joke",
    "how tall is mount everest",
    "who wrote pride and prejudice",
    "what is the population of japan",
    "how do I bake sourdough bread",
]

MARKDOWN_LEFTOVERS = ("**", "`", "](", "http", "#", "- ", "__")


@pytest.fixture(scope="session")
def encoder() -> SentenceEncoder:
    return shared_encoder()


@pytest.fixture(scope="module")
def index(encoder: SentenceEncoder) -> KnowledgeIndex:
    return KnowledgeIndex.build(DOCS, encoder)


def copy_docs(target: Path, names: Sequence[str] | None = None) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(DOCS.iterdir()):
        if names is None or path.name in names:
            shutil.copy2(path, target / path.name)
    return target


def passages_of(index: KnowledgeIndex, name: str) -> int:
    return sum(1 for p in index.passages if p.source_path.name == name)


# --- answers -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("question", "expected"), ANSWERABLE.items())
def test_paraphrased_question_is_answered_from_the_right_passage(
    index: KnowledgeIndex, question: str, expected: tuple[str, str]
) -> None:
    answer = index.answer(question)
    assert answer is not None, f"no answer for {question!r}: {index.search(question, 1)}"
    assert (answer.source_path.name, answer.heading) == expected
    assert answer.score >= DEFAULT_THRESHOLD


@pytest.mark.parametrize("question", UNANSWERABLE)
def test_question_the_documents_do_not_cover_gets_no_answer(
    index: KnowledgeIndex, question: str
) -> None:
    assert index.answer(question) is None, index.search(question, 1)


def test_spoken_answers_are_short_and_markdown_free(index: KnowledgeIndex) -> None:
    for question in ANSWERABLE:
        answer = index.answer(question)
        assert answer is not None
        assert SPOKEN.fits(split_sentences(answer.text)), answer.text
        assert answer.text[-1] in ".!?…", answer.text
        leftovers = [mark for mark in MARKDOWN_LEFTOVERS if mark in answer.text]
        assert not leftovers, f"{answer.text!r} keeps {leftovers}"
        assert answer.heading not in answer.text  # headings help retrieval, not speech


def test_answers_speak_link_and_code_text_without_the_markup(index: KnowledgeIndex) -> None:
    contacts = index.answer("is there a number for someone to fix the boiler")
    assert contacts is not None
    assert "Warmfix Heating, 01632 960 411" in contacts.text
    boiler = index.answer("the heating stopped working, how do I restart the boiler")
    assert boiler is not None
    assert boiler.text.startswith("To reset the boiler, hold the RESET button")


def test_a_long_passage_is_cut_to_the_sentences_that_answer(index: KnowledgeIndex) -> None:
    # The wifi passage has three sentences; the router tip is the third.
    answer = index.answer("the internet connection keeps dropping, what should I do", 0.3)
    assert answer is not None
    assert answer.heading == "Wifi"
    assert answer.text.endswith("unplug the router for ten seconds and plug it back in.")
    assert "AlderHome" not in answer.text


def test_blank_question_and_empty_folder_give_no_answer(
    index: KnowledgeIndex, encoder: SentenceEncoder, tmp_path: Path
) -> None:
    assert index.answer("   ") is None
    empty = KnowledgeIndex.build(tmp_path, encoder)
    assert len(empty) == 0
    assert empty.answer("where is the wifi password") is None


def test_a_single_file_can_be_the_knowledge(encoder: SentenceEncoder) -> None:
    index = KnowledgeIndex.build(DOCS / "car-notes.txt", encoder)
    assert index.files == [(DOCS / "car-notes.txt").resolve()]
    answer = index.answer("what oil does the car need")
    assert answer is not None
    assert answer.text.startswith("The engine takes 5W-30 long-life oil.")


# --- the cache -----------------------------------------------------------------------------------


def test_second_build_of_an_unchanged_folder_embeds_nothing(
    encoder: SentenceEncoder, tmp_path: Path
) -> None:
    docs = copy_docs(tmp_path / "docs")
    cache = tmp_path / "cache"
    first = KnowledgeIndex.build(docs, encoder, cache)
    assert first.embedded_count == len(first) > 0
    assert len(list((cache / CACHE_SUBDIR).glob("*.npz"))) == len(first.files) == 4

    second = KnowledgeIndex.build(docs, encoder, cache)
    assert second.embedded_count == 0
    assert [p.text for p in second.passages] == [p.text for p in first.passages]
    np.testing.assert_array_equal(second.vectors, first.vectors)
    answer = second.answer("where can I find the wifi password")
    assert answer is not None
    assert answer.heading == "Wifi"

    # A new mtime with the same content (a touch, a checkout) is recognised by its sha1.
    manual = docs / "house-manual.md"
    os.utime(manual, ns=(manual.stat().st_atime_ns, manual.stat().st_mtime_ns + 10**9))
    assert KnowledgeIndex.build(docs, encoder, cache).embedded_count == 0
    assert KnowledgeIndex.build(docs, encoder, cache).embedded_count == 0  # signature updated


def test_a_changed_file_is_embedded_again_alone(encoder: SentenceEncoder, tmp_path: Path) -> None:
    docs = copy_docs(tmp_path / "docs", ["car-notes.txt", "plant-care.md"])
    cache = tmp_path / "cache"
    KnowledgeIndex.build(docs, encoder, cache)

    plants = docs / "plant-care.md"
    plants.write_text(
        plants.read_text(encoding="utf-8")
        + "\n## Orchid (bathroom)\n\nSoak the orchid for ten minutes every Sunday, "
        "then let it drain completely.\n",
        encoding="utf-8",
    )
    index = KnowledgeIndex.build(docs, encoder, cache)
    assert index.embedded_count == passages_of(index, "plant-care.md") > 0
    assert passages_of(index, "car-notes.txt") > 0  # still there, from the cache
    answer = index.answer("how do I water the orchid")
    assert answer is not None
    assert answer.heading == "Orchid (bathroom)"
    assert answer.text.startswith("Soak the orchid for ten minutes every Sunday")


def test_a_corrupt_cache_entry_is_rebuilt(encoder: SentenceEncoder, tmp_path: Path) -> None:
    docs = copy_docs(tmp_path / "docs", ["car-notes.txt"])
    cache = tmp_path / "cache"
    first = KnowledgeIndex.build(docs, encoder, cache)
    (entry,) = (cache / CACHE_SUBDIR).glob("*.npz")
    entry.write_bytes(b"not a zip file")
    again = KnowledgeIndex.build(docs, encoder, cache)
    assert again.embedded_count == len(first)
    assert KnowledgeIndex.build(docs, encoder, cache).embedded_count == 0


class OtherModel:
    """The real encoder under another model folder: the cache must not serve its vectors."""

    def __init__(self, encoder: SentenceEncoder, model_dir: Path) -> None:
        self.encoder = encoder
        self.model_dir = model_dir

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> Vectors:
        return self.encoder.encode(texts, batch_size)


def test_the_cache_is_per_encoder_model(encoder: SentenceEncoder, tmp_path: Path) -> None:
    docs = copy_docs(tmp_path / "docs", ["car-notes.txt"])
    cache = tmp_path / "cache"
    first = KnowledgeIndex.build(docs, encoder, cache)
    other = KnowledgeIndex.build(docs, OtherModel(encoder, tmp_path / "other-model"), cache)
    assert other.embedded_count == len(first) > 0


def test_progress_reports_files_done_of_total(encoder: SentenceEncoder, tmp_path: Path) -> None:
    docs = copy_docs(tmp_path / "docs", ["car-notes.txt", "plant-care.md"])
    calls: list[tuple[int, int]] = []
    KnowledgeIndex.build(docs, encoder, tmp_path / "cache", lambda *call: calls.append(call))
    assert calls == [(0, 2), (1, 2), (2, 2)]


def test_folders_are_searched_recursively_skipping_hidden_ones_and_link_loops(
    encoder: SentenceEncoder, tmp_path: Path
) -> None:
    docs = copy_docs(tmp_path / "docs" / "car", ["car-notes.txt"]).parent
    copy_docs(docs / ".git", ["plant-care.md"])
    (docs / "car" / "loop").symlink_to(docs, target_is_directory=True)
    index = KnowledgeIndex.build(docs, encoder)
    assert [p.name for p in index.files] == ["car-notes.txt"]


# --- unusable input ------------------------------------------------------------------------------


def test_a_missing_path_is_a_one_line_knowledge_error(
    encoder: SentenceEncoder, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-notes"
    with pytest.raises(KnowledgeError) as caught:
        KnowledgeIndex.build([DOCS, missing], encoder)
    message = str(caught.value)
    assert str(missing) in message
    assert "\n" not in message


def test_binary_and_non_utf8_files_are_skipped_with_a_warning(
    encoder: SentenceEncoder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    docs = copy_docs(tmp_path / "docs", ["car-notes.txt"])
    (docs / "scan.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    (docs / "old.md").write_bytes("Caf\xe9 notes, saved as Latin-1.".encode("latin-1"))
    (docs / "photo.jpg").write_bytes(b"\xff\xd8\xff\x00")  # not a document: never looked at
    with caplog.at_level(logging.WARNING, logger="assistant.knowledge.documents"):
        index = KnowledgeIndex.build(docs, encoder, tmp_path / "cache")
    assert sorted(p.name for p in index.skipped) == ["old.md", "scan.txt"]
    assert [p.name for p in index.files] == ["car-notes.txt"]
    warnings = " ".join(r.getMessage() for r in caplog.records)
    assert "scan.txt: not a text file" in warnings
    assert "old.md: not utf-8 text" in warnings
    assert index.answer("who is the car insured with") is not None


# --- passages and spoken text, without the model -------------------------------------------------


@pytest.mark.parametrize(
    ("markdown", "plain"),
    [
        ("See [the manual](https://x.example/a.pdf) for **it**.", "See the manual for it."),
        ("Press `RESET` and *wait*.", "Press RESET and wait."),
        ("Keep my_file_name and _this_ apart.", "Keep my_file_name and this apart."),
        ("![router](img.png) ~~old~~ new<br>", "router old new"),
        ("Footnote[^1] and escaped \\*star\\*.", "Footnote and escaped *star*."),
    ],
)
def test_strip_inline_markdown(markdown: str, plain: str) -> None:
    assert strip_inline_markdown(markdown) == plain


def test_sections_follow_headings_and_read_lists_and_tables_as_sentences() -> None:
    document = (
        "---\ntitle: front matter\n---\n"
        "Guide\n=====\n\nIntro text\nover two lines.\n\n"
        "## Bins\n\n- Black bin: *Thursday*\n- Blue bin: Monday\n  every other week\n\n"
        "| Day | Bin |\n|-----|-----|\n| Mon | blue |\n\n"
        "### Tips\n\n> Quoted tip.\n\n"
        "# Other\n\n```\nmake clean\n```\n\n[ref]: https://example.com\n"
    )
    assert iter_sections(document) == [
        (("Guide",), "Intro text over two lines."),
        (("Guide", "Bins"), "Black bin: Thursday. Blue bin: Monday every other week."),
        (("Guide", "Bins"), "Day, Bin. Mon, blue."),
        (("Guide", "Bins", "Tips"), "Quoted tip."),
        (("Other",), "make clean."),
    ]


def test_a_short_line_alone_titles_a_text_file_section() -> None:
    text = "Car notes\n\nTyres at 2.2 bar.\n\nCall Sam on Friday.\n"
    assert iter_sections(text, plain_text=True) == [
        (("Car notes",), "Car notes."),
        (("Car notes",), "Tyres at 2.2 bar."),
        (("Car notes",), "Call Sam on Friday."),
    ]
    # In markdown, only heading syntax makes headings.
    assert iter_sections(text)[1] == ((), "Tyres at 2.2 bar.")


def test_passages_hold_at_most_three_sentences_and_300_chars() -> None:
    sentences = [f"Sentence number {i} is here." for i in range(7)] + ["word " * 100]
    passages = pack_sentences(sentences)
    assert [len(p) for p in passages[:3]] == [3, 3, 1]
    assert all(len(" ".join(p)) <= 300 for p in passages)
    assert " ".join(" ".join(p) for p in passages).split() == " ".join(sentences).split()


def test_best_window_keeps_the_best_sentence_and_its_closest_neighbour() -> None:
    sentences = ["Intro.", "The answer.", "A detail.", "Unrelated."]
    assert best_window(sentences, [0.1, 0.9, 0.5, 0.2]) == (1, 3)
    assert best_window(sentences, [0.6, 0.9, 0.5, 0.2]) == (0, 2)
    long = ["x" * 245 + ".", "The answer.", "y" * 245 + "."]
    assert best_window(long, [0.5, 0.9, 0.5]) == (1, 2)  # no neighbour fits with it


def test_indexing_a_large_folder_shows_a_progress_bar(capsys: pytest.CaptureFixture[str]) -> None:
    from assistant.stages.respond.chain import knowledge_progress

    for done in range(0, 26):
        knowledge_progress(done, 25)
    knowledge_progress(0, 3)  # a handful of documents is quick: no bar
    err = capsys.readouterr().err
    assert "indexing documents" in err and "25/25" in err
    assert "/3" not in err

"""The spoken-length policy: which sentences fit, how a long one is cut, what a cap keeps."""

from __future__ import annotations

import pytest

from assistant.text.spoken import CUT_MARK, SPOKEN, SpokenLength


def test_fits_counts_sentences_and_characters() -> None:
    length = SpokenLength(max_sentences=2, max_chars=20)
    assert length.fits([])
    assert length.fits(["One.", "Two."])
    assert not length.fits(["One.", "Two.", "Three."])
    assert length.fits(["x" * 20])
    assert not length.fits(["x" * 10, "y" * 10])  # 21 with the space between them
    assert SpokenLength(max_sentences=1).fits(["x" * 1000])  # no character cap


def test_cut_prefers_a_clause_boundary_in_the_second_half() -> None:
    cut = SpokenLength(1, 100).cut("Hold the button, " * 20)
    assert len(cut) <= 100
    assert cut.endswith("Hold the button" + CUT_MARK)
    # A clause mark early on is no place to stop: cut between words instead.
    early = SpokenLength(1, 50).cut("Yes, " + "and more words " * 10)
    assert early == "Yes, and more words and more words and more" + CUT_MARK


def test_cut_falls_back_to_a_word_then_to_the_limit() -> None:
    words = SpokenLength(1, 50).cut("word " * 80)
    assert len(words) <= 50 and words.endswith("word" + CUT_MARK)
    unbroken = SpokenLength(1, 10).cut("x" * 30)
    assert unbroken == "x" * 9 + CUT_MARK


def test_cut_leaves_what_fits_and_never_dangles_punctuation() -> None:
    assert SPOKEN.cut("Short enough.") == "Short enough."
    assert SpokenLength(1).cut("x " * 500) == "x " * 500  # no character cap: kept whole
    cut = SpokenLength(1, 30).cut("Take the first left - then the second right.")
    assert cut == "Take the first left" + CUT_MARK


@pytest.mark.parametrize(
    ("sentences", "after", "kept"),
    [
        (["One.", "Two.", "Three."], [], ["One.", "Two."]),
        (["One.", "Two."], ["Zero."], ["One."]),  # what was said already counts
        (["One."], ["Zero.", "Half."], []),
        ([], [], []),
        (["x" * 15 + ".", "y" * 15 + "."], [], ["x" * 15 + "."]),  # the second is too long
        (["Short.", "z" * 30 + "."], [], ["Short."]),  # later sentences are dropped, not cut
    ],
)
def test_cap_keeps_the_leading_sentences_that_fit(
    sentences: list[str], after: list[str], kept: list[str]
) -> None:
    assert SpokenLength(max_sentences=2, max_chars=30).cap(sentences, after) == kept


def test_cap_cuts_a_long_first_sentence_and_stops_there() -> None:
    kept = SpokenLength(max_sentences=2, max_chars=30).cap(["word " * 20 + "end.", "Ok."])
    assert len(kept) == 1 and len(kept[0]) <= 30 and kept[0].endswith(CUT_MARK)
    # After sentences said already, one that does not fit is dropped, never cut.
    assert SpokenLength(max_sentences=3, max_chars=30).cap(["word " * 20], after=["Hi."]) == []


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        SpokenLength(max_sentences=0)
    with pytest.raises(ValueError, match="positive"):
        SpokenLength(max_sentences=1, max_chars=0)


def test_the_default_is_two_sentences_of_about_one_breath() -> None:
    assert (SPOKEN.max_sentences, SPOKEN.max_chars) == (2, 220)

"""The language model Whisper's N best transcripts are rescored with, and the rescoring itself
(no Whisper loaded: hypotheses as the beam gives them)."""

from __future__ import annotations

import math

from assistant.config import BUILTIN_SKILLS_DIR
from assistant.skills.loader import load_skills
from assistant.speech.lm import NUMBER, WordLM, words
from assistant.speech.nbest import Hypothesis, compression_ratio
from assistant.speech.rescore import Rescorer
from assistant.stages.asr.vocabulary import lm_sentences, skills_lm
from assistant.stages.asr.whisper_ct2 import FasterWhisperParams

SENTENCES = (
    "set a timer for ten minutes",
    "set a timer for 5 minutes",
    "what is 17 times 23",
    "what's 144 divided by 12",
    "add oat milk to my shopping list",
    "add eggs to the list",
    "my name is sam",
)


def per_word(lm: WordLM, text: str) -> float:
    logprob, scored = lm.logprob(text)
    return logprob / scored


def test_words_are_lower_case_without_punctuation_and_numbers_are_one_class() -> None:
    assert words("What is 12 times nine?") == ["what", "is", NUMBER, "times", NUMBER]
    assert words("What's two hundred and fifty plus 1,250?") == [
        "what's", NUMBER, "plus", NUMBER
    ]  # fmt: skip
    assert words("...") == []


def test_a_request_scores_above_its_words_scrambled() -> None:
    lm = WordLM(SENTENCES)
    for sentence in ("set a timer for twenty minutes", "add eggs to my shopping list"):
        scrambled = " ".join(reversed(sentence.split()))
        assert lm.logprob(sentence)[0] > lm.logprob(scrambled)[0] + 5


def test_said_and_written_numbers_score_alike() -> None:
    lm = WordLM(SENTENCES)
    assert lm.logprob("what is twelve times nine") == lm.logprob("What is 12 times 9?")
    assert lm.logprob("what is 12 times 9")[0] > lm.logprob("what is 12 times i did")[0] + 5


def test_an_unknown_word_is_unlikely_but_possible() -> None:
    lm = WordLM(SENTENCES)
    logprob, scored = lm.logprob("my name is siobhan")
    assert math.isfinite(logprob) and scored == 5
    assert "siobhan" not in lm.vocabulary
    # As likely as a word seen once, not infinitely worse: a name costs a few nats.
    assert lm.logprob("my name is siobhan")[0] > lm.logprob("my name is sam")[0] - 6
    # Probabilities of what can follow a context sum to one (the unknown word included).
    total = sum(lm.prob(w, ["set", "a"]) for w in [*lm.vocabulary, "</s>", "<unknown>"])
    assert abs(total - 1) < 1e-6


def test_the_rescorer_chooses_the_request_the_beam_kept_second() -> None:
    lm = WordLM(SENTENCES)
    beam = [Hypothesis("What is 12 times I did?", -0.39), Hypothesis("What is 12 times 9?", -0.44)]
    assert Rescorer(lm, 0.2).choose(beam).text == "What is 12 times 9?"
    assert Rescorer(lm, 0.0).choose(beam).text == "What is 12 times I did?"  # off: the beam's best
    # Far behind the beam's best, a reading is no candidate however well the LM likes it (the
    # beam keeps cut-off sentences).
    cut = [
        Hypothesis("Good morning. I slept really well.", -0.05),
        Hypothesis("Set a timer.", -1.0),
    ]
    assert Rescorer(lm, 5.0).choose(cut).text == "Good morning. I slept really well."


def test_the_skills_corpus_says_every_listed_value_inside_a_request() -> None:
    sentences = lm_sentences(load_skills((BUILTIN_SKILLS_DIR,)))
    # "quinoa" is only in the grocery lookup table: the corpus also says it inside a request.
    assert "quinoa" in sentences
    assert any("quinoa" in s and len(s.split()) > 2 for s in sentences)
    lm = skills_lm(())
    assert skills_lm(()) is lm  # built once per skill folders
    assert {"add", "timer", "times", "kilometers", "quinoa"} <= lm.vocabulary
    assert per_word(lm, "add quinoa to my shopping list") > per_word(lm, "and quinoa to my list")


def test_rescoring_is_a_stage_param_on_by_default() -> None:
    params = FasterWhisperParams()
    assert params.rescore == "skills" and params.lm_weight > 0 and params.nbest == 5
    assert FasterWhisperParams(rescore="none").rescore == "none"


def test_compression_ratio_flags_a_repetitive_text() -> None:
    assert compression_ratio("what is twelve times nine") < 2.4
    assert compression_ratio("thank you " * 30) > 2.4

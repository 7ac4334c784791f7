"""Learning from use: corrections and confirmed low-confidence turns become training examples.

`learn` writes them, in Rasa's nlu.yml format, to a user skill folder of their own
(`learned_skill_dir()`, which every pipeline's skills then include; the built-in skills are
never edited), refits the intent model on the skills plus that folder and compares held-out
intent accuracy before and after. The change is kept only if accuracy does not drop by more than
`NOISE_LINES` held-out lines (a refit alone moves a line that sits on the out-of-scope threshold
to either side; refusing for it refused every correction), and never below the shipped model's
by more than that, so learning again and again cannot drift down: otherwise the folder is left
exactly as it was. A refit is a new fit of the classifier on the new training
data; the fitted-model cache keys on that data (`assistant.nlu.fitted`), so the next start of any
pipeline loads the new model.

The intent model is built by the caller (`build`): this library knows no stages.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from assistant.learning.corrections import LearnedExample, Skipped, collect
from assistant.learning.evaluate import (
    DEFAULT_HELDOUT,
    Accuracy,
    IntentModel,
    evaluate,
    read_examples,
    unseen,
)
from assistant.learning.learned import (
    Learned,
    LearnedFolderError,
    read_learned,
    render_nlu,
    write_learned,
)
from assistant.learning.paths import has_learned_skill, learned_skill_dir
from assistant.learning.rows import FeedbackRow, TurnRow
from assistant.skills.loader import Example, SkillError, load_skills

BuildModel = Callable[[tuple[Path, ...]], IntentModel]
"""An intent model trained on these skill folders (a new fit, not one kept in memory)."""

UNDERSTOOD_NOTHING = frozenset({"out_of_scope", "inaudible"})
NOISE_LINES = 1  # held-out lines a refit may lose to noise (of ~580; a wrong intent loses more)


class LearnError(LearnedFolderError):
    """Learning cannot run as asked; the message says why and what to do."""


@dataclass(frozen=True)
class LearnResult:
    folder: Path  # the learned skill folder
    heldout: Path
    before: Accuracy  # held-out accuracy of the model as it is
    after: Accuracy | None  # ... with the new examples; None when there was nothing to add
    kept: bool  # the new examples were written to `folder`
    added: tuple[LearnedExample, ...]  # the new examples (kept or not)
    skipped: tuple[Skipped, ...]

    def lines(self) -> list[str]:
        """What `assistant learn` prints."""
        out = [f"held-out intent accuracy before: {self.before}  ({self.heldout})"]
        if self.after is None:
            out.append("nothing new to learn")
        else:
            verdict = "kept" if self.kept else "dropped: accuracy would fall, nothing changed"
            out.append(f"held-out intent accuracy after:  {self.after}  -> {verdict}")
        for example in self.added:
            out.append(
                f"  {'+' if self.kept else '-'} {example.intent:<16} {example.line!r} "
                f"({example.source} x{example.count})"
            )
        for skip in self.skipped:
            out.append(f"  skipped {skip.text!r}: {skip.reason}")
        if self.kept:
            out.append(f"learned examples: {self.folder / 'nlu.yml'}")
        return out


def _base_dirs(skill_dirs: Sequence[Path], folder: Path) -> tuple[Path, ...]:
    """The pipeline's skills without the learned folder (which `resolve_skill_dirs` adds)."""
    base = tuple(d for d in skill_dirs if d.resolve() != folder.resolve())
    for directory in base:
        if folder.resolve().is_relative_to(directory.resolve()):
            raise LearnError(
                f"{folder}: the learned examples would go inside the skills in {directory}; "
                "give a folder of their own"
            )
    return base


def learn(
    turns: Sequence[TurnRow],
    feedback: Sequence[FeedbackRow],
    skill_dirs: Sequence[Path],
    build: BuildModel,
    *,
    folder: Path | None = None,
    heldout: Path = DEFAULT_HELDOUT,
    confidence_below: float = 0.6,
    min_count: int = 1,
) -> LearnResult:
    """Learn from the store's rows for a pipeline with these skill folders; see the module."""
    folder = folder or learned_skill_dir()
    base = _base_dirs(skill_dirs, folder)
    current = (*base, folder) if has_learned_skill(folder) else base
    load_skills.cache_clear()  # the learned folder may have changed since this process read it
    try:
        skills = load_skills(current)
    except SkillError as exc:
        raise LearnError(f"{exc}; fix or delete it") from None
    heldout_examples = read_examples(heldout)
    model = build(current)

    def understood(text: str) -> str | None:
        name = model.classify(text)[0].name
        return None if name in UNDERSTOOD_NOTHING else name

    added, skipped = collect(
        turns,
        feedback,
        intents=skills.intents,
        training=skills.examples,
        classify=understood,
        confidence_below=confidence_below,
        min_count=min_count,
    )
    # The same lines before and after: none that is (or becomes) a training example.
    examples = unseen(heldout_examples, skills.examples, [a.example() for a in added])
    before = evaluate(model, examples)
    if not added:
        return LearnResult(folder, heldout, before, None, False, (), tuple(skipped))
    learned = read_learned(folder)
    for example in added:
        learned.add(example.intent, example.line, example.users)
    after = _refit(base, build, examples, learned)
    # Against the shipped model too (when examples were learnt before), so that the
    # allowance is spent once, not once per run.
    floor = (
        before.correct
        if current == base
        else max(before.correct, evaluate(build(base), examples).correct)
    )
    kept = after.correct >= floor - NOISE_LINES
    if kept:
        write_learned(
            folder, learned, f"held-out intent accuracy when last learnt: {before} -> {after}"
        )
    load_skills.cache_clear()
    return LearnResult(folder, heldout, before, after, kept, tuple(added), tuple(skipped))


def _refit(
    base: tuple[Path, ...],
    build: BuildModel,
    examples: Sequence[Example],
    learned: Learned,
) -> Accuracy:
    """Held-out accuracy of a model trained on the skills plus these learned lines, which are
    tried in a folder of their own so that the learned folder changes only if they are kept."""
    trial = Path(tempfile.mkdtemp(prefix="assistant-learn-"))
    try:
        draft = trial / "learned"
        draft.mkdir()
        (draft / "nlu.yml").write_text(render_nlu(learned), encoding="utf-8")
        return evaluate(build((*base, draft)), examples)
    finally:
        shutil.rmtree(trial, ignore_errors=True)

#!/usr/bin/env bash
# Swap stages, skills and parameters through configuration alone: the same `assistant` command,
# different YAML. Run from anywhere; paths are relative to the repository root.
set -euo pipefail
cd "$(dirname "$0")/../.."

A=.venv/bin/assistant
PY=.venv/bin/python
D=demos/swap_stage

label() { printf '\n=== %s\n' "$*"; }
show() { printf '$ %s\n' "$*"; }

# Condense each `--json` turn to intent, ranking and reply; the full object has more
# (entities, slots, timings_ms, ...).
summarize() { "$PY" "$D/summarize.py"; }

# Several turns in one session (one model load): prints `you>` / `assistant>` pairs.
converse() {
    local -n lines=$1
    shift
    local replies
    mapfile -t replies < <(printf '%s\n' "${lines[@]}" | "$A" chat "$@")
    [[ ${#replies[@]} -eq ${#lines[@]} ]] || { echo "FAIL: expected ${#lines[@]} replies" >&2; exit 1; }
    for i in "${!lines[@]}"; do
        printf '  you> %s\n  assistant> %s\n' "${lines[$i]}" "${replies[$i]}"
    done
}

BASE=(--pipeline "$D/pipeline.yaml" --models "$D/models.yaml")

label "(a) swap the NLU backend with --set: embedding (default) vs TF-IDF, same sentence"
SENTENCE="can you make me giggle"
show "$A chat ${BASE[*]} --json --once '$SENTENCE'"
"$A" chat "${BASE[@]}" --json --once "$SENTENCE" | summarize
show "$A chat ${BASE[*]} --set nlu=intent-tfidf --json --once '$SENTENCE'"
"$A" chat "${BASE[@]}" --set nlu=intent-tfidf --json --once "$SENTENCE" | summarize

label "(b) swap the skills: a pipeline file whose skills list adds a pirate persona"
# shellcheck disable=SC2034  # read through a nameref in converse
TURNS=("hello" "tell me a joke" "are you a bot" "what's the weather like" "help")
show "... | $A chat ${BASE[*]}"
converse TURNS "${BASE[@]}"
show "... | $A chat --pipeline $D/pipeline-pirate.yaml --models $D/models.yaml"
converse TURNS --pipeline "$D/pipeline-pirate.yaml" --models "$D/models.yaml"
echo "  (help is not in the persona, so it falls through to the core skill's utter_help)"

label "(c) swap the parameters: a catalog where intent-minilm has similarity_threshold 0.5, not 0.4"
BORDERLINE=("play some music" "thank you kindly" "what is your purpose")
show "... | $A chat ${BASE[*]} --json"
printf '%s\n' "${BORDERLINE[@]}" | "$A" chat "${BASE[@]}" --json | summarize
show "... | $A chat --pipeline $D/pipeline.yaml --models $D/models-strict.yaml --json"
printf '%s\n' "${BORDERLINE[@]}" \
    | "$A" chat --pipeline "$D/pipeline.yaml" --models "$D/models-strict.yaml" --json | summarize

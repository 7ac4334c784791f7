#!/usr/bin/env bash
# Install the `explain` plugin, see it discovered through the `assistant.stages` entry point,
# and chat with it. The plugin goes into a throwaway venv layered over .venv, so .venv itself
# is never changed. Run from anywhere; paths are relative to the repository root.
set -euo pipefail
cd "$(dirname "$0")/../.."

MAIN_PY=.venv/bin/python
DEMO=demos/plugin_stage
work=$(mktemp -d)
cleanup() {
    rm -rf "$work" "$DEMO/build" "$DEMO"/*.egg-info "$DEMO/dist"
}
trap cleanup EXIT

label() { printf '\n=== %s\n' "$*"; }

label "1. throwaway venv over .venv, then: pip install -e $DEMO"
# `python -m venv --system-site-packages` would expose the *base* interpreter's packages, not
# .venv's (venvs do not nest). A .pth that calls site.addsitedir on .venv's site-packages does,
# and addsitedir also runs .venv's own .pth files, so the editable host project stays importable
# and its dist-info (with its entry points) stays visible to importlib.metadata.
"$MAIN_PY" -m venv --without-pip "$work/venv"
VENV_PY="$work/venv/bin/python"
main_sites=$("$MAIN_PY" -c 'import sysconfig as s; print(*{s.get_path("purelib"), s.get_path("platlib")})')
layer_site=$("$VENV_PY" -c 'import sysconfig as s; print(s.get_path("purelib"))')
for site_dir in $main_sites; do
    echo "import site; site.addsitedir('$site_dir')"
done > "$layer_site/_layer_main_venv.pth"
# pip itself comes from .venv through the layer, and installs into the throwaway venv.
"$VENV_PY" -m pip install --quiet -e "$DEMO"
"$VENV_PY" -m pip show assistant-explain-plugin | sed -n '1,2p'

assistant() { "$VENV_PY" -m assistant "$@"; }

label "2. assistant stages  (explain is listed with its distribution as origin)"
stages=$(assistant stages)
echo "$stages"
grep -q 'explain .*\[assistant-explain-plugin 0.1.0\]' <<<"$stages" \
    || { echo "FAIL: explain backend not discovered" >&2; exit 1; }

label "3. assistant chat --pipeline $DEMO/pipeline.yaml --models $DEMO/models.yaml --once 'tell me a joke'"
assistant chat --pipeline "$DEMO/pipeline.yaml" --models "$DEMO/models.yaml" --once "tell me a joke"

label "4. same pipeline, several turns in one session (a paraphrase, an out-of-scope request)"
turns=("can you make me giggle" "what's the weather like")
# Piped input: one turn per line, one reply line per turn, models loaded once.
mapfile -t replies < <(printf '%s\n' "${turns[@]}" \
    | assistant chat --pipeline "$DEMO/pipeline.yaml" --models "$DEMO/models.yaml")
[[ ${#replies[@]} -eq ${#turns[@]} ]] || { echo "FAIL: expected ${#turns[@]} replies" >&2; exit 1; }
for i in "${!turns[@]}"; do
    printf 'you> %s\nassistant> %s\n' "${turns[$i]}" "${replies[$i]}"
done

label "5. .venv is untouched: its own assistant does not know the explain backend"
if .venv/bin/assistant stages | grep -q '^    explain '; then
    echo "FAIL: explain leaked into .venv" >&2
    exit 1
fi
echo "ok: .venv/bin/assistant stages lists no explain backend"

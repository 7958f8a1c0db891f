#!/usr/bin/env bash
# Installs what the tests need from PyPI into project-local virtual
# environments (see ../shared/TESTING.md for why each pin):
#   .venv        moto (DynamoDB) and LocalStack (CloudWatch, Lambda PC API)
#   .venv-tools  cfn-lint, aws-sam-cli, cargo-lambda (their pins clash with LocalStack's)
# Idempotent: a venv whose stamp (requirements hash) matches and whose
# interpreter is recent enough is reused: a second run takes under a second.
#
# Python: localstack-core 2026.3.0 imports `warnings.deprecated` (PEP 702,
# new in Python 3.13) when its runtime loads, although its metadata claims
# 3.10: with 3.12 it installs fine and then fails to start ("No component
# plugins found"). So .venv needs >= 3.13; the tools are happy with 3.12.
# PCSCALE_PYTHON overrides the interpreter for both.
set -euo pipefail
cd "$(dirname "$0")/.."

find_python() { # MIN_MINOR: prints a python3 >= 3.MIN_MINOR
  local min=$1 cand
  for cand in "${PCSCALE_PYTHON:-}" python3.13 "$HOME/.pyenv/versions/3.13.0/bin/python3" \
      python3.14 python3.12 "$HOME/.pyenv/versions/3.12.1/bin/python3" python3; do
    [ -n "$cand" ] || continue
    if command -v "$cand" >/dev/null 2>&1 &&
       "$cand" -c "import sys; sys.exit(0 if sys.version_info >= (3, $min) else 1)" 2>/dev/null; then
      command -v "$cand"; return 0
    fi
  done
  return 1
}

install_venv() { # VENV REQUIREMENTS PYTHON MIN_MINOR
  local venv=$1 req=$2 py=$3 min=$4 stamp="$1/.pcscale-stamp" want
  want="$(sha256sum "$req" | cut -d' ' -f1)"
  # Reuse when the requirements are unchanged and the venv's interpreter is
  # recent enough (a venv made by an older script with 3.12 is rebuilt).
  if [ -f "$stamp" ] && [ "$(cut -d' ' -f1 "$stamp")" = "$want" ] &&
     "$venv/bin/python" -c "import sys; sys.exit(0 if sys.version_info >= (3, $min) else 1)" 2>/dev/null; then
    return 0
  fi
  echo "setup-emulators: installing $req with $py into $venv (about a minute)" >&2
  rm -rf "$venv"
  "$py" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
  echo "$want" > "$stamp"
}

PY_EMU="$(find_python 13)" || {
  echo "setup-emulators: LocalStack 2026.3 needs Python >= 3.13 and none was found (set PCSCALE_PYTHON)" >&2
  exit 1
}
PY_TOOLS="$(find_python 12)" || {
  echo "setup-emulators: the template tools need Python >= 3.12 and none was found (set PCSCALE_PYTHON)" >&2
  exit 1
}
install_venv .venv scripts/emulators-requirements.txt "$PY_EMU" 13 &
a=$!
install_venv .venv-tools scripts/tools-requirements.txt "$PY_TOOLS" 12 &
b=$!
# Wait for both, and fail if either failed.
rc=0
wait $a || rc=$?
wait $b || rc=$?
exit $rc

#!/usr/bin/env bash
# Installs what the tests need from PyPI into project-local virtual
# environments (see ../shared/TESTING.md for why each pin):
#   .venv        moto (DynamoDB) and LocalStack (CloudWatch, Lambda PC API)
#   .venv-tools  cfn-lint, aws-sam-cli, cargo-lambda (their pins clash with LocalStack's)
# Idempotent: a venv whose stamp matches its requirements file is reused.
set -euo pipefail
cd "$(dirname "$0")/.."

find_python() {
  for cand in "${PCSCALE_PYTHON:-}" python3.12 "$HOME/.pyenv/versions/3.12.1/bin/python3" \
      python3.13 "$HOME/.pyenv/versions/3.13.0/bin/python3"; do
    [ -n "$cand" ] || continue
    if command -v "$cand" >/dev/null 2>&1 &&
       "$cand" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; then
      echo "$cand"; return 0
    fi
  done
  return 1
}

install_venv() { # VENV REQUIREMENTS
  local venv=$1 req=$2 stamp="$1/.pcscale-stamp" want
  want="$(sha256sum "$req" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  echo "setup-emulators: installing $req with $PY into $venv (about a minute)" >&2
  rm -rf "$venv"
  "$PY" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
  echo "$want" > "$stamp"
}

PY="$(find_python)" || {
  echo "setup-emulators: LocalStack needs Python >= 3.12 and none was found (set PCSCALE_PYTHON)" >&2
  exit 1
}
install_venv .venv scripts/emulators-requirements.txt &
a=$!
install_venv .venv-tools scripts/tools-requirements.txt &
b=$!
wait $a && wait $b

#!/usr/bin/env sh
# upload_model.sh: publish a fine-tuning checkpoint with hubship. Kept in step with upload_model.ps1 (a test checks).
# Every argument goes to `hubship publish`, e.g.  upload_model.sh ./outputs --format lora --to hf:me/my-model
# Python: $HUBSHIP_PYTHON, else this repository's .venv, else python3. Exits with hubship's code:
# 0 ok, 1 failure, 2 bad input or usage, 3 quality gate failed.
repo="$(cd "$(dirname "$0")/../.." && pwd)"
if [ -n "${HUBSHIP_PYTHON:-}" ]; then
    python="$HUBSHIP_PYTHON"
elif [ -x "$repo/.venv/bin/python" ]; then
    python="$repo/.venv/bin/python"
else
    python="python3"
fi
exec "$python" -m hubship publish "$@"

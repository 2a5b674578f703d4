# upload_model.ps1: publish a fine-tuning checkpoint with hubship. Kept in step with upload_model.sh (a test checks).
# Every argument goes to `hubship publish`, e.g.  upload_model.ps1 .\outputs --format lora --to hf:me/my-model
# Python: $env:HUBSHIP_PYTHON, else this repository's .venv, else python3. Exits with hubship's code:
# 0 ok, 1 failure, 2 bad input or usage, 3 quality gate failed.
$repo = Split-Path -Parent (Split-Path -Parent $PSScriptRoot)
if ($env:HUBSHIP_PYTHON) {
    $python = $env:HUBSHIP_PYTHON
} elseif (Test-Path (Join-Path $repo ".venv/Scripts/python.exe")) {
    $python = Join-Path $repo ".venv/Scripts/python.exe"
} elseif (Test-Path (Join-Path $repo ".venv/bin/python")) {
    $python = Join-Path $repo ".venv/bin/python"
} else {
    $python = "python3"
}
& $python -m hubship publish @args
exit $LASTEXITCODE

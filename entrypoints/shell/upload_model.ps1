# upload_model.ps1: publish a fine-tuning checkpoint with hubship. Kept in step with upload_model.sh (a test checks).
# Every argument goes to `hubship publish`, e.g.  upload_model.ps1 .\outputs --format lora --to hf:me/my-model
# Python: $env:HUBSHIP_PYTHON, else this repository's .venv, else the Python launcher (py -3), else python
# (Windows has no python3). Exits with hubship's code: 0 ok, 1 failure, 2 bad input or usage, 3 quality gate failed.
$repo = Split-Path -Parent (Split-Path -Parent $PSScriptRoot)
$launcher = @()
if ($env:HUBSHIP_PYTHON) {
    $python = $env:HUBSHIP_PYTHON
} elseif (Test-Path (Join-Path $repo ".venv/Scripts/python.exe")) {
    $python = Join-Path $repo ".venv/Scripts/python.exe"
} elseif (Test-Path (Join-Path $repo ".venv/bin/python")) {
    $python = Join-Path $repo ".venv/bin/python"
} elseif (Get-Command py -ErrorAction SilentlyContinue) {
    $python = "py"; $launcher = @("-3")
} else {
    $python = "python"
}
& $python @launcher -m hubship publish @args
exit $LASTEXITCODE

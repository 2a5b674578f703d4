# Publish this trainer's adapter (.\outputs) with hubship: settings in .\hubship.toml, extra arguments go to
# `hubship publish`. HUBSHIP_HOME is the hubship checkout (default: the one this example sits in).
$hubship = if ($env:HUBSHIP_HOME) { $env:HUBSHIP_HOME } else { Join-Path $PSScriptRoot "../../.." }
Push-Location $PSScriptRoot
& (Join-Path $hubship "entrypoints/shell/upload_model.ps1") ./outputs @args
$code = $LASTEXITCODE
Pop-Location
exit $code

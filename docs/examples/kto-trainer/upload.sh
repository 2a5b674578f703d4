#!/usr/bin/env sh
# Publish this trainer's adapter (./outputs) with hubship: settings in ./hubship.toml, extra arguments go to
# `hubship publish`. HUBSHIP_HOME is the hubship checkout (default: the one this example sits in).
cd "$(dirname "$0")" || exit 2
exec sh "${HUBSHIP_HOME:-../../..}/entrypoints/shell/upload_model.sh" ./outputs "$@"

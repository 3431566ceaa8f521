#!/usr/bin/env bash
# The load test, small: 200 sessions of players against the local host on Azurite with a stand-in HubSpot, 2,000 hostile
# requests first; prints the figures and the audit (under 3 minutes on 2 cores). Any option replaces the defaults:
#   ./scripts/load-test.sh --sessions 2000 --bad-input 3000     (docs/performance.md)
#   ./scripts/load-test.sh --sessions 300 --rate 200 --faults  (docs/reliability.md)
set -euo pipefail
cd "$(dirname "$0")/.."

[ -x node_modules/.bin/azurite ] || npm ci --no-audit --no-fund --loglevel=error
dotnet build -c Release src/FunctionsRelay.Local --nologo -v quiet
dotnet build -c Release bench/FunctionsRelay.LoadTest --nologo -v quiet

args=("$@")
[ ${#args[@]} -gt 0 ] || args=(--sessions 200 --rate 200 --bad-input 2000)
exec dotnet bench/FunctionsRelay.LoadTest/bin/Release/net10.0/FunctionsRelay.LoadTest.dll "${args[@]}"

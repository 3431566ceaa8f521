#!/usr/bin/env bash
# Runs the whole relay on this machine: Azurite (local Azure Storage, from npm) and the local host on http://localhost:7071.
# With no HubSpot app configured (HubSpot__ClientId / HubSpot__ClientSecret) it runs in dry-run: the HubSpot events it
# would send are logged and appended to .relay/dry-run-events.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."

[ -x node_modules/.bin/azurite ] || npm ci --no-audit --no-fund --loglevel=error

mkdir -p .azurite .relay
node_modules/.bin/azurite --silent --disableTelemetry --location .azurite --skipApiVersionCheck \
  --blobHost 127.0.0.1 --queueHost 127.0.0.1 --tableHost 127.0.0.1 >.azurite/azurite.log 2>&1 &
azurite_pid=$!
trap 'kill $azurite_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do
  (exec 3<>/dev/tcp/127.0.0.1/10001) 2>/dev/null && (exec 3<>/dev/tcp/127.0.0.1/10002) 2>/dev/null && break
  sleep 0.2
done

now_ms=$(($(date +%s) * 1000))
cat <<MSG
Azurite is running (data in .azurite/). Starting the relay...

Open the demo page, http://localhost:7071/demo: a player wired to the relay, and what it sends to HubSpot per session;
the operator view, http://localhost:7071/operator: each portal's delivery health.

Or post beacons to http://localhost:7071/api/beacons, for example:

  curl -i http://localhost:7071/api/beacons -H 'Content-Type: application/json' -H 'X-Relay-Key: <the portal key>' -d '[
    {"portalId":4242,"sessionId":"try-1","seq":0,"event":"play","ts":$now_ms,"position":0,"duration":60,
     "media":{"externalId":"video-1","name":"Demo","type":"VIDEO"},"contact":{"utk":"demo-utk"},
     "page":{"name":"Demo page","url":"https://example.com/"}},
    {"portalId":4242,"sessionId":"try-1","seq":1,"event":"pause","ts":$((now_ms + 20000)),"position":20},
    {"portalId":4242,"sessionId":"try-1","seq":2,"event":"end","ts":$((now_ms + 21000)),"position":20}]'

and watch the events it would send appear below and in .relay/dry-run-events.jsonl. In dry run any key (or none) is
taken; with a HubSpot app configured, a portal's beacons need the publishable key its install showed
(dotnet run --project src/FunctionsRelay.Cli -- portal --portal <id> shows it again).

MSG
# Not exec: the trap above stops Azurite when the relay stops (Ctrl+C).
HubSpot__DryRunFile="${HubSpot__DryRunFile:-$PWD/.relay/dry-run-events.jsonl}" dotnet run --project src/FunctionsRelay.Local

#!/usr/bin/env bash
# Runs every test of FunctionsRelay: installs what the tests need (npm packages: Azurite, playwright-core; Debian's
# chromium), builds, tests, and prints one summary line: "tests: N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/.."

if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error || { echo "npm ci failed"; exit 1; }
fi

# The browser test drives Debian's chromium (playwright-core cannot download browsers here).
if [ ! -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then
  echo "Installing chromium from Debian for the browser test"
  sudo_if_needed=$([ "$(id -u)" -eq 0 ] || echo sudo)
  { $sudo_if_needed apt-get update -qq && $sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >/tmp/chromium-install.log 2>&1 \
    || { echo "could not install chromium (see /tmp/chromium-install.log)"; exit 1; }
fi

test_projects=(tests/*/*Tests.csproj)
# The Functions app, .azurefunctions/ (the host's queue extension) included, with warnings as errors: a failure fails the run.
functions_app=src/FunctionsRelay.Functions/FunctionsRelay.Functions.csproj
dotnet build "$functions_app" --nologo -v quiet || { echo "FAILED to build $functions_app"; echo "tests: 0 passed, 1 failed, 0 skipped"; exit 1; }

log=$(mktemp)
status=0
for project in "${test_projects[@]}"; do
  echo "==> $project"
  run=$(mktemp)
  dotnet test "$project" --nologo 2>&1 | tee "$run"
  if [ "${PIPESTATUS[0]}" -ne 0 ]; then
    status=1
    # A project that does not build runs no test: count it as one failure, so the summary cannot read as a pass.
    grep -qE '(Passed|Failed)! +- +Failed:' "$run" || { echo "FAILED $project: it did not build or run"; echo "Failed!  - Failed:     1, Passed:     0, Skipped:     0" >>"$log"; }
  fi
  cat "$run" >>"$log"
  rm -f "$run"
done

awk '
  /(Passed|Failed)! +- +Failed:/ {
    gsub(",", ""); for (i = 1; i <= NF; i++) {
      if ($i == "Failed:") failed += $(i+1); if ($i == "Passed:") passed += $(i+1); if ($i == "Skipped:") skipped += $(i+1)
    }
    runs++
  }
  END { printf "tests: %d passed, %d failed, %d skipped\n", passed, failed, skipped; if (runs == 0) exit 1 }
' "$log" || status=1
rm -f "$log"
exit $status

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

# One `dotnet test` over the solution: it builds everything (the Functions app and its .azurefunctions/ included, with
# warnings as errors) and runs every test project. A test project left out of the solution would never run: that fails.
test_projects=(tests/*/*Tests.csproj)
in_solution=$(dotnet sln FunctionsRelay.sln list)
for project in "${test_projects[@]}"; do
  grep -qxF "$project" <<<"$in_solution" || { echo "FAILED: $project is not in FunctionsRelay.sln, so it would never run"; echo "tests: 0 passed, 1 failed, 0 skipped"; exit 1; }
done

log=$(mktemp)
# Each test's result as it ends ("Passed <name> [time]"), so that a long project shows it is running; the host tests
# (the Functions app on the real Functions host) need one: on CI (CI=true) a missing host fails them, elsewhere they
# are skipped with the reason.
dotnet test FunctionsRelay.sln --nologo --logger "console;verbosity=normal" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

# The runner's summary of each test project ("Total tests: N", then "Passed: N", "Failed: N", "Skipped: N"), added up.
# A project that did not build or run reports none: it counts as a failure, so that the summary cannot read as a pass.
# The failed tests are named again just above the summary, where the tail of a long log shows them.
awk -v projects="${#test_projects[@]}" '
  /^Total tests: [0-9]+/ { runs++ }
  /^ +Failed [A-Za-z_][A-Za-z0-9_.]+/ { line = $0; sub(/^ +Failed /, "", line); failures[++nfailures] = line }
  /^ +(Passed|Failed|Skipped): [0-9]+ *$/ {
    if ($1 == "Passed:") passed += $2; if ($1 == "Failed:") failed += $2; if ($1 == "Skipped:") skipped += $2
  }
  END {
    if (runs < projects) { printf "FAILED: %d of %d test projects reported no results (they did not build or run)\n", projects - runs, projects; failed += projects - runs }
    for (i = 1; i <= nfailures; i++) print "FAILED: " failures[i]
    printf "tests: %d passed, %d failed, %d skipped\n", passed, failed, skipped
    if (runs < projects || failed > 0) exit 1
  }
' "$log" || status=1
rm -f "$log"
exit $status

#!/usr/bin/env bash
# Runs every test against a real mosquitto and a real InfluxDB of the project's own (instance "test", ports
# 18830/18086/18088, started if not running), then prints one line "N passed, N failed, N skipped" counted from the
# TRX results of each test project, and exits non-zero when a test failed or none ran. Extra arguments go to `dotnet test`
# (e.g. --filter "Category!=Integration").
set -euo pipefail
cd "$(dirname "$0")/../.."

export ECOMON_INSTANCE=test ECOMON_MQTT_PORT=${ECOMON_TEST_MQTT_PORT:-18830} ECOMON_INFLUX_PORT=${ECOMON_TEST_INFLUX_PORT:-18086} ECOMON_INFLUX_RPC_PORT=${ECOMON_TEST_INFLUX_RPC_PORT:-18088}
deploy/local/infra.sh up
# What the tests need besides the broker and the database: a real headless browser for the console's tests (Debian's
# chromium and its chromedriver, a CJK font so screenshots show Chinese) and systemd-analyze for the units' check.
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)
command -v systemd-analyze >/dev/null || need+=(systemd)
[[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ]] || need+=(fonts-wqy-microhei)
if ((${#need[@]})); then
  echo "[test] installing ${need[*]}"
  sudo=""; [[ $(id -u) == 0 ]] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
export ECOMON_TEST_MQTT_PORT=$ECOMON_MQTT_PORT ECOMON_TEST_INFLUX_URL=http://127.0.0.1:$ECOMON_INFLUX_PORT
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

results=$(mktemp -d /tmp/ecomonitor-test-results.XXXXXX)
dotnet build EcoMonitor.sln -c Release
rc=0
# deploy/install.sh into a temporary root, and the installed systemd units through systemd-analyze verify.
install_rc=0
deploy/local/install-test.sh || install_rc=$?
for project in tests/*/*.Tests.csproj; do
  name=$(basename "$project" .csproj)
  dotnet test "$project" -c Release --no-build --logger "trx;LogFileName=$name.trx" --results-directory "$results" "$@" || rc=$?
done

passed=0 failed=0 skipped=0 found=0
for trx in "$results"/*.trx; do
  [[ -f $trx ]] || continue
  found=1
  counters=$(grep -o '<Counters [^>]*>' "$trx")
  get() { sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p" <<<"$counters"; }
  passed=$((passed + $(get passed)))
  failed=$((failed + $(get failed) + $(get error) + $(get timeout) + $(get aborted)))
  skipped=$((skipped + $(get notExecuted)))
done
if ((found == 0)); then
  echo "no test results were written (dotnet test exited $rc)" >&2
  exit 1
fi
# The install check counts as one test of its own.
if ((install_rc == 0)); then passed=$((passed + 1)); else failed=$((failed + 1)); echo "deploy/local/install-test.sh failed (exit $install_rc)" >&2; fi
echo "$passed passed, $failed failed, $skipped skipped"
if ((rc != 0 || failed > 0 || passed == 0)); then exit 1; fi

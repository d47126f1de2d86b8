#!/usr/bin/env bash
# Tests deploy/install.sh in a temporary root (--root, no user, no systemctl) with the Release build of this checkout
# as a prebuilt publish (the service's and the CLI's apphosts; the real install publishes self-contained for
# linux-x64, which takes minutes and is not repeated here): the layout, host files written once and never
# overwritten (*.dist beside them), upgrade, idempotency, rollback, pruning, and `systemd-analyze verify` of both
# units as installed (their paths pointed into the temporary root so that ExecStart exists). Prints
# "install test: N checks passed" or the first failed check, and exits non-zero on a failure.
# Needs: dotnet build -c Release of the solution, systemd-analyze.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d /tmp/ecomonitor-install-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
checks=0
fail() { echo "install test FAILED: $*" >&2; exit 1; }
check() { # description, command...
  local what=$1; shift
  "$@" >/dev/null 2>&1 || fail "$what"
  checks=$((checks + 1))
}
install_sh() { "$repo/deploy/install.sh" --root "$root" --publish-dir "$tmp/publish" "$@" >>"$tmp/install.log" 2>&1 || { cat "$tmp/install.log" >&2; fail "install.sh $* exited non-zero"; }; }

mkdir -p "$tmp/publish"
ln -s "$repo/src/EcoMonitor.Service/bin/Release/net10.0" "$tmp/publish/service"
ln -s "$repo/src/EcoMonitor.Cli/bin/Release/net10.0" "$tmp/publish/cli"
[[ -x $tmp/publish/service/EcoMonitor.Service && -x $tmp/publish/cli/ecomon ]] || fail "build the solution first (dotnet build -c Release)"

# A first install.
install_sh --version r1
opt=$root/opt/ecomonitor etc=$root/etc/ecomonitor
check "current points at r1" test "$(readlink "$opt/current")" = releases/r1
check "the service's apphost is in the release" test -x "$opt/current/EcoMonitor.Service"
check "the CLI is in the release" test -x "$opt/current/cli/ecomon"
check "appsettings.Production.json of the release links to /etc/ecomonitor" test "$(readlink "$opt/releases/r1/appsettings.Production.json")" = /etc/ecomonitor/appsettings.Production.json
for f in appsettings.Production.json stations.json alert-rules.json env; do
  check "/etc/ecomonitor/$f written" test -f "$etc/$f"
  check "/etc/ecomonitor/$f not readable by others" test "$(stat -c %a "$etc/$f")" = 640
done
check "stations.json is the release's" cmp "$etc/stations.json" "$tmp/publish/service/stations.json"
check "the production settings name the /etc files and the state folder" grep -q '"/etc/ecomonitor/stations.json"' "$etc/appsettings.Production.json"
check "/var/lib/ecomonitor exists, 0750" test "$(stat -c %a "$root/var/lib/ecomonitor")" = 750
check "/var/log/ecomonitor exists" test -d "$root/var/log/ecomonitor"
check "ecomon wrapper installed" test -x "$root/usr/local/bin/ecomon"
check "ecomon wrapper runs the current release's CLI" grep -qx 'exec /opt/ecomonitor/current/cli/ecomon "$@"' "$root/usr/local/bin/ecomon"
check "no .dist on a first install" test -z "$(find "$etc" -name '*.dist')"
# The shipped production settings pass the service's own --check-config (with their /etc and /var/lib paths pointed
# into the temporary root): a content root of links to the release and a copy of the installed settings file.
mkdir -p "$tmp/content"
cp -as "$(readlink -f "$tmp/publish/service")/." "$tmp/content/"
rm -f "$tmp/content/appsettings.Production.json"
sed -e "s|/etc/ecomonitor|$etc|g" -e "s|/var/lib/ecomonitor|$root/var/lib/ecomonitor|g" "$etc/appsettings.Production.json" >"$tmp/content/appsettings.Production.json"
check_config() { (cd "$tmp/content" && DOTNET_ENVIRONMENT=Production timeout 60 dotnet EcoMonitor.Service.dll --check-config) >"$tmp/check-config.log" 2>&1 && grep -q '^OK: no problems found' "$tmp/check-config.log"; }
check_config || { cat "$tmp/check-config.log" >&2; fail "the installed appsettings.Production.json fails --check-config"; }
checks=$((checks + 1))

# The operator edits the stations and the secrets; an upgrade keeps both and puts the new defaults beside them.
echo '// local edit' >>"$etc/stations.json"
echo 'Mqtt__Password=secret-of-this-host' >>"$etc/env"
cp "$etc/stations.json" "$tmp/stations.edited"
install_sh --version r2
check "current points at r2 after the upgrade" test "$(readlink "$opt/current")" = releases/r2
check "r1 kept for rollback" test -d "$opt/releases/r1"
check "the edited stations.json is kept" cmp "$etc/stations.json" "$tmp/stations.edited"
check "the edited env is kept" grep -qx 'Mqtt__Password=secret-of-this-host' "$etc/env"
check "the release's stations.json beside it as .dist" cmp "$etc/stations.json.dist" "$tmp/publish/service/stations.json"
check "no .dist for an unchanged file" test ! -e "$etc/alert-rules.json.dist"

# Idempotent: the same release again changes nothing else.
find "$root" -path "$opt/releases" -prune -o -printf '%p %m %s %l\n' | sort >"$tmp/before"
install_sh --version r2
find "$root" -path "$opt/releases" -prune -o -printf '%p %m %s %l\n' | sort >"$tmp/after"
check "installing the same release twice gives the same files" cmp "$tmp/before" "$tmp/after"

# Rollback and back again.
"$repo/deploy/install.sh" --root "$root" --rollback >>"$tmp/install.log" 2>&1 || fail "--rollback exited non-zero"
check "rollback points current at r1" test "$(readlink "$opt/current")" = releases/r1
"$repo/deploy/install.sh" --root "$root" --rollback >>"$tmp/install.log" 2>&1 || fail "a second --rollback exited non-zero"
check "a second rollback returns to r2" test "$(readlink "$opt/current")" = releases/r2

# Old releases are pruned to --keep, never the current one.
install_sh --version r3 --keep 2
check "keep 2: r3 and the newest other remain" test "$(ls "$opt/releases" | tr '\n' ' ')" = "r2 r3 "

# The units as installed, verified by systemd (paths moved into the temporary root so ExecStart exists).
mkdir -p "$tmp/units"
for unit in ecomonitor.service ecomonitor@.service; do
  sed "s|/opt/ecomonitor|$opt|g" "$root/etc/systemd/system/$unit" >"$tmp/units/$unit"
  check "$unit installed with the release's ExecStart" grep -qx 'ExecStart=/opt/ecomonitor/current/EcoMonitor.Service' "$root/etc/systemd/system/$unit"
done
verify() { # unit path[:instance]; any message is a problem (systemd-analyze exits 0 on unknown keys)
  local out rc=0
  out=$(cd "$tmp/units" && systemd-analyze verify "$1" 2>&1) || rc=$?
  [[ $rc == 0 && -z $out ]] || fail "systemd-analyze verify $1 (exit $rc): $out"
  checks=$((checks + 1))
}
verify "$tmp/units/ecomonitor.service"
verify "$tmp/units/ecomonitor@.service:ecomonitor@1.service"
echo "install test: $checks checks passed"

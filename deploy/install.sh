#!/usr/bin/env bash
# Installs (or upgrades) EcoMonitor on a Debian host as a systemd service, self-contained: no .NET runtime needed.
#
#   deploy/install.sh                  publish this checkout and install it (as root)
#   deploy/install.sh --rollback       switch back to the release installed before the current one
#   options: --root DIR          install under DIR instead of / (DESTDIR style: no user, no systemctl; for tests and
#                                image builds)
#            --prefix DIR        where releases go (/opt/ecomonitor)
#            --publish-dir DIR   install a publish made earlier: DIR/service and DIR/cli (skips `dotnet publish`)
#            --version NAME      the release's name (default: the commit, e.g. 2aa7b86, with -dirty when changed)
#            --keep N            releases kept for rollback (3)
#
# Layout:
#   /opt/ecomonitor/releases/<version>/       the service (self-contained, linux-x64) and cli/ (ecomon)
#   /opt/ecomonitor/current -> releases/<v>   the release in use; switched atomically, the old ones kept for rollback
#   /etc/ecomonitor/                          appsettings.Production.json, stations.json, alert-rules.json, env
#                                             (written only when absent, never overwritten: a newer default goes
#                                             beside it as <file>.dist)
#   /var/lib/ecomonitor/                      state (alert state file), owned by the user ecomonitor
#   /var/log/ecomonitor/                      log files, when a file sink is configured
#   /usr/local/bin/ecomon                     the CLI
#   /etc/systemd/system/ecomonitor.service, ecomonitor@.service
# Idempotent: running it again with the same release changes nothing but the release's files.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)

root=/ prefix=/opt/ecomonitor publish_dir="" version="" keep=3 rollback=0
value() { [[ $# -ge 2 && -n $2 ]] || { echo "install.sh: $1 needs a value (--help)" >&2; exit 2; }; }
while (($#)); do
  case $1 in
    --root) value "$@"; root=$2; shift 2 ;;
    --prefix) value "$@"; prefix=$2; shift 2 ;;
    --publish-dir) value "$@"; publish_dir=$2; shift 2 ;;
    --version) value "$@"; version=$2; shift 2 ;;
    --keep) value "$@"; keep=$2; shift 2 ;;
    --rollback) rollback=1; shift ;;
    -h | --help) sed -n '2,26p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option '$1' (--help)" >&2; exit 2 ;;
  esac
done
[[ $root == /* ]] || { echo "install.sh: --root must be an absolute path" >&2; exit 2; }
[[ $prefix == /* ]] || { echo "install.sh: --prefix must be an absolute path" >&2; exit 2; }
[[ $keep =~ ^[1-9][0-9]*$ ]] || { echo "install.sh: --keep must be a positive number" >&2; exit 2; }
root=${root%/}
system=0; [[ -z $root ]] && system=1   # installing into the running system: user, ownership, systemctl
if ((system)) && [[ $(id -u) != 0 ]]; then echo "install.sh: run as root (or use --root DIR)" >&2; exit 2; fi
log() { echo "[install] $*"; }

releases=$root$prefix/releases
current=$root$prefix/current
etc=$root/etc/ecomonitor

switch_to() { # release name: point current at it atomically (a new link renamed over the old one)
  ln -sfn "releases/$1" "$current.new"
  mv -T "$current.new" "$current"
  log "current -> releases/$1"
}

restart_if_running() {
  if ((system)) && [[ -d /run/systemd/system ]]; then
    systemctl daemon-reload
    local units; units=$(systemctl list-units --state=active --plain --no-legend 'ecomonitor.service' 'ecomonitor@*.service' | awk '{print $1}')
    if [[ -n $units ]]; then
      # shellcheck disable=SC2086
      systemctl restart $units && log "restarted: $units"
    else
      log "start it with: systemctl enable --now ecomonitor"
    fi
  fi
}

if ((rollback)); then
  now=$(readlink "$current" 2>/dev/null || true); now=${now#releases/}
  previous=$(ls -1t "$releases" 2>/dev/null | grep -vxF "$now" | head -1 || true)
  [[ -n $previous ]] || { echo "install.sh: no release to roll back to in $releases" >&2; exit 1; }
  log "rolling back from ${now:-nothing} to $previous"
  switch_to "$previous"
  touch "$releases/$previous"  # the newest by time now: a second --rollback goes back again
  restart_if_running
  exit 0
fi

if [[ -z $version ]]; then
  version=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || date -u +%Y%m%d%H%M%S)
  [[ -n $(git -C "$repo" status --porcelain 2>/dev/null) ]] && version+=-dirty
fi
# Starting with a letter or digit: '.', '..' or '.new' would name the releases folder itself, its parent or a
# half-copied release (the next lines remove $releases/<version>).
[[ $version =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] || { echo "install.sh: --version must start with a letter or digit and hold letters, digits, '.', '_' and '-' only" >&2; exit 2; }

if [[ -z $publish_dir ]]; then
  # Self-contained for linux-x64: the runtime packs come from NuGet like any package; the host needs no .NET.
  publish_dir=$(mktemp -d /tmp/ecomonitor-publish.XXXXXX)
  trap 'rm -rf "$publish_dir"' EXIT
  log "publishing the service and the CLI (self-contained, linux-x64) into $publish_dir"
  export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
  dotnet publish "$repo/src/EcoMonitor.Service/EcoMonitor.Service.csproj" -c Release -r linux-x64 --self-contained -o "$publish_dir/service" -v quiet -nologo
  dotnet publish "$repo/src/EcoMonitor.Cli/EcoMonitor.Cli.csproj" -c Release -r linux-x64 --self-contained -o "$publish_dir/cli" -v quiet -nologo
fi
[[ -x $publish_dir/service/EcoMonitor.Service ]] || { echo "install.sh: no $publish_dir/service/EcoMonitor.Service" >&2; exit 1; }
[[ -x $publish_dir/cli/ecomon ]] || { echo "install.sh: no $publish_dir/cli/ecomon" >&2; exit 1; }

# 1. The user and the folders.
if ((system)); then
  if ! getent passwd ecomonitor >/dev/null; then
    useradd --system --user-group --home-dir /var/lib/ecomonitor --no-create-home --shell /usr/sbin/nologin ecomonitor
    log "created the system user ecomonitor"
  fi
fi
install -d -m 0755 "$releases" "$root/usr/local/bin" "$root/etc/systemd/system"
install -d -m 0750 "$etc" "$root/var/lib/ecomonitor" "$root/var/log/ecomonitor"
if ((system)); then
  chown root:ecomonitor "$etc"
  chown ecomonitor:ecomonitor "$root/var/lib/ecomonitor" "$root/var/log/ecomonitor"
fi

# 2. The release: copied into a fresh folder, then renamed into place.
target=$releases/$version
rm -rf "$target.new"
mkdir -p "$target.new/cli"
cp -a "$publish_dir/service/." "$target.new/"
cp -a "$publish_dir/cli/." "$target.new/cli/"
cp "$repo/README.md" "$target.new/README.md" 2>/dev/null || true
# Host settings live in /etc/ecomonitor; the content root (WorkingDirectory) reads this one through a link.
ln -sfn /etc/ecomonitor/appsettings.Production.json "$target.new/appsettings.Production.json"
chmod -R go-w "$target.new"
rm -rf "$target"
mv "$target.new" "$target"
log "release $version in $target"

# 3. Host configuration: written when absent, never overwritten; the release's defaults beside it as *.dist.
config() { # source, name, mode
  local source=$1 name=$2 mode=$3 path=$etc/$2
  if [[ -e $path ]]; then
    install -m "$mode" "$source" "$path.dist"
    if cmp -s "$source" "$path"; then rm -f "$path.dist"; else log "kept $path (the release's default: $path.dist)"; fi
  else
    install -m "$mode" "$source" "$path"
    log "wrote $path"
  fi
  if ((system)); then chown root:ecomonitor "$path" "$path.dist" 2>/dev/null || true; fi
}
config "$repo/deploy/systemd/etc/appsettings.Production.json" appsettings.Production.json 0640
config "$publish_dir/service/stations.json" stations.json 0640
config "$publish_dir/service/alert-rules.json" alert-rules.json 0640
config "$repo/deploy/systemd/etc/env" env 0640

# 4. The CLI on the PATH, following `current`.
cat >"$root/usr/local/bin/ecomon.new" <<EOF
#!/bin/sh
# EcoMonitor's command line (installed by deploy/install.sh): the release in use.
exec $prefix/current/cli/ecomon "\$@"
EOF
chmod 0755 "$root/usr/local/bin/ecomon.new"
mv "$root/usr/local/bin/ecomon.new" "$root/usr/local/bin/ecomon"

# 5. The units (paths follow --prefix).
for unit in ecomonitor.service ecomonitor@.service; do
  sed "s|/opt/ecomonitor|$prefix|g" "$repo/deploy/systemd/$unit" >"$root/etc/systemd/system/$unit.new"
  chmod 0644 "$root/etc/systemd/system/$unit.new"
  mv "$root/etc/systemd/system/$unit.new" "$root/etc/systemd/system/$unit"
done

# 6. Switch, prune old releases (never the current one), restart what runs.
switch_to "$version"
touch "$target"
{ ls -1t "$releases" | grep -vxF "$version" || true; } | tail -n +"$keep" | while read -r old; do
  rm -rf "${releases:?}/$old" && log "removed the old release $old"
done
restart_if_running
log "installed $version; roll back with: $0 --rollback${root:+ --root $root}"

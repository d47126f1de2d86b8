#!/usr/bin/env bash
# Brings up (or down) the project's own mosquitto and InfluxDB on 127.0.0.1, installing Debian's packages when they
# are missing. Idempotent: a running instance is left as it is.
#
#   deploy/local/infra.sh up|down|status
#
# Settings (environment):
#   ECOMON_INSTANCE         name of this instance; state lives in /tmp/ecomonitor-$ECOMON_INSTANCE   (demo)
#   ECOMON_MQTT_PORT        mosquitto port                                                         (1883)
#   ECOMON_INFLUX_PORT      InfluxDB HTTP port                                                     (8086)
#   ECOMON_INFLUX_RPC_PORT  InfluxDB backup/restore RPC port                                       (8088)
# State is kept outside the checkout because mosquitto drops root privileges and must be able to reach its folder
# (a checkout under a private temporary folder is not reachable for it).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
deploy=$(cd "$here/.." && pwd)
instance=${ECOMON_INSTANCE:-demo}
mqtt_port=${ECOMON_MQTT_PORT:-1883}
influx_port=${ECOMON_INFLUX_PORT:-8086}
influx_rpc_port=${ECOMON_INFLUX_RPC_PORT:-8088}
state=/tmp/ecomonitor-$instance

log() { echo "[infra:$instance] $*" >&2; }

for v in mqtt_port influx_port influx_rpc_port; do
  [[ ${!v} =~ ^[0-9]+$ ]] && (( ${!v} > 0 && ${!v} < 65536 )) || { log "invalid port in $v: ${!v}"; exit 2; }
done

install_missing() {
  local need=()
  command -v mosquitto >/dev/null || need+=(mosquitto)
  command -v mosquitto_sub >/dev/null || need+=(mosquitto-clients)
  command -v influxd >/dev/null || need+=(influxdb)
  command -v influx >/dev/null || need+=(influxdb-client)
  command -v curl >/dev/null || need+=(curl)
  command -v openssl >/dev/null || need+=(openssl)
  if ((${#need[@]})); then
    log "installing ${need[*]}"
    local sudo=""; [[ $(id -u) == 0 ]] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
  fi
  # The packages' own services are not ours: keep them from holding the default ports.
  if [[ -x /etc/init.d/mosquitto ]] && pgrep -f "^/usr/sbin/mosquitto -c /etc/mosquitto" >/dev/null; then
    /etc/init.d/mosquitto stop >/dev/null 2>&1 || true
  fi
}

port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

require_free() { # port, what
  if port_taken "$1"; then log "port $1 for $2 is taken by another program; choose another with the ECOMON_*_PORT settings"; exit 1; fi
}

alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

wait_for() { # description, command...
  local what=$1; shift
  for _ in $(seq 1 150); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  log "$what did not answer within 30 s"; return 1
}

mosquitto_conf() {
  sed -e "s|@PORT@|$mqtt_port|g" -e "s|@DATA@|$state/mosquitto/data/|g" "$deploy/mosquitto/mosquitto.conf.template"
}

mqtt_answers() { mosquitto_sub -h 127.0.0.1 -p "$mqtt_port" -t '$SYS/broker/version' -C 1 -W 2; }
influx_answers() { curl -sf "http://127.0.0.1:$influx_port/ping"; }

up() {
  install_missing
  mkdir -p "$state/mosquitto/data" "$state/influxdb"
  chmod 755 "$state" "$state/mosquitto"

  if alive "$state/mosquitto.pid"; then
    log "mosquitto already running on 127.0.0.1:$mqtt_port"
    if ! mosquitto_conf | cmp -s - "$state/mosquitto/mosquitto.conf"; then
      log "deploy/mosquitto/mosquitto.conf.template changed since this mosquitto started; '$0 down' then '$0 up' applies it (queued sessions are kept)"
    fi
  else
    require_free "$mqtt_port" mosquitto
    mosquitto_conf >"$state/mosquitto/mosquitto.conf"
    chown -R mosquitto: "$state/mosquitto/data" 2>/dev/null || true
    mosquitto -c "$state/mosquitto/mosquitto.conf" >>"$state/mosquitto.log" 2>&1 &
    echo $! >"$state/mosquitto.pid"
    wait_for "mosquitto on 127.0.0.1:$mqtt_port" mqtt_answers && alive "$state/mosquitto.pid" ||
      { log "mosquitto did not start"; tail -20 "$state/mosquitto.log" >&2; exit 1; }
    log "mosquitto on 127.0.0.1:$mqtt_port (log $state/mosquitto.log)"
  fi

  if alive "$state/influxd.pid"; then
    log "influxd already running on 127.0.0.1:$influx_port"
  else
    require_free "$influx_port" "InfluxDB HTTP"
    require_free "$influx_rpc_port" "InfluxDB RPC"
    sed -e "s|@HTTP@|127.0.0.1:$influx_port|g" -e "s|@RPC@|127.0.0.1:$influx_rpc_port|g" -e "s|@DIR@|$state/influxdb|g" \
      "$deploy/influxdb/influxdb.conf.template" >"$state/influxdb.conf"
    influxd run -config "$state/influxdb.conf" >>"$state/influxd.log" 2>&1 &
    echo $! >"$state/influxd.pid"
    wait_for "influxd on 127.0.0.1:$influx_port" influx_answers && alive "$state/influxd.pid" ||
      { log "influxd did not start"; tail -20 "$state/influxd.log" >&2; exit 1; }
    log "influxd on 127.0.0.1:$influx_port (log $state/influxd.log)"
  fi
}

stop_pid() {
  local name=$1 file=$2
  if alive "$file"; then
    local pid; pid=$(cat "$file")
    kill "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    log "$name stopped"
  fi
  rm -f "$file"
}

down() {
  stop_pid mosquitto "$state/mosquitto.pid"
  stop_pid influxd "$state/influxd.pid"
}

status() {
  alive "$state/mosquitto.pid" && echo "mosquitto: running on 127.0.0.1:$mqtt_port" || echo "mosquitto: stopped"
  alive "$state/influxd.pid" && echo "influxd: running on 127.0.0.1:$influx_port" || echo "influxd: stopped"
}

case ${1:-} in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac

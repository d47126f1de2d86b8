#!/usr/bin/env bash
# Runs EcoMonitor for real on this machine: mosquitto and InfluxDB (installed when missing), the service, and a demo
# gateway that first backfills its stations' history (hourly means since 1 January of last year, at least 400 days)
# and then publishes live readings. Prints the console's address and examples that give output, then follows the
# service log until Ctrl-C.
#
#   deploy/local/run.sh          start everything (again) and follow the log
#   deploy/local/run.sh --detach start everything and return
#   deploy/local/run.sh stop     stop the service, the gateway, mosquitto and InfluxDB
#
# Ports (environment): ECOMON_MQTT_PORT (1883), ECOMON_INFLUX_PORT (8086), ECOMON_INFLUX_RPC_PORT (8088),
# ECOMON_HTTP_PORT (8480, the service's /healthz, /readyz, /metrics, JSON API and console), ECOMON_GRPC_PORT (8481,
# the query API), ECOMON_HJ212_PORT (9212). ECOMON_INSTANCE (demo) names the state folder /tmp/ecomonitor-<instance>,
# so a second demo with other ports can run beside the first. ECOMON_BACKFILL_DAYS (400; 0: no backfill).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)

export ECOMON_INSTANCE=${ECOMON_INSTANCE:-demo}
export ECOMON_MQTT_PORT=${ECOMON_MQTT_PORT:-1883} ECOMON_INFLUX_PORT=${ECOMON_INFLUX_PORT:-8086} ECOMON_INFLUX_RPC_PORT=${ECOMON_INFLUX_RPC_PORT:-8088}
http_port=${ECOMON_HTTP_PORT:-8480}
grpc_port=${ECOMON_GRPC_PORT:-8481}
hj212_port=${ECOMON_HJ212_PORT:-9212}
backfill_days=${ECOMON_BACKFILL_DAYS:-400}
# API keys for the demo only; production keys go in settings, never in scripts.
reader_key=demo-officer-key-0001    # Reader: every query
duty_key=demo-duty-key-000001       # Duty: also acknowledges and silences alerts
operator_key=demo-operator-key-01   # Operator: also rebuilds rollups and evaluates rules on demand
state=/tmp/ecomonitor-$ECOMON_INSTANCE
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

stop_app() {
  for name in gateway service; do
    if [[ -f $state/$name.pid ]] && kill -0 "$(cat "$state/$name.pid")" 2>/dev/null; then
      kill "$(cat "$state/$name.pid")" && echo "[run] $name stopped"
    fi
    rm -f "$state/$name.pid"
  done
}

if [[ ${1:-} == stop ]]; then
  stop_app
  deploy/local/infra.sh down
  exit 0
fi

deploy/local/infra.sh up
stop_app
echo "[run] building"
for project in EcoMonitor.Service EcoMonitor.DemoGateway EcoMonitor.Cli; do
  dotnet build -c Release -v quiet -nologo "src/$project/$project.csproj" >/dev/null
done
out=$repo/src/EcoMonitor.Service/bin/Release/net10.0

influx_query() { # InfluxQL -> the first number of the first series, or 0
  curl -sG "http://127.0.0.1:$ECOMON_INFLUX_PORT/query" --data-urlencode "db=ecomonitor" --data-urlencode "q=$1" |
    grep -o '"values":\[\[[^]]*\]' | head -1 | grep -o '[0-9]*\]$' | tr -d ']' || true
}

# Ingestion:MaxAge (30 days by default) refuses older readings; the demo's backfill reaches back to 1 January of last
# year (up to 731 days), so the demo raises it for its own service run. A demo choice: in production keep it to what a
# gateway may plausibly still have buffered, and load older history with an import. Rollup:MaxPendingHours (500,000)
# is raised above the backfill's 1.2 million station hours so that all of them are rolled up from memory, not (slower,
# after Rollup:RepairInterval) from the durable marks.
(cd "$out" && exec dotnet EcoMonitor.Service.dll \
  --Http:Url "http://127.0.0.1:$http_port" \
  --Grpc:Url "http://127.0.0.1:$grpc_port" \
  --Hj212:Tcp:Port "$hj212_port" \
  --Api:Keys:0:Name demo-officer --Api:Keys:0:Key "$reader_key" --Api:Keys:0:Role Reader \
  --Api:Keys:1:Name demo-duty --Api:Keys:1:Key "$duty_key" --Api:Keys:1:Role Duty \
  --Api:Keys:2:Name demo-operator --Api:Keys:2:Key "$operator_key" --Api:Keys:2:Role Operator \
  --Ingestion:MaxAge 800.00:00:00 \
  --Rollup:MaxPendingHours 2000000 \
  --Mqtt:Port "$ECOMON_MQTT_PORT" \
  --Influx:Url "http://127.0.0.1:$ECOMON_INFLUX_PORT") >"$state/service.log" 2>&1 &
echo $! >"$state/service.pid"

for _ in $(seq 1 150); do
  curl -sf "http://127.0.0.1:$http_port/readyz" >/dev/null && break
  kill -0 "$(cat "$state/service.pid")" 2>/dev/null || { echo "[run] the service stopped:" >&2; tail -20 "$state/service.log" >&2; exit 1; }
  sleep 0.2
done
echo "[run] service up (log $state/service.log)"

started=$SECONDS
backfill=()
((backfill_days > 0)) && backfill=(--backfill-days "$backfill_days" --backfill-previous-year true)
dotnet "$repo/src/EcoMonitor.DemoGateway/bin/Release/net10.0/EcoMonitor.DemoGateway.dll" \
  --stations "$out/stations.json" --port "$ECOMON_MQTT_PORT" --interval 5 "${backfill[@]}" >"$state/gateway.log" 2>&1 &
echo $! >"$state/gateway.pid"
gateway_alive() {
  kill -0 "$(cat "$state/gateway.pid")" 2>/dev/null || { echo "[run] the demo gateway stopped:" >&2; tail -20 "$state/gateway.log" >&2; exit 1; }
  kill -0 "$(cat "$state/service.pid")" 2>/dev/null || { echo "[run] the service stopped:" >&2; tail -20 "$state/service.log" >&2; exit 1; }
}

if ((backfill_days > 0)); then
  # 1. The gateway publishes the history (progress from its log), 2. the service stores it and 3. rolls it up.
  shown=0
  until grep -q '^backfill done' "$state/gateway.log"; do
    gateway_alive
    lines=$(grep -c '^backfill' "$state/gateway.log" || true)
    if ((lines > shown)); then sed -n "$((shown + 1)),${lines}p" "$state/gateway.log" | sed 's/^/[run] /'; shown=$lines; fi
    sleep 0.5
  done
  grep '^backfill' "$state/gateway.log" | sed -n "$((shown + 1)),\$p" | sed 's/^/[run] /'
  expected=$(sed -n 's/^backfill done: \([0-9]*\) hourly values.*/\1/p' "$state/gateway.log")
  span=$(sed -n 's/^backfill span: //p' "$state/gateway.log")
  from=${span% *} to=${span#* }
  echo "[run] waiting for the service to store and roll up $expected hourly values (hours $from .. $to)"
  last=""
  while :; do
    gateway_alive
    rolled=$(influx_query "SELECT count(\"mean\") FROM \"reading_1h\" WHERE \"source\" = 'station' AND time >= '$from' AND time < '$to'")
    marks=$(influx_query "SELECT count(\"keys\") FROM \"rollup_dirty\"")
    [[ ${rolled:-0} != "$last" ]] && echo "[run]   rolled up: ${rolled:-0} of $expected hourly values, ${marks:-0} rollup marks left ($((SECONDS - started)) s)"
    last=${rolled:-0}
    ((${rolled:-0} >= expected && ${marks:-0} == 0)) && break
    if ((SECONDS - started > 1200)); then
      echo "[run] the history is not rolled up after 20 minutes; see $state/service.log (ecomonitor_rollup_* on /metrics)" >&2
      exit 1
    fi
    sleep 3
  done
  echo "[run] history stored and rolled up in $((SECONDS - started)) s since the gateway started"
fi

count=0
for _ in $(seq 1 60); do
  count=$(influx_query "SELECT count(value) FROM reading")
  [[ -n $count && $count != 0 ]] && break
  sleep 1
done
[[ -n $count && $count != 0 ]] || { echo "[run] no live readings stored after 60 s; see $state/service.log" >&2; exit 1; }
echo "[run] demo gateway publishing live readings every 5 s (log $state/gateway.log)"

# ecomon on the PATH: the CLI's wrapper deploy/bin/ecomon, linked into ~/.local/bin (on the PATH of most login shells).
path_hint=""
if [[ -x $repo/deploy/bin/ecomon ]]; then
  mkdir -p "$HOME/.local/bin"
  ln -sfn "$repo/deploy/bin/ecomon" "$HOME/.local/bin/ecomon"
  case ":$PATH:" in
    *":$HOME/.local/bin:"*) ;;
    *) path_hint="export PATH=\"\$HOME/.local/bin:\$PATH\"   # ecomon is linked there" ;;
  esac
else
  path_hint="alias ecomon='dotnet $repo/src/EcoMonitor.Cli/bin/Release/net10.0/ecomon.dll'"
fi

# The stop finds this demo's processes by its instance's state folder: a second demo must name its instance.
stop_prefix=""
[[ $ECOMON_INSTANCE != demo ]] && stop_prefix="ECOMON_INSTANCE=$ECOMON_INSTANCE "

cat <<MSG

EcoMonitor is running: $count live values stored so far$( ((backfill_days > 0)) && echo ", and $expected hourly values of history").
Console (browser):  http://127.0.0.1:$http_port/console/   (API key: one of the keys below)

API keys of this demo (header x-api-key, or ecomon --key / ECOMON_API_KEY):
  $reader_key   demo-officer   Reader: every query (stations, figures, AQI, evaluation, target, water, VOCs, alerts)
  $duty_key   demo-duty      Duty: also acknowledges and silences alerts
  $operator_key   demo-operator  Operator: also evaluates a rule now and rebuilds rollups

Try it (the dates are relative: today in China time):
${path_hint:+  $path_hint
}  export ECOMON_SERVER=http://127.0.0.1:$grpc_port ECOMON_API_KEY=$reader_key
  today=\$(TZ=Asia/Shanghai date +%F); year=\$(TZ=Asia/Shanghai date +%Y); last=\$((year - 1)); month_ago=\$(TZ=Asia/Shanghai date -d '-30 days' +%F)
  ecomon stations
  ecomon latest --region 高新区
  ecomon aggregate --region 高新区 --parameter pm25 --period day --from \$month_ago --to \$today --png pm25.png
  ecomon aggregate --station air-gxq-gwh --parameter pm25 --period month --from \$last-01-01 --to \$today
  ecomon aggregate --station air-gxq-gwh --parameter o3 --period day --statistic o3-max-8h --from \$last-07-01 --to \$last-07-31
  ecomon aggregate --station voc-gxq-hgy --parameter wdir --period day --from \$month_ago --to \$today
  ecomon aqi --station air-gxq-gwh --period hour --from \$today --to \$today
  ecomon target --past-years 1
  ecomon evaluate --year \$last
  ecomon evaluate --year \$year --region 高新区
  ecomon water --from \$month_ago --to \$today
  ecomon voc --from \$last-01-01 --to \$today
  ecomon alerts
  ecomon alerts ack --rule nmhc-single --subject voc-gxq-hgy --comment "已通知企业" --key $duty_key     # Duty
  ecomon alerts silence --subject w-bmg-hk --hours 8 --comment "探头清洗" --key $duty_key               # Duty
  ecomon alerts evaluate --rule pm25-target --key $operator_key                                         # Operator
  curl -s -H 'x-api-key: $reader_key' "http://127.0.0.1:$http_port/v1/target?asOf=\$today"
(the demo gateway sends an NMHC value over 30 mg/m³ a minute in and every 15 minutes: nmhc-single fires; every alert
also goes to the broker: mosquitto_sub -p $ECOMON_MQTT_PORT -t 'eco/alerts/#' -v)
Rejected readings:  mosquitto_sub -p $ECOMON_MQTT_PORT -t 'eco/deadletter/#' -v
Stored data:        influx -port $ECOMON_INFLUX_PORT -database ecomonitor -execute "SELECT * FROM reading_1d WHERE station = 'air-gxq-gwh' AND parameter = 'pm25' ORDER BY time DESC LIMIT 7"
Metrics:            curl -s http://127.0.0.1:$http_port/metrics
HJ 212 dataloggers: TCP 127.0.0.1:$hj212_port, or MQTT eco/<station>/hj212 (README, "HJ 212-2017")
Stop all:           ${stop_prefix}deploy/local/run.sh stop

MSG

if [[ ${1:-} == --detach ]]; then exit 0; fi
trap 'stop_app; exit 0' INT TERM
echo "[run] following the service log (Ctrl-C stops the service and the gateway; 'deploy/local/run.sh stop' also stops mosquitto and InfluxDB)"
tail -n +1 -f "$state/service.log" &
wait $!

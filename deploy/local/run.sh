#!/usr/bin/env bash
# Runs EcoMonitor for real on this machine: mosquitto and InfluxDB (installed when missing), the service, and a demo
# gateway publishing readings for the sample stations. Follows the service log until Ctrl-C.
#
#   deploy/local/run.sh          start everything (again) and follow the log
#   deploy/local/run.sh --detach start everything and return
#   deploy/local/run.sh stop     stop the service, the gateway, mosquitto and InfluxDB
#
# Ports (environment): ECOMON_MQTT_PORT (1883), ECOMON_INFLUX_PORT (8086), ECOMON_INFLUX_RPC_PORT (8088),
# ECOMON_HTTP_PORT (8480, the service's /healthz, /readyz and /metrics), ECOMON_GRPC_PORT (8481, the query API).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)

export ECOMON_INSTANCE=demo
export ECOMON_MQTT_PORT=${ECOMON_MQTT_PORT:-1883} ECOMON_INFLUX_PORT=${ECOMON_INFLUX_PORT:-8086} ECOMON_INFLUX_RPC_PORT=${ECOMON_INFLUX_RPC_PORT:-8088}
http_port=${ECOMON_HTTP_PORT:-8480}
grpc_port=${ECOMON_GRPC_PORT:-8481}
demo_key=demo-officer-key-0001   # API keys for the demo only; production keys go in settings, never in scripts
duty_key=demo-duty-key-000001
state=/tmp/ecomonitor-demo
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
dotnet build -c Release -v quiet -nologo src/EcoMonitor.Service/EcoMonitor.Service.csproj >/dev/null
dotnet build -c Release -v quiet -nologo src/EcoMonitor.DemoGateway/EcoMonitor.DemoGateway.csproj >/dev/null
out=$repo/src/EcoMonitor.Service/bin/Release/net10.0

(cd "$out" && exec dotnet EcoMonitor.Service.dll \
  --Http:Url "http://127.0.0.1:$http_port" \
  --Grpc:Url "http://127.0.0.1:$grpc_port" \
  --Api:Keys:0:Name demo-officer --Api:Keys:0:Key "$demo_key" \
  --Api:Keys:1:Name demo-duty --Api:Keys:1:Key "$duty_key" --Api:Keys:1:Role Duty \
  --Mqtt:Port "$ECOMON_MQTT_PORT" \
  --Influx:Url "http://127.0.0.1:$ECOMON_INFLUX_PORT") >"$state/service.log" 2>&1 &
echo $! >"$state/service.pid"

for _ in $(seq 1 150); do
  curl -sf "http://127.0.0.1:$http_port/readyz" >/dev/null && break
  kill -0 "$(cat "$state/service.pid")" 2>/dev/null || { echo "[run] the service stopped:" >&2; tail -20 "$state/service.log" >&2; exit 1; }
  sleep 0.2
done
echo "[run] service up (log $state/service.log)"

dotnet "$repo/src/EcoMonitor.DemoGateway/bin/Release/net10.0/EcoMonitor.DemoGateway.dll" \
  --stations "$out/stations.json" --port "$ECOMON_MQTT_PORT" --interval 5 >"$state/gateway.log" 2>&1 &
echo $! >"$state/gateway.pid"
echo "[run] demo gateway publishing every 5 s (log $state/gateway.log)"

count=0
for _ in $(seq 1 60); do
  count=$(curl -sG "http://127.0.0.1:$ECOMON_INFLUX_PORT/query" --data-urlencode "db=ecomonitor" \
    --data-urlencode "q=SELECT count(value) FROM reading" | grep -o '"values":\[\[[^]]*\]' | grep -o '[0-9]*\]$' | tr -d ']' || true)
  [[ -n $count && $count != 0 ]] && break
  sleep 1
done
[[ -n $count && $count != 0 ]] || { echo "[run] no readings stored after 60 s; see $state/service.log" >&2; exit 1; }

cat <<MSG

EcoMonitor is storing readings ($count values so far). Look at them:
  influx -port $ECOMON_INFLUX_PORT -database ecomonitor -precision rfc3339 -execute "SELECT * FROM reading WHERE time > now() - 5m ORDER BY time DESC LIMIT 20"
  influx -port $ECOMON_INFLUX_PORT -database ecomonitor -execute "SELECT mean(value) FROM reading WHERE parameter = 'pm25' AND time > now() - 1h GROUP BY station"
Rejected readings, with their reasons:
  mosquitto_sub -p $ECOMON_MQTT_PORT -t 'eco/deadletter/#' -v
Query API (gRPC on 127.0.0.1:$grpc_port, JSON here), demo key $demo_key:
  curl -s -H 'x-api-key: $demo_key' 'http://127.0.0.1:$http_port/v1/aggregate?selection.stationIds=air-gxq-gwh&parameter=pm25&period=PERIOD_HOUR&from='\$(TZ=Asia/Shanghai date +%F)'&to='\$(TZ=Asia/Shanghai date +%F)
  (an hour is valid once it has 45 minutes of data; a day once it has 20 valid hours: GB 3095)
Alerts (rules in $out/alert-rules.json, re-read when you edit it; every event also goes to the broker; the demo
gateway sends an NMHC value over 30 mg/m³ a minute in and every 15 minutes, which fires nmhc-single):
  mosquitto_sub -p $ECOMON_MQTT_PORT -t 'eco/alerts/#' -v
  curl -s -H 'x-api-key: $demo_key' http://127.0.0.1:$http_port/v1/alerts
  ecomon alerts --server http://127.0.0.1:$grpc_port --key $duty_key        (ack, silence: README, "ecomon")
Counters:  curl -s http://127.0.0.1:$http_port/metrics
HJ 212 dataloggers: TCP 127.0.0.1:9212, or MQTT eco/<station>/hj212 (README, "HJ 212-2017")
Stop all:  deploy/local/run.sh stop

MSG

if [[ ${1:-} == --detach ]]; then exit 0; fi
trap 'stop_app; exit 0' INT TERM
echo "[run] following the service log (Ctrl-C stops the service and the gateway; 'deploy/local/run.sh stop' also stops mosquitto and InfluxDB)"
tail -n +1 -f "$state/service.log" &
wait $!

#!/usr/bin/env bash
# Runs the benchmark against a real InfluxDB (instance "bench", ports 28830/28086/28088) and private mosquitto
# brokers it starts itself; the service runs as its own process (the Release build of src/EcoMonitor.Service). Prints
# ratios against references measured in the same run.
#   bench/run.sh [--messages N] [--datasets dense,2000,10000] [--sections 1,2,3,4,5,6] [--soak SECONDS] [--timeout SECONDS] [--rollup-wait SECONDS]
#                 [--service-dll PATH] [--instances N] [--soak-unpaced true] [--soak-rate N] [--lag-stations N,M] [--lag-rate N] [--lag-seconds N]
set -euo pipefail
cd "$(dirname "$0")/.."
ECOMON_INSTANCE=bench ECOMON_MQTT_PORT=28830 ECOMON_INFLUX_PORT=28086 ECOMON_INFLUX_RPC_PORT=28088 deploy/local/infra.sh up
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet build -c Release -v quiet -nologo bench/EcoMonitor.Bench/EcoMonitor.Bench.csproj >/dev/null
exec dotnet bench/EcoMonitor.Bench/bin/Release/net10.0/EcoMonitor.Bench.dll --influx http://127.0.0.1:28086 "$@"

#!/usr/bin/env bash
# Measures what a mosquitto crash (kill -9) loses of what it had acknowledged, and the throughput cost, for several
# autosave settings of deploy/mosquitto/mosquitto.conf.template. Starts its own brokers on free ports; needs mosquitto,
# mosquitto_sub and root (mosquitto's data folders are handed to the mosquitto user). Takes a few minutes.
#   bench/broker-crash/run.sh [--trials N] [--messages N] [--backlog N] [--only "autosave_interval 1"]
set -euo pipefail
cd "$(dirname "$0")/../.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet build -c Release -v quiet -nologo bench/broker-crash/EcoMonitor.BrokerCrash.csproj >/dev/null
exec dotnet bench/broker-crash/bin/Release/net10.0/EcoMonitor.BrokerCrash.dll "$@"

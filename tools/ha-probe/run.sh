#!/usr/bin/env bash
# Runs Stromwart against a real Home Assistant from PyPI and prints what the probe found: the
# price entity's state and attributes, and the Energy dashboard's validation of it.
#   tools/ha-probe/run.sh [HA_VERSION]   (default 2024.1.6, the newest for Python 3.11)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
version=${1:-2024.1.6}
work=$(mktemp -d /tmp/stromwart-ha-probe.XXXX)
port=18883
venv=${HA_VENV:-$work/venv}   # HA_VENV: reuse a venv that has Home Assistant
if [ ! -x "$venv/bin/hass" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "homeassistant==$version"
fi
(cd "$root" && cargo build --release -q)
mkdir -p "$work/cfg/.storage" "$work/data"
cp -r "$here/configuration.yaml" "$here/custom_components" "$work/cfg/"
cat > "$work/cfg/.storage/core.config_entries" <<JSON
{"version":1,"minor_version":1,"key":"core.config_entries","data":{"entries":[{"entry_id":"probe","version":1,"minor_version":1,"domain":"mqtt","title":"probe","data":{"broker":"127.0.0.1","port":$port,"discovery":true},"options":{},"pref_disable_new_entities":false,"pref_disable_polling":false,"source":"user","unique_id":null,"disabled_by":null}]}}
JSON
printf 'listener %s 127.0.0.1\nallow_anonymous true\n' "$port" > "$work/mosquitto.conf"
cat > "$work/stromwart.yaml" <<YAML
data_dir: $work/data
mqtt: { host: 127.0.0.1, port: $port, discovery_mode: component }
meters:
  - { id: grid, file: $root/tests/fixtures/sml/iskra-mt691-1.hex, hex: true, repeat: true }
prices: { source: fixed, fixed_price: 30 }
YAML
mosquitto -c "$work/mosquitto.conf" > "$work/mosquitto.log" 2>&1 &
pids=$!
"$root/target/release/stromwart" run --config "$work/stromwart.yaml" > "$work/stromwart.log" 2>&1 &
pids="$pids $!"
"$venv/bin/hass" -c "$work/cfg" > "$work/hass.log" 2>&1 &
pids="$pids $!"
trap 'kill $pids 2>/dev/null' EXIT
for _ in $(seq 120); do [ -f "$work/cfg/probe.json" ] && break; sleep 1; done
python3 - "$work/cfg/probe.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print("price entity:", d["price"], d["entities"].get(d["price"]))
print("energy entity:", d["energy"])
print("validation:", json.dumps(d["validation"]))
PY
grep -E "ERROR|WARNING" "$work/hass.log" | grep -v "custom integration" || true
echo "logs in $work"

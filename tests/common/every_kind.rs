//! A config that uses every kind of meter, device, plug, wallbox and battery, so that the config reader
//! records every field it knows. The docs and the add-on schema are checked against that record.

pub fn every_kind_of_config() -> serde_json::Value {
    serde_json::json!({
        "mqtt": {},
        "meters": [
            {"id": "a", "serial_port": "/dev/ttyUSB0"},
            {"id": "b", "tcp": "h:1"},
            {"id": "c", "url": "http://h/"},
            {"id": "d", "file": "-"}
        ],
        "devices": [{"id": "e", "profile": "sdm630", "address": "tcp://h:502"}],
        "plugs": [
            {"id": "f", "driver": "shelly2", "address": "http://h", "auto_off": 60},
            {"id": "g", "driver": "tasmota", "topic": "t"},
            {"id": "h", "driver": "mqtt", "command_topic": "c", "state_topic": "s"}
        ],
        "wallboxes": [
            {"id": "w", "address": "http://h"},
            {"id": "x", "driver": "modbus", "profile": "heidelberg", "address": "tcp://h:502"}
        ],
        "batteries": [{"id": "y", "profile": "huawei-luna2000", "address": "tcp://h:502"}],
        "p14a": {
            "control": "ems",
            "minimum_power": 9000,
            "add_pv": false,
            "network_price": 8.62,
            "signals": [
                {"name": "box", "mqtt": "shellies/box/input/0", "availability": "shellies/box/online",
                 "online": "true", "dim": "1", "release": "0", "timeout": 600, "fail_safe": true,
                 "debounce": 1},
                {"shelly": "http://h", "input": 1, "interval": 5}
            ],
            "devices": [
                {"kind": "wallbox", "rated_power": 11, "wallbox": "w", "priority": 1},
                {"kind": "battery", "rated_power": 5, "battery": "y"},
                {"kind": "heat_pump", "rated_power": 9, "relay": "f", "name": "Heat pump"},
                {"kind": "air_conditioner", "rated_power": 5}
            ]
        },
        "prices": {"source": "energy-charts", "zone": "DE-LU", "token": "t", "url": "https://h",
                   "fixed_price": 30, "surcharge": 1.5, "network_fee": 8.62, "levies": 2.5, "vat": 19,
                   "modul3": {"nt": 1.31, "st": 6.54, "ht": 8.9, "q1": "NT 00:00-06:00, HT 17:00-21:00",
                              "q2": "", "q3": "", "q4": "NT 00:00-06:00, HT 17:00-21:00"},
                   "cheap_percentile": 25, "cheap_limit": 20, "window_hours": 3,
                   "grid_charge": {"battery": "y", "below": 15, "target": 80}},
        "surplus": {"stale_after": 60, "priority_soc": 40, "buffer_soc": 80, "manual_for": "4h", "hold_battery": true, "start_average": "5m"},
        "loads": [
            {"plug": "f", "power": 2000, "priority": 10, "min_on": "5m", "min_off": "5m",
             "on_delay": 60, "off_delay": 180, "on_threshold": 0, "off_threshold": 0,
             "runtime": "2h", "deadline": "18:00", "max_runtime": "6h", "window": "08:00-20:00",
             "never_off": false, "min_soc": 20, "name": "Boiler", "id": "boiler"},
            {"plugs": "g, h", "steps": "1000, 2000"},
            {"wallbox": "w", "mode": "pv", "phases": "auto", "phase_delay": "2m", "phase_switches": 4}
        ]
    })
}

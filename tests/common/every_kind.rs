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
        "batteries": [{"id": "y", "profile": "huawei-luna2000", "address": "tcp://h:502"}]
    })
}

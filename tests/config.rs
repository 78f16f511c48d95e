//! Configuration: one schema for YAML and options.json, every error at once with its path.

#[path = "common/every_kind.rs"]
mod every_kind;

use every_kind::every_kind_of_config;
use stromwart::config::{Config, SerialFormat, Source};
use stromwart::ha::DiscoveryMode;

fn errors(yaml: &str) -> Vec<String> {
    match Config::from_yaml(yaml) {
        Ok(c) => panic!("expected errors, got {c:?}"),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn a_minimal_config_gets_sensible_defaults() {
    let c = Config::from_yaml("meters:\n  - id: grid\n    serial_port: /dev/ttyUSB0\n").unwrap();
    assert_eq!(c.mqtt.host, None);
    assert_eq!(c.mqtt.port, 1883);
    assert_eq!(c.mqtt.base_topic, "stromwart");
    assert_eq!(c.mqtt.discovery_prefix, "homeassistant");
    assert_eq!(c.mqtt.discovery_mode, DiscoveryMode::Device);
    let m = &c.meters[0];
    assert_eq!(m.name, "Grid meter");
    assert_eq!(
        m.source,
        Source::Serial {
            port: "/dev/ttyUSB0".into(),
            baud: 9600,
            format: SerialFormat::EightN1
        }
    );
    assert_eq!(
        (
            m.publish.min_interval_s,
            m.publish.heartbeat_s,
            m.publish.expire_after_s
        ),
        (1.0, 60.0, 180)
    );
    let c = Config::from_yaml("meters:\n  - id: grid\n    file: x\n    heartbeat: 100\n").unwrap();
    assert_eq!(
        c.meters[0].publish.expire_after_s, 300,
        "the default follows the heartbeat"
    );
}

#[test]
fn every_problem_is_reported_at_once_with_its_path() {
    let yaml = r#"
mqtt:
  port: 70000
  base_topic: "home/#"
  discovery_mode: devices
  pasword: secret
meters:
  - id: Grid Meter
    serial_port: /dev/ttyUSB0
    tcp: 10.0.0.2:8888
    baud: fast
    hearbeat: 10
  - id: pv
    url: ftp://bridge/sml
    direction_bit: 12
  - id: pv
    file: capture.bin
log_level: loud
"#;
    assert_eq!(
        errors(yaml),
        vec![
            "mqtt.base_topic: 'home/#' must not contain the MQTT wildcards + or #",
            "mqtt.discovery_mode: 'devices' is not one of: device, component",
            "mqtt.port: expected a whole number from 1 to 65535, got 70000",
            "mqtt.pasword: unknown key; did you mean 'password'?",
            "meters[0].id: 'Grid Meter' may only contain a-z, 0-9, '_' and '-' (it becomes part of MQTT topics)",
            "meters[0].baud: expected a number, got the text 'fast'",
            "meters[0]: set exactly one source (serial_port, tcp, url or file); found serial_port and tcp",
            "meters[0].hearbeat: unknown key; did you mean 'heartbeat'?",
            "meters[1].url: 'ftp://bridge/sml' must start with http:// or https://",
            "meters[1].direction_bit: 12 is not a single bit; ED300L meters use 32 (0x20)",
            "meters[2].id: 'pv' is already the id of meters[1]; ids must be unique",
            "log_level: 'loud' is not one of: error, warn, info, debug, trace",
        ]
    );
}

#[test]
fn options_json_uses_the_same_schema() {
    let json = serde_json::json!({
        "mqtt": {"username": "addons", "password": "pw", "discovery_mode": "component"},
        "meters": [{"id": "grid", "tcp": "192.168.1.50:8888", "max_power": 40000, "min_interval": "2"}],
        "log_level": "debug"
    });
    let c = Config::from_value(&json).unwrap().config;
    assert_eq!(c.mqtt.discovery_mode, DiscoveryMode::Component);
    assert_eq!(
        c.meters[0].source,
        Source::Tcp {
            address: "192.168.1.50:8888".into()
        }
    );
    assert_eq!(c.meters[0].quirks.max_power_w, Some(40000.0));
    assert_eq!(c.meters[0].publish.min_interval_s, 2.0);
    assert_eq!(c.log_level, "debug");
}

#[test]
fn broken_files_say_what_is_wrong() {
    assert!(errors("meters: [")[0].starts_with("not valid YAML"));
    assert_eq!(
        errors("- a\n- b\n"),
        vec![
            "the configuration must be a mapping of keys to values",
            "meters: no meters or devices configured; add at least one under 'meters:' or 'devices:'"
        ]
    );
    assert_eq!(
        errors("meters:\n  - id: grid\n    file: x\n    heartbeat: 100\n    expire_after: 100\n"),
        vec![
            "meters[0].expire_after: must be longer than heartbeat (or 0 to never expire), else unchanged values show as unavailable"
        ]
    );
}

#[test]
fn the_reference_documents_every_key() {
    let json = every_kind_of_config();
    let fields = Config::from_value(&json).unwrap().fields;
    assert!(fields.len() > 35, "{fields:?}");
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/configuration.md"
    ))
    .unwrap();
    for f in &fields {
        let key = f.pattern.rsplit('.').next().unwrap().trim_end_matches("[]");
        assert!(
            doc.contains(&format!("`{key}`")),
            "docs/configuration.md does not describe {}",
            f.pattern
        );
    }
}

#[test]
fn modbus_devices_are_checked_with_their_paths() {
    let yaml = r#"
meters:
  - id: grid
    tcp: 10.0.0.2:8888
devices:
  - id: inverter
    profile: fronius
    address: tcp://10.0.0.5:502
  - id: heatpump
    profile: sdm630
    address: 10.0.0.6
  - id: own
    address: tcp://10.0.0.7
    registers:
      blocks: [{fc: 4, start: 0, count: 10}]
      points: [{quantity: power, fc: 4, address: 20, type: f32}]
  - id: inverter
    profile: sdm120
    address: rtu:///dev/ttyUSB0?baud=9600
  - id: grid
    profile: sdm120
    registers: {}
    address: tcp://h
"#;
    assert_eq!(
        errors(yaml),
        vec![
            "devices[0].profile: unknown profile 'fronius'; built-in profiles: sdm630, sdm120, sdm72, sdm72v2, sunspec, sma, huawei-sun2000, huawei-meter, huawei-luna2000, kostal-plenticore, heidelberg, alfen",
            "devices[1].address: '10.0.0.6' is not an address; use tcp://host:port, rtuovertcp://host:port or rtu:///dev/ttyUSB0?baud=9600",
            "devices[2].registers.points[0]: register 20 (function code 4) is not inside any block; add it to blocks",
            "devices[3].id: 'inverter' is already the id of devices[0]; ids must be unique",
            "devices[4]: set exactly one of profile (built-in: sdm630, sdm120, sdm72, sdm72v2, sunspec, sma, huawei-sun2000, huawei-meter, huawei-luna2000, kostal-plenticore, heidelberg, alfen), profile_file or registers",
            "devices[4].id: 'grid' is already the id of meters[0]; ids must be unique",
        ]
    );
    let ok = Config::from_yaml("devices:\n  - id: inverter\n    role: pv\n    profile: sunspec\n    address: tcp://10.0.0.5\n").unwrap();
    let d = &ok.devices[0];
    assert_eq!(
        (d.unit, d.profile.timeout_s, d.poll_interval_s),
        (1, 2.0, 5.0)
    );
    assert_eq!(d.transport.to_string(), "tcp://10.0.0.5:502");
}

#[test]
fn wallboxes_and_batteries_are_checked_with_their_paths() {
    let yaml = r#"
wallboxes:
  - id: a
    driver: keba
    address: http://h
  - id: b
    driver: modbus
    profile: sdm630
    address: tcp://h
  - id: c
    driver: modbus
    profile: heidelberg
    address: rtu:///dev/ttyUSB0?baud=19200&parity=E
    max_current: 20
    safe_current: 4
    watchdog: 10
    rewrite_interval: 10
batteries:
  - id: d
    profile: alfen
    address: tcp://h
  - id: e
    profile: huawei-luna2000
    max_charge_power: 3000
    charge_limit: 4000
  - id: f
    address: tcp://h
    registers:
      blocks: [{fc: 3, start: 0, count: 2}]
      points: [{quantity: battery_soc, address: 0}]
      controls:
        mode: {address: 10, type: u32, fc: 6}
        limit: {address: 12, type: u16, min: 0, max: 100, value: 200}
      modes:
        hold: [mode = 1, limit = charge_limit, power = 3, limit is 2, mode = max]
"#;
    assert_eq!(
        errors(yaml),
        vec![
            "wallboxes[0].driver: 'keba' is not one of: goe, modbus",
            "wallboxes[1].profile: profile sdm630 has no current_limit control, so it cannot drive a wallbox; built-in wallbox profiles: alfen, heidelberg",
            "wallboxes[2].max_current: 20 A is more than the charger takes (16 A)",
            "wallboxes[2].safe_current: a car charges with 6 A or more; use 0 to stop charging without Stromwart",
            "wallboxes[2].rewrite_interval: must be shorter than watchdog, else the charger falls back between writes",
            "batteries[0].profile: profile alfen defines no battery modes; built-in battery profiles: huawei-luna2000, kostal-plenticore, sma, sunspec",
            "batteries[1].address: required, e.g. tcp://192.168.1.20:502 or rtu:///dev/ttyUSB0?baud=9600",
            "batteries[1].charge_limit: must not be above max_charge_power",
            "batteries[2].registers.controls.limit.value: 200 is outside min..max",
            "batteries[2].registers.controls.mode.fc: function code 6 writes one register; use 16 for this type",
            "batteries[2].registers.modes.hold[2]: 'power' is not one of this profile's controls",
            "batteries[2].registers.modes.hold[3]: 'limit is 2' should read 'control = value'",
            "batteries[2].registers.modes.hold[4]: 'max' is not a number, charge_limit or discharge_limit",
            "batteries[2].registers.modes: a battery needs an 'auto' mode: what it does on its own",
        ]
    );
}

#[test]
fn p14a_is_read_with_its_defaults() {
    let c = Config::from_yaml(
        "meters:\n  - id: grid\n    tcp: h:1\nwallboxes:\n  - id: garage\n    address: http://h\n\
         p14a:\n  signals:\n    - mqtt: shellies/box/input/0\n    - shelly: http://192.168.1.60\n\
         \x20 devices:\n    - kind: wallbox\n      rated_power: 11\n      wallbox: garage\n\
         \x20   - kind: heat_pump\n      rated_power: 16\n",
    )
    .unwrap();
    let p = c.p14a.expect("p14a configured");
    assert_eq!(p.control, stromwart::control::p14a::Control::Ems);
    let (topic, shelly) = (&p.signals[0], &p.signals[1]);
    assert_eq!(topic.dim, ["on", "true", "1"]);
    assert_eq!(
        (topic.timeout_s, topic.fail_safe, topic.debounce_s),
        (None, true, 1.0)
    );
    assert_eq!(shelly.timeout_s, Some(15.0), "three missed polls");
    assert_eq!(p.devices[0].rated_w, 11_000);
    assert_eq!(p.devices[1].name, "heat pump");
    // The add-on's default (empty lists) is no §14a at all.
    let c = Config::from_yaml(
        "meters:\n  - id: grid\n    tcp: h:1\np14a:\n  signals: []\n  devices: []\n",
    )
    .unwrap();
    assert_eq!(c.p14a, None);
}

#[test]
fn p14a_mistakes_are_reported_with_their_paths() {
    let e = errors(
        "meters:\n  - id: grid\n    tcp: h:1\nwallboxes:\n  - id: garage\n    address: http://h\n\
         p14a:\n  minimum_power: 3000\n  signals:\n    - mqtt: box/+/input\n      shelly: http://h\n\
         \x20   - mqtt: box/input\n      dim: on\n      release: ON, 0\n\
         \x20   - modbus: io\n      value: inptu_1\n\
         \x20 devices:\n    - kind: heat_pump\n    - kind: wallbox\n      rated_power: 11\n      wallbox: carport\n\
         \x20   - kind: heat_pump\n      rated_power: 9\n      modbus: hp\n",
    );
    assert_eq!(
        e,
        vec![
            "p14a.minimum_power: is below 4200 W, the least §14a lets an operator dim to; give your operator's figure in W",
            "p14a.signals[0].mqtt: set exactly one of mqtt (a topic), shelly (a Shelly's address) or modbus (a configured Modbus device's id)",
            "p14a.signals[1].release: 'on' is both a dimming and a release payload",
            "p14a.signals[2].modbus: 'io' is not among the configured devices (none)",
            "p14a.signals[2].value: 'inptu_1' is not a quantity a profile can read; use the one the device's profile gives the input, e.g. input_1",
            "p14a.devices[0].rated_power: required: the device's rated power in kW, from its data sheet; the minimum power the site keeps depends on it",
            "p14a.devices[1].wallbox: 'carport' is not among the configured wallboxes (garage)",
            "p14a.devices[2].modbus: 'hp' is not among the configured devices (none)",
        ]
    );
    let e = errors("meters:\n  - id: grid\n    tcp: h:1\np14a:\n  control: direct\n");
    assert_eq!(
        e,
        vec![
            "p14a.signals: give at least one source of the dimming signal (mqtt: a topic, or shelly: the address of a Shelly whose input is wired to the control box)"
        ]
    );
}

#[test]
fn a_p14a_limit_on_a_modbus_device_needs_that_control_in_its_profile() {
    let e = errors(
        "devices:\n  - id: hp\n    address: tcp://h:502\n    registers:\n      blocks:\n        - { start: 0, count: 1 }\n      points:\n        - { quantity: power, address: 0 }\n\
         p14a:\n  signals:\n    - mqtt: box/input\n  devices:\n    - kind: heat_pump\n      rated_power: 9\n      modbus: hp\n",
    );
    assert_eq!(
        e,
        vec![
            "p14a.devices[0].control: 'power_limit' is not a control of hp's profile (none); add the power limit register under controls: in its profile"
        ]
    );
}

const PLUGS: &str = "meters:\n  - id: grid\n    tcp: h:1\nplugs:\n  - id: boiler\n    address: http://h\n  - id: rod1\n    address: http://h\n  - id: rod2\n    address: http://h\nwallboxes:\n  - id: garage\n    address: http://h\n";

#[test]
fn loads_are_read_with_their_devices_and_constraints() {
    use stromwart::control::surplus::load::{ChargeMode, LoadKind, Runtime};
    let c = Config::from_yaml(&format!(
        "{PLUGS}surplus:\n  priority_soc: 40\n  buffer_soc: 80\n  manual_for: 4h\n\
         loads:\n  - plug: boiler\n    power: 2000\n    priority: 10\n    min_on: 5m\n    runtime: 2h\n    deadline: \"18:00\"\n    window: 08:00-20:00\n\
         \x20 - plugs: [rod1, rod2]\n    steps: [1000, 2000]\n    id: rod\n\
         \x20 - wallbox: garage\n    mode: smart\n    phases: 1\n"
    ))
    .unwrap();
    assert_eq!(c.surplus.manual_ms, Some(4 * 3_600_000));
    assert_eq!(c.surplus.priority_soc, Some(40.0));
    let boiler = &c.loads[0];
    assert_eq!(boiler.id, "boiler");
    assert_eq!(
        boiler.kind,
        LoadKind::Switched {
            plug: 0,
            power_w: 2000
        }
    );
    assert_eq!(boiler.min_on_ms, 300_000);
    assert_eq!(
        boiler.runtime,
        Some(Runtime {
            ms: 7_200_000,
            deadline_ms: 18 * 3_600_000
        })
    );
    assert_eq!(boiler.window, Some((8 * 3_600_000, 20 * 3_600_000)));
    assert_eq!(
        c.loads[1].kind,
        LoadKind::Stepped {
            plugs: vec![1, 2],
            step_w: vec![1000, 2000]
        }
    );
    assert_eq!(c.loads[2].charge_mode, Some(ChargeMode::Pv), "smart is pv");
    assert_eq!(
        c.loads[2].kind,
        LoadKind::Variable {
            wallbox: 0,
            phases: 1,
            max_a: 16
        }
    );
    assert_eq!(c.loads[2].on_delay_ms, 60_000, "evcc's enable delay");
    assert_eq!(c.loads[2].off_delay_ms, 180_000, "evcc's disable delay");
}

#[test]
fn contradicting_load_settings_are_errors_with_their_paths() {
    let e = errors(&format!(
        "{PLUGS}loads:\n  - plug: boiler\n    power: 2000\n    runtime: 3h\n    deadline: \"10:00\"\n    window: 08:00-20:00\n\
         \x20 - plug: boiler\n    power: 2000\n    id: b2\n    runtime: 1h\n    deadline: \"21:00\"\n    window: 08:00-20:00\n\
         \x20 - plug: kettle\n    power: 2000\n\
         \x20 - plugs: [rod1, rod2]\n    steps: [1000]\n\
         \x20 - plug: rod1\n    runtime: 2h\n\
         \x20 - wallbox: garage\n    mode: turbo\n"
    ));
    assert_eq!(
        e,
        vec![
            "loads[0].runtime: 180 min do not fit between 08:00 and the deadline 10:00 (120 min)",
            "loads[1].deadline: 21:00 is outside the window 08:00–20:00",
            "loads[2].plug: 'kettle' is not among the configured plugs (boiler, rod1, rod2)",
            "loads[3].steps: give one power in W per relay (2 relays), or power for all of them",
            "loads[4].power: required: what the device draws when on, in W",
            "loads[4].deadline: a runtime needs the time it is due by, e.g. 18:00",
            "loads[5].mode: 'turbo' is not one of off, now, minpv, pv",
        ]
    );
}

#[test]
fn prices_are_read_with_the_operators_windows_and_mistakes_named() {
    use stromwart::control::prices::{Band, Source};
    let c = Config::from_yaml(
        "meters:\n  - id: grid\n    tcp: h:1\nprices:\n  source: energy-charts\n  network_fee: 8.62\n  modul3:\n    nt: 1.31\n    st: 6.54\n    ht: 8.90\n    q1: NT 00:00-06:00, HT 17:00-21:00\n    q4: NT 00:00-06:00, HT 17:00-21:00\n",
    )
    .unwrap();
    let p = c.prices.unwrap();
    assert_eq!(
        p.source,
        Some(Source::EnergyCharts {
            zone: "DE-LU".into()
        })
    );
    assert_eq!(p.tariff.vat_percent, 19.0);
    let m = p.tariff.modul3.unwrap();
    assert_eq!(m.quarters[0][1].band, Band::Ht);
    assert!(m.quarters[1].is_empty());
    let e = errors(
        "meters:\n  - id: grid\n    tcp: h:1\nprices:\n  source: tibber\n  modul3:\n    st: 6.54\n    q2: LT 01:00-02:00\n",
    );
    assert_eq!(
        e,
        vec![
            "prices.token: required for Tibber: your API token from developer.tibber.com",
            "prices.modul3.q2: 'LT' is not NT, ST or HT",
        ]
    );
    // Found by fuzzing (config_options_json): an hour past u64 overflowed while read.
    let e = errors(
        "meters:\n  - id: grid\n    tcp: h:1\nprices:\n  source: energy-charts\n  modul3:\n    st: 6.54\n    q4: NT 18446744073709551615:00-06:00\n",
    );
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].starts_with("prices.modul3.q4: "), "{e:?}");
}

//! Smart plugs against loopback peers: HTTP servers that answer like Shelly Gen1 and Gen2 (with a
//! working toggle_after timer), and a Tasmota device on a real mosquitto. Commands go in as Home
//! Assistant sends them; states must follow from what the device reports.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::bridge::Bridge;
use common::broker::{Mosquitto, free_port, scratch_dir};
use common::http::{Response, serve, serve_exact};
use common::observer::Observer;
use rumqttc::QoS;

#[derive(Default)]
struct Relay {
    on: bool,
    /// Gen2: when the device switches itself off unless re-armed.
    off_at: Option<Instant>,
    toggle_after: Option<u64>,
    sets: u32,
}

impl Relay {
    fn tick(&mut self) {
        if self.off_at.is_some_and(|t| Instant::now() >= t) {
            self.on = false;
            self.off_at = None;
        }
    }
}

fn query(head: &str, key: &str) -> Option<String> {
    let line = head.lines().next()?;
    let q = line.split_whitespace().nth(1)?.split_once('?')?.1;
    q.split('&')
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")).map(str::to_string))
}

/// A Shelly Gen1 plug: /relay/0?turn=on|off and /status.
async fn shelly_gen1(relay: Arc<Mutex<Relay>>) -> u16 {
    serve(move |head| {
        let mut r = relay.lock().unwrap();
        if head.starts_with("get /relay/0") {
            if let Some(turn) = query(head, "turn") {
                r.on = turn == "on";
                r.sets += 1;
            }
            Response::json("200 OK", &format!(r#"{{"ison":{},"has_timer":false,"source":"http"}}"#, r.on))
        } else if head.starts_with("get /shelly ") {
            Response::json("200 OK", r#"{"type":"SHPLG-S","mac":"A4CF12F454A1","auth":false}"#)
        } else if head.starts_with("get /status") {
            let power = if r.on { 1200.5 } else { 0.0 };
            Response::json("200 OK", &format!(r#"{{"relays":[{{"ison":{}}}],"meters":[{{"power":{power},"is_valid":true}}]}}"#, r.on))
        } else {
            Response::json("404 Not Found", "")
        }
    })
    .await
    .0
}

/// A Shelly Gen2 plug: /rpc/Switch.Set with toggle_after, /rpc/Switch.GetStatus.
async fn shelly_gen2(relay: Arc<Mutex<Relay>>) -> u16 {
    serve(move |head| {
        let mut r = relay.lock().unwrap();
        r.tick();
        if head.starts_with("get /rpc/switch.set") {
            let was = r.on;
            r.on = query(head, "on").as_deref() == Some("true");
            r.sets += 1;
            r.toggle_after = query(head, "toggle_after").and_then(|t| t.parse().ok());
            r.off_at = r
                .toggle_after
                .filter(|_| r.on)
                .map(|s| Instant::now() + Duration::from_secs(s));
            Response::json("200 OK", &format!(r#"{{"was_on":{was}}}"#))
        } else if head.starts_with("get /rpc/shelly.getdeviceinfo") {
            Response::json("200 OK", r#"{"id":"shellyplusplugs-e86beae4e2a8","model":"SNPL-00112EU","gen":2,"app":"PlugS"}"#)
        } else if head.starts_with("get /rpc/switch.getstatus") {
            let power = if r.on { 2000.0 } else { 0.0 };
            Response::json(
                "200 OK",
                &format!(
                    r#"{{"id":0,"source":"http","output":{},"apower":{power},"voltage":230.1}}"#,
                    r.on
                ),
            )
        } else {
            Response::json("404 Not Found", "")
        }
    })
    .await
    .0
}

fn config(port: u16, plugs: &str) -> String {
    format!(
        "data_dir: {}\nmqtt:\n  host: 127.0.0.1\n  port: {port}\nplugs:\n{plugs}",
        scratch_dir("plugs").display()
    )
}

/// The simulated device publishes on one of its own topics, not retained, as Tasmota does.
async fn tasmota_says(device: &Observer, topic: &str, payload: &str) {
    device
        .client
        .publish(topic, QoS::AtLeastOnce, false, payload)
        .await
        .unwrap();
}

async fn switch(obs: &Observer, id: &str, payload: &str) {
    obs.send(&format!("stromwart/{id}/switch/set"), payload)
        .await;
}

#[tokio::test]
async fn a_shelly_gen1_switches_and_reports_its_power() {
    let broker = Mosquitto::start();
    let relay = Arc::new(Mutex::new(Relay::default()));
    let port = shelly_gen1(relay.clone()).await;
    let plug = format!(
        "  - id: boiler\n    name: Boiler\n    driver: shelly1\n    address: http://127.0.0.1:{port}\n    poll_interval: 0.5\n    min_switch_interval: 3\n"
    );
    let bridge = Bridge::start(&config(broker.port, &plug));
    let obs = Observer::connect(broker.port, "#").await;
    obs.wait_value("stromwart/boiler/switch", "OFF").await;
    let config = obs
        .wait_for(5, "plug config", |r| {
            r.topic == "homeassistant/device/stromwart_plug_stromwart_boiler/config"
        })
        .await;
    let json: serde_json::Value = serde_json::from_str(&config.payload).unwrap();
    assert_eq!(json["components"]["switch"]["platform"], "switch");
    assert_eq!(
        json["components"]["switch"]["command_topic"],
        "stromwart/boiler/switch/set"
    );
    assert!(
        json["components"]["switch"]
            .get("entity_category")
            .is_none(),
        "the plug's main entity"
    );

    switch(&obs, "boiler", "ON").await;
    obs.wait_value("stromwart/boiler/switch", "ON").await;
    obs.wait_value("stromwart/boiler/power", "1200.5").await;
    assert!(relay.lock().unwrap().on);

    // Too soon after the last switch: refused, the plug stays on, the state says so.
    obs.clear();
    switch(&obs, "boiler", "OFF").await;
    obs.wait_value("stromwart/boiler/switch", "ON").await;
    assert!(relay.lock().unwrap().on);
    assert_eq!(relay.lock().unwrap().sets, 1);
    // A bad payload changes nothing either.
    switch(&obs, "boiler", "maybe").await;
    tokio::time::sleep(Duration::from_millis(3200)).await;
    switch(&obs, "boiler", "OFF").await;
    obs.wait_value("stromwart/boiler/switch", "OFF").await;
    assert!(!relay.lock().unwrap().on);
    assert_eq!(relay.lock().unwrap().sets, 2);
    bridge.stop().await.unwrap();
}

#[tokio::test]
async fn a_shelly_gen2_falls_back_to_off_when_the_bridge_goes_away() {
    let broker = Mosquitto::start();
    let relay = Arc::new(Mutex::new(Relay::default()));
    let port = shelly_gen2(relay.clone()).await;
    let plug = format!(
        "  - id: heater\n    driver: shelly2\n    address: http://127.0.0.1:{port}\n    poll_interval: 5\n    auto_off: 2\n    min_switch_interval: 0\n"
    );
    let bridge = Bridge::start(&config(broker.port, &plug));
    let obs = Observer::connect(broker.port, "stromwart/#").await;
    obs.wait_value("stromwart/heater/switch", "OFF").await;
    switch(&obs, "heater", "ON").await;
    obs.wait_value("stromwart/heater/switch", "ON").await;
    obs.wait_value("stromwart/heater/power", "2000").await;
    assert_eq!(relay.lock().unwrap().toggle_after, Some(2));

    // While the bridge runs it re-arms the timer, so the heater stays on past 2 s.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    relay.lock().unwrap().tick();
    assert!(relay.lock().unwrap().on, "re-armed");
    assert!(relay.lock().unwrap().sets >= 3);

    // The bridge goes away: the plug's own timer switches the heater off.
    bridge.stop().await.unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    relay.lock().unwrap().tick();
    assert!(!relay.lock().unwrap().on, "the dead-man timer ran out");
}

#[tokio::test]
async fn a_tasmota_plug_is_driven_over_mqtt() {
    let broker = Mosquitto::start();
    // The Tasmota device: answers cmnd/.../POWER with stat/.../RESULT, reports power.
    let device = Observer::connect(broker.port, "cmnd/tasmota_4A2F1C/#").await;
    let plug = "  - id: bike\n    name: E-bike charger\n    driver: tasmota\n    topic: tasmota_4A2F1C\n    min_switch_interval: 0\n";
    let bridge = Bridge::start(&config(broker.port, plug));
    let obs = Observer::connect(broker.port, "stromwart/#").await;
    obs.wait_value("stromwart/status", "online").await;
    // The device announces itself as it does after boot.
    tasmota_says(&device, "stat/tasmota_4A2F1C/POWER", "OFF").await;
    obs.wait_value("stromwart/bike/switch", "OFF").await;

    switch(&obs, "bike", "ON").await;
    // (The bridge's state query at start is an empty command on the same topic.)
    let cmnd = device
        .wait_for(5, "command to the device", |r| {
            r.topic == "cmnd/tasmota_4A2F1C/POWER" && !r.payload.is_empty()
        })
        .await;
    assert_eq!((cmnd.payload.as_str(), cmnd.retain), ("ON", false));
    // Not assumed: the state changes only when the device confirms.
    assert!(
        obs.on("stromwart/bike/switch")
            .iter()
            .all(|r| r.payload == "OFF")
    );
    tasmota_says(&device, "stat/tasmota_4A2F1C/RESULT", r#"{"POWER":"ON"}"#).await;
    obs.wait_value("stromwart/bike/switch", "ON").await;
    tasmota_says(
        &device,
        "tele/tasmota_4A2F1C/SENSOR",
        r#"{"ENERGY":{"Power":312,"Voltage":231}}"#,
    )
    .await;
    obs.wait_value("stromwart/bike/power", "312").await;
    bridge.stop().await.unwrap();
}

#[tokio::test]
async fn a_tasmota_plug_is_asked_for_its_state_at_start() {
    let broker = Mosquitto::start();
    // A device that stays quiet until asked, as a Tasmota does between its telemetry periods.
    let device = Observer::connect(broker.port, "cmnd/tasmota_4A2F1C/#").await;
    let plug = "  - id: bike\n    driver: tasmota\n    topic: tasmota_4A2F1C\n    min_switch_interval: 0\n";
    let bridge = Bridge::start(&config(broker.port, plug));
    let obs = Observer::connect(broker.port, "stromwart/#").await;
    let ask = device
        .wait_for(5, "a state query", |r| {
            r.topic == "cmnd/tasmota_4A2F1C/POWER"
        })
        .await;
    assert_eq!((ask.payload.as_str(), ask.retain), ("", false));
    tasmota_says(&device, "stat/tasmota_4A2F1C/RESULT", r#"{"POWER":"OFF"}"#).await;
    obs.wait_value("stromwart/bike/switch", "OFF").await;
    device.clear();
    switch(&obs, "bike", "ON").await;
    let cmnd = device
        .wait_for(5, "the command", |r| r.topic == "cmnd/tasmota_4A2F1C/POWER")
        .await;
    assert_eq!(cmnd.payload, "ON");
    bridge.stop().await.unwrap();
}

#[tokio::test]
async fn a_plug_is_announced_before_it_reports_and_unavailable_until_then() {
    let broker = Mosquitto::start();
    let plug = "  - id: heater\n    driver: mqtt\n    command_topic: home/heater/cmd\n    state_topic: home/heater/state\n";
    let bridge = Bridge::start(&config(broker.port, plug));
    let obs = Observer::connect(broker.port, "#").await;
    let discovery = obs
        .wait_for(5, "the plug's discovery", |r| {
            r.topic.starts_with("homeassistant/device/") && r.topic.contains("heater")
        })
        .await;
    let config: serde_json::Value = serde_json::from_str(&discovery.payload).unwrap();
    assert_eq!(
        config["components"]["switch"]["command_topic"],
        "stromwart/heater/switch/set"
    );
    assert_eq!(
        config["availability"][1]["topic"],
        "stromwart/heater/availability"
    );
    obs.wait_value("stromwart/heater/availability", "offline")
        .await;
    // The device speaks: it is available, with its state.
    obs.client
        .publish("home/heater/state", QoS::AtLeastOnce, false, "ON")
        .await
        .unwrap();
    obs.wait_value("stromwart/heater/availability", "online")
        .await;
    obs.wait_value("stromwart/heater/switch", "ON").await;
    bridge.stop().await.unwrap();
}

#[tokio::test]
async fn a_generic_mqtt_switch_with_its_own_payloads() {
    let broker = Mosquitto::start();
    let device = Observer::connect(broker.port, "home/heater/cmd").await;
    let plug = "  - id: heater\n    driver: mqtt\n    command_topic: home/heater/cmd\n    state_topic: home/heater/state\n    payload_on: \"1\"\n    payload_off: \"0\"\n    min_switch_interval: 0\n";
    let bridge = Bridge::start(&config(broker.port, plug));
    let obs = Observer::connect(broker.port, "stromwart/#").await;
    obs.wait_value("stromwart/status", "online").await;
    // Before the device has said anything, nothing is switched blindly.
    switch(&obs, "heater", "ON").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(device.on("home/heater/cmd").is_empty());
    device
        .client
        .publish("home/heater/state", QoS::AtLeastOnce, true, "0")
        .await
        .unwrap();
    obs.wait_value("stromwart/heater/switch", "OFF").await;
    switch(&obs, "heater", "ON").await;
    let cmd = device
        .wait_for(5, "command", |r| r.topic == "home/heater/cmd")
        .await;
    assert_eq!((cmd.payload.as_str(), cmd.retain), ("1", false));
    device
        .client
        .publish("home/heater/state", QoS::AtLeastOnce, true, "1")
        .await
        .unwrap();
    obs.wait_value("stromwart/heater/switch", "ON").await;
    bridge.stop().await.unwrap();
}

#[tokio::test]
async fn an_unreachable_plug_is_refused_and_the_others_keep_working() {
    let broker = Mosquitto::start();
    let relay = Arc::new(Mutex::new(Relay::default()));
    let port = shelly_gen1(relay.clone()).await;
    let plugs = format!(
        "  - id: gone\n    driver: shelly1\n    address: http://127.0.0.1:{}\n  - id: boiler\n    driver: shelly1\n    address: http://127.0.0.1:{port}\n    poll_interval: 0.5\n",
        free_port()
    );
    let bridge = Bridge::start(&config(broker.port, &plugs));
    let obs = Observer::connect(broker.port, "stromwart/#").await;
    obs.wait_value("stromwart/boiler/switch", "OFF").await;
    switch(&obs, "gone", "ON").await;
    switch(&obs, "boiler", "ON").await;
    obs.wait_value("stromwart/boiler/switch", "ON").await;
    // The unreachable plug never shows ON: its state only ever comes from the device.
    assert!(
        obs.on("stromwart/gone/switch")
            .iter()
            .all(|r| r.payload != "ON"),
        "{:?}",
        obs.on("stromwart/gone/switch")
    );
    bridge.stop().await.unwrap();
}

#[test]
fn plug_configs_are_checked() {
    let errors = |yaml: &str| -> Vec<String> {
        stromwart::config::Config::from_yaml(yaml)
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    assert_eq!(
        errors(
            "plugs:\n  - id: a\n    driver: tasmota\n    auto_off: 60\n  - id: b\n    driver: shelly1\n    auto_off: 5\n    address: http://x\n  - id: c\n    driver: zwave\n    address: http://y\n"
        ),
        vec![
            "plugs[0].auto_off: only shelly2 plugs have a dead-man timer; on Tasmota set PulseTime on the device",
            "plugs[0].topic: required for tasmota: the device's topic, e.g. tasmota_4A2F1C",
            "plugs[1].auto_off: the dead-man timer needs a second-generation Shelly (driver shelly2)",
            "plugs[2].driver: 'zwave' is not one of: shelly1, shelly2, tasmota, mqtt",
        ]
    );
}

/// A Shelly Gen2 with a password: every request needs a digest answer (SHA-256) to the
/// device's challenge, checked here against the request as it arrives.
async fn shelly_gen2_with_password(relay: Arc<Mutex<Relay>>, password: &'static str) -> u16 {
    use stromwart::drivers::digest::Challenge;
    let challenge = Challenge {
        realm: "shellyplus1-a8032ab1".into(),
        nonce: "1795343433".into(),
        opaque: None,
    };
    serve_exact(move |head| {
        let line = head.lines().next().unwrap_or_default();
        let uri = line.split_whitespace().nth(1).unwrap_or_default();
        let auth = head
            .lines()
            .find_map(|l| l.strip_prefix("authorization: ").or(l.strip_prefix("Authorization: ")));
        let field = |name: &str| {
            let auth = auth?;
            let start = auth.find(&format!("{name}="))? + name.len() + 1;
            let rest = auth[start..].trim_start_matches('"');
            Some(rest.split(['"', ',']).next()?.to_string())
        };
        let expected = (|| {
            let nc = u32::from_str_radix(&field("nc")?, 16).ok()?;
            let header =
                challenge.authorization("admin", password, "GET", uri, nc, &field("cnonce")?);
            Some(header)
        })();
        let answered = matches!((&expected, field("response")), (Some(e), Some(r)) if e.contains(&format!("response=\"{r}\"")));
        if !answered {
            let mut r = Response::json("401 Unauthorized", "");
            r.headers = format!(
                "WWW-Authenticate: Digest qop=\"auth\", realm=\"{}\", nonce=\"{}\", algorithm=SHA-256\r\n",
                challenge.realm, challenge.nonce
            );
            return r;
        }
        let mut r = relay.lock().unwrap();
        if uri.starts_with("/rpc/Switch.Set") {
            r.on = uri.contains("on=true");
            r.sets += 1;
            return Response::json("200 OK", r#"{"was_on":false}"#);
        }
        Response::json("200 OK", &format!(r#"{{"id":0,"output":{},"apower":12.5}}"#, r.on))
    })
    .await
    .0
}

#[tokio::test]
async fn a_shelly_gen2_with_a_password_is_reached_with_digest_auth() {
    let broker = Mosquitto::start();
    let relay = Arc::new(Mutex::new(Relay::default()));
    let good = shelly_gen2_with_password(relay.clone(), "s3cret").await;
    let plug = |id: &str, password: &str| {
        format!(
            "  - id: {id}\n    driver: shelly2\n    address: http://127.0.0.1:{good}\n    http_user: admin\n    http_password: {password}\n    poll_interval: 0.5\n    min_switch_interval: 0\n"
        )
    };
    let plugs = plug("pump", "s3cret") + &plug("wrong", "guess");
    let bridge = Bridge::start(&config(broker.port, &plugs));
    let obs = Observer::connect(broker.port, "stromwart/#").await;
    obs.wait_value("stromwart/pump/switch", "OFF").await;
    switch(&obs, "pump", "ON").await;
    obs.wait_value("stromwart/pump/switch", "ON").await;
    obs.wait_value("stromwart/pump/power", "12.5").await;
    assert_eq!(relay.lock().unwrap().sets, 1);
    // With the wrong password the plug never answers, so it is never shown or switched.
    switch(&obs, "wrong", "OFF").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(obs.on("stromwart/wrong/power").is_empty());
    assert_eq!(relay.lock().unwrap().sets, 1);
    bridge.stop().await.unwrap();
}

#[tokio::test]
async fn on_sigterm_plugs_set_to_off_are_switched_off_and_the_others_left() {
    let broker = Mosquitto::start();
    let boiler = Arc::new(Mutex::new(Relay::default()));
    let fridge = Arc::new(Mutex::new(Relay::default()));
    let boiler_port = shelly_gen1(boiler.clone()).await;
    let fridge_port = shelly_gen1(fridge.clone()).await;
    let device = Observer::connect(broker.port, "cmnd/tasmota_heater/#").await;
    let plugs = format!(
        "  - id: boiler\n    driver: shelly1\n    address: http://127.0.0.1:{boiler_port}\n    min_switch_interval: 0\n    on_stop: off\n  - id: fridge\n    driver: shelly1\n    address: http://127.0.0.1:{fridge_port}\n    min_switch_interval: 0\n  - id: heater\n    driver: tasmota\n    topic: tasmota_heater\n    on_stop: off\n"
    );
    let dir = scratch_dir("plugs");
    let path = dir.join("stromwart.yaml");
    std::fs::write(&path, config(broker.port, &plugs)).unwrap();
    let log = dir.join("log");
    let mut daemon = common::bridge::spawn_process(&["run"], &path, &log);
    let obs = Observer::connect(broker.port, "stromwart/#").await;
    obs.wait_value("stromwart/boiler/switch", "OFF").await;
    obs.wait_value("stromwart/fridge/switch", "OFF").await;
    switch(&obs, "boiler", "ON").await;
    switch(&obs, "fridge", "ON").await;
    obs.wait_value("stromwart/boiler/switch", "ON").await;
    obs.wait_value("stromwart/fridge/switch", "ON").await;
    device.clear();

    // What Docker and the Supervisor send.
    let pid = daemon.0.id() as libc::pid_t;
    // SAFETY: signals a child process this test started and still owns.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = tokio::task::spawn_blocking(move || daemon.0.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");
    assert!(!boiler.lock().unwrap().on, "the boiler is off");
    assert!(fridge.lock().unwrap().on, "the fridge is left on");
    let off = device.on("cmnd/tasmota_heater/POWER");
    assert_eq!(
        off.iter().map(|r| r.payload.as_str()).collect::<Vec<_>>(),
        ["OFF"]
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("Stopping: switching the plug off (on_stop: off). plug=boiler"),
        "{text}"
    );
}

#[tokio::test]
async fn a_plug_counts_its_energy_from_its_power_and_keeps_it() {
    let broker = Mosquitto::start();
    let relay = Arc::new(Mutex::new(Relay::default()));
    let port = shelly_gen1(relay.clone()).await;
    let plug = format!(
        "  - id: boiler\n    driver: shelly1\n    address: http://127.0.0.1:{port}\n    poll_interval: 0.5\n    min_switch_interval: 0\n"
    );
    let yaml = config(broker.port, &plug);
    let data = yaml
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("data_dir: "))
        .unwrap()
        .to_string();
    let bridge = Bridge::start(&yaml);
    let obs = Observer::connect(broker.port, "#").await;
    obs.wait_value("stromwart/boiler/switch", "OFF").await;
    switch(&obs, "boiler", "ON").await;
    obs.wait_value("stromwart/boiler/power", "1200.5").await;
    // 1200.5 W: a Wh every three seconds.
    let counted = obs
        .wait_for(10, "energy counted", |r| {
            r.topic == "stromwart/boiler/energy_total"
                && r.payload.parse::<f64>().is_ok_and(|k| k > 0.0)
        })
        .await;
    assert!(
        counted.payload.parse::<f64>().unwrap() < 0.01,
        "{}",
        counted.payload
    );
    let config = obs
        .all()
        .into_iter()
        .rfind(|r| r.topic.starts_with("homeassistant/device/") && r.topic.contains("boiler"))
        .unwrap();
    let json: serde_json::Value = serde_json::from_str(&config.payload).unwrap();
    assert_eq!(
        json["components"]["energy_total"]["state_class"],
        "total_increasing"
    );
    bridge.stop().await.unwrap();
    let saved: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(std::path::Path::new(&data).join("energy-totals.json")).unwrap(),
    )
    .unwrap();
    assert!(
        saved["devices"]["boiler"].as_f64().unwrap() > 0.0,
        "{saved}"
    );
}

#[tokio::test]
async fn a_shelly_says_what_model_it_is() {
    let broker = Mosquitto::start();
    let one = shelly_gen1(Arc::new(Mutex::new(Relay::default()))).await;
    let two = shelly_gen2(Arc::new(Mutex::new(Relay::default()))).await;
    let plugs = format!(
        "  - id: kettle\n    driver: shelly1\n    address: http://127.0.0.1:{one}\n  - id: heater\n    driver: shelly2\n    address: http://127.0.0.1:{two}\n"
    );
    let bridge = Bridge::start(&config(broker.port, &plugs));
    let obs = Observer::connect(broker.port, "homeassistant/#").await;
    for (id, model) in [("kettle", "SHPLG-S"), ("heater", "SNPL-00112EU")] {
        let topic = format!("homeassistant/device/stromwart_plug_stromwart_{id}/config");
        obs.wait_for(5, "the model in the device block", |r| {
            r.topic == topic
                && serde_json::from_str::<serde_json::Value>(&r.payload)
                    .is_ok_and(|j| j["device"]["model"] == model)
        })
        .await;
    }
    bridge.stop().await.unwrap();
}

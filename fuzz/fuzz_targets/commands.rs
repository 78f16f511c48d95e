//! Command payloads for every control, device messages (Tasmota, generic MQTT plugs) and
//! §14a signal payloads, through the core of a bridge configured with one of each. The first
//! byte picks the topic among those the bridge announced or listens on; the rest is the
//! payload. A command is carried out or refused, never a panic.
#![no_main]

use std::sync::{Mutex, OnceLock};

use libfuzzer_sys::fuzz_target;
use stromwart::app::core_config;
use stromwart::config::Config;
use stromwart::core::Core;
use stromwart::model::{Event, Now};

const CONFIG: &str = include_str!("../seeds/commands.yaml");

struct Bridge {
    core: Core,
    topics: Vec<String>,
    now: Now,
}

fn bridge() -> &'static Mutex<Bridge> {
    static BRIDGE: OnceLock<Mutex<Bridge>> = OnceLock::new();
    BRIDGE.get_or_init(|| {
        let config = Config::from_yaml(CONFIG).expect("the fuzz config is valid");
        let mut core = Core::new(core_config(&config));
        let now = Now {
            mono_ms: 1_000,
            unix_ms: 1_796_000_000_000,
            utc_offset_s: 3600,
        };
        let mut out = Vec::new();
        core.handle(Event::MqttConnected, now, &mut out);
        core.handle(Event::Tick, now, &mut out);
        // Every command topic announced, plus the topics device messages come on.
        let mut topics: Vec<String> = Vec::new();
        for m in &out {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&m.payload) else {
                continue;
            };
            let mut stack = vec![&v];
            while let Some(v) = stack.pop() {
                match v {
                    serde_json::Value::Object(map) => {
                        if let Some(t) = map.get("command_topic").and_then(|t| t.as_str()) {
                            topics.push(t.to_string());
                        }
                        stack.extend(map.values());
                    }
                    serde_json::Value::Array(items) => stack.extend(items),
                    _ => {}
                }
            }
        }
        topics.sort();
        topics.dedup();
        assert!(topics.len() > 20, "the fuzz config announces its controls");
        topics.extend(
            [
                "stat/bike/RESULT",
                "stat/bike/POWER",
                "tele/bike/SENSOR",
                "tele/bike/LWT",
                "plug/state",
                "box/input/0",
                "box/online",
                "stromwart/nobody/nothing/set",
            ]
            .map(String::from),
        );
        Mutex::new(Bridge { core, topics, now })
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let payload = String::from_utf8_lossy(rest).into_owned();
    let mut b = bridge().lock().unwrap_or_else(|e| e.into_inner());
    let topic = b.topics[usize::from(pick) % b.topics.len()].clone();
    b.now.mono_ms += 700;
    b.now.unix_ms += 700;
    let now = b.now;
    let mut out = Vec::new();
    let event = if topic.ends_with("/set") {
        Event::Command {
            topic,
            payload,
            retained: pick & 0x80 != 0,
        }
    } else {
        Event::Incoming { topic, payload }
    };
    b.core.handle(event, now, &mut out);
    b.core.handle(Event::Tick, now, &mut out);
    let _ = b.core.take_actions();
});

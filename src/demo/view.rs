//! The demo's live terminal view: an MQTT client that reads discovery and states back, as Home
//! Assistant would, and shows them on one 80 × 24 screen redrawn in place: the power flow, one
//! line per device, the last events, and how to send a command. `--full` lists every entity.

use std::collections::{BTreeMap, VecDeque};
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

/// The screen a normal terminal shows without scrolling.
pub const COLUMNS: usize = 80;
pub const ROWS: usize = 24;
const EVENTS: usize = 5;

#[derive(Default)]
struct Entity {
    device: String,
    name: String,
    unit: String,
    value: Option<String>,
}

struct Screen {
    /// By state topic.
    entities: BTreeMap<String, Entity>,
    online: bool,
    /// When each device's topic prefix (`stromwart/grid`) last had a state.
    heard: BTreeMap<String, Instant>,
    /// The latest changes of states in words (modes, switches), newest last.
    events: VecDeque<String>,
    started: Instant,
    full: bool,
}

pub async fn run(host: std::net::IpAddr, port: u16, full: bool) {
    let mut opts = MqttOptions::new("stromwart-demo-view", host.to_string(), port);
    opts.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut el) = AsyncClient::new(opts, 16);
    let mut screen = Screen {
        entities: BTreeMap::new(),
        online: false,
        heard: BTreeMap::new(),
        events: VecDeque::new(),
        started: Instant::now(),
        full,
    };
    let tty = std::io::stdout().is_terminal();
    let every = if tty {
        Duration::from_secs(1)
    } else {
        Duration::from_secs(2)
    };
    let mut redraw = tokio::time::interval(every);
    loop {
        tokio::select! {
            ev = el.poll() => match ev {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    let _ = client.try_subscribe("stromwart/#", QoS::AtMostOnce);
                    let _ = client.try_subscribe("homeassistant/#", QoS::AtMostOnce);
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    screen.take(&p.topic, &String::from_utf8_lossy(&p.payload));
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            },
            _ = redraw.tick() => {
                let text = if screen.full { screen.all(port) } else { screen.compact(port) };
                show(&text, tty);
            }
        }
    }
}

/// On a terminal the screen is redrawn in place (home, each line cleared to its end, the rest
/// below cleared), so nothing scrolls away; in a pipe each screen follows the last.
fn show(text: &str, tty: bool) {
    let mut out = String::new();
    if tty {
        out.push_str("\x1b[H");
        for line in text.lines() {
            out.push_str(line);
            out.push_str("\x1b[K\n");
        }
        out.push_str("\x1b[J");
    } else {
        out.push_str(text);
        out.push('\n');
    }
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(out.as_bytes());
    let _ = stdout.flush();
}

/// A value with its unit, as short as it reads well.
fn with_unit(value: &str, unit: &str) -> String {
    match value.parse::<f64>() {
        Ok(v) if unit == "W" && v.abs() >= 10_000.0 => format!("{:.1} kW", v / 1000.0),
        Ok(v) if unit == "W" => format!("{v:.0} W"),
        Ok(v) if unit.is_empty() => format!("{v}"),
        Ok(v) => format!("{v} {unit}"),
        Err(_) => value.to_string(),
    }
}

impl Screen {
    fn take(&mut self, topic: &str, payload: &str) {
        if topic == "stromwart/status" {
            self.online = payload == "online";
            return;
        }
        if topic.starts_with("homeassistant/") {
            self.discovery(payload);
            return;
        }
        if let Some((device, _)) = topic.rsplit_once('/') {
            self.heard.insert(device.to_string(), Instant::now());
        }
        let e = self.entities.entry(topic.to_string()).or_default();
        let before = e.value.replace(payload.to_string());
        // A changed word (a mode, ON/OFF) is an event; numbers and timestamps change all the
        // time and are not.
        let wordy = payload.parse::<f64>().is_err() && !payload.contains(':');
        if let Some(before) = before.filter(|b| b != payload && wordy && !e.device.is_empty()) {
            let secs = self.started.elapsed().as_secs();
            // The change first: a long device name is what the screen's edge cuts.
            let line = format!(
                "{:>3}:{:02}  {}: {before} → {payload} · {}",
                secs / 60,
                secs % 60,
                e.name,
                e.device
            );
            self.events.push_back(line);
            while self.events.len() > EVENTS {
                self.events.pop_front();
            }
        }
    }

    fn discovery(&mut self, payload: &str) {
        let Ok(json) = serde_json::from_str::<serde_json::Value>(payload) else {
            return;
        };
        let device = json["device"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let Some(components) = json["components"].as_object() else {
            return;
        };
        for c in components.values() {
            let Some(topic) = c["state_topic"].as_str() else {
                continue;
            };
            let e = self.entities.entry(topic.to_string()).or_default();
            e.device = device.clone();
            e.name = c["name"].as_str().unwrap_or_default().to_string();
            e.unit = c["unit_of_measurement"]
                .as_str()
                .unwrap_or_default()
                .to_string();
        }
    }

    /// A state with its unit, or `-` while there is none.
    fn get(&self, topic: &str) -> String {
        self.entities
            .get(topic)
            .and_then(|e| e.value.as_deref().map(|v| with_unit(v, &e.unit)))
            .unwrap_or_else(|| "-".into())
    }

    fn ago(&self, device: &str) -> String {
        match self.heard.get(device) {
            Some(at) => format!("{} s ago", at.elapsed().as_secs()),
            None => "waiting".into(),
        }
    }

    /// The screen that fits 80 × 24.
    fn compact(&self, port: u16) -> String {
        let state = if self.online { "online" } else { "starting" };
        let mut lines = vec![
            format!("Stromwart demo · bridge {state} · broker on port {port}"),
            String::new(),
            "Power flow".to_string(),
            format!(
                "  grid {:>9}   PV {:>9}   house {:>9}   surplus {:>9}",
                self.get("stromwart/grid/power"),
                self.get("stromwart/pv/power"),
                self.get("stromwart/site/house_power"),
                self.get("stromwart/site/surplus_power"),
            ),
            String::new(),
            "Devices".to_string(),
            format!(
                "  Grid meter       {:>9}  {:>14}  last telegram {}",
                self.get("stromwart/grid/power"),
                self.get("stromwart/grid/energy_import"),
                self.ago("stromwart/grid"),
            ),
            format!(
                "  Heat pump meter  {:>9}  {:>14}  last telegram {}",
                self.get("stromwart/heatpump/power"),
                self.get("stromwart/heatpump/energy_import"),
                self.ago("stromwart/heatpump"),
            ),
            format!(
                "  PV inverter      {:>9}  {:>14}  last read {}",
                self.get("stromwart/pv/power"),
                self.get("stromwart/pv/energy_production"),
                self.ago("stromwart/pv"),
            ),
            format!(
                "  Home battery     mode {:<9} {:>6} charged   limit {}",
                self.get("stromwart/battery/mode"),
                self.get("stromwart/battery/battery_soc"),
                self.get("stromwart/battery/charge_limit"),
            ),
            String::new(),
            "Last events".to_string(),
        ];
        if self.events.is_empty() {
            lines.push("  none yet: send a command below".into());
        }
        lines.extend(self.events.iter().map(|e| format!("  {e}")));
        lines.push(String::new());
        lines.push("Send a command, from any MQTT client:".into());
        lines.push(format!(
            "  mosquitto_pub -p {port} -t stromwart/battery/mode/set -m charge"
        ));
        lines.push(String::new());
        lines.push("Ctrl-C stops · --full lists every entity · --listen 0.0.0.0 for HA".into());
        lines
            .iter()
            .map(|l| l.chars().take(COLUMNS).collect::<String>())
            .take(ROWS)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Every entity, device by device.
    fn all(&self, port: u16) -> String {
        let state = if self.online { "online" } else { "starting" };
        let mut out = format!("Stromwart demo: bridge {state}, broker on port {port}\n");
        let mut device = "";
        for e in self
            .entities
            .values()
            .filter(|e| !e.device.is_empty() && e.value.is_some())
        {
            if e.device != device {
                device = &e.device;
                out.push_str(&format!("\n{device}\n"));
            }
            let value = e.value.as_deref().unwrap_or("-");
            out.push_str(&format!("  {:<28} {:>22} {}\n", e.name, value, e.unit));
        }
        out.push_str(&format!(
            "\nAny MQTT client or Home Assistant can connect on port {port}. Ctrl-C stops.\n"
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn screen() -> Screen {
        Screen {
            entities: BTreeMap::new(),
            online: true,
            heard: BTreeMap::new(),
            events: VecDeque::new(),
            started: Instant::now(),
            full: false,
        }
    }

    #[test]
    fn the_screen_fits_80_by_24_with_every_event_shown() {
        let mut s = screen();
        s.discovery(r#"{"device":{"name":"Home battery with a very long name indeed, longer than a line"},"components":{"mode":{"name":"Mode","state_topic":"stromwart/battery/mode"}}}"#);
        for i in 0..20 {
            s.take(
                "stromwart/battery/mode",
                if i % 2 == 0 { "auto" } else { "charge" },
            );
        }
        s.discovery(r#"{"device":{"name":"Grid meter"},"components":{"power":{"name":"Power","state_topic":"stromwart/grid/power","unit_of_measurement":"W"}}}"#);
        s.take("stromwart/grid/power", "123456.7");
        let text = s.compact(1883);
        assert!(text.lines().count() <= ROWS, "{text}");
        assert!(text.lines().all(|l| l.chars().count() <= COLUMNS), "{text}");
        assert!(text.contains("grid  123.5 kW"), "{text}");
        assert_eq!(s.events.len(), EVENTS);
        assert!(text.contains("Mode: auto → charge") || text.contains("Mode: charge → auto"));
    }
}

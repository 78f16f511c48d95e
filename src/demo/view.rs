//! The demo's live terminal view: an MQTT client that reads discovery and states back, as Home
//! Assistant would, and shows them on one 80 × 24 screen redrawn in place: the power flow, one
//! line per device, the last events, and how to send a command. `--full` lists every entity.

use std::collections::{BTreeMap, VecDeque};
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

use crate::sink::Clock;

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
    layout: Layout,
}

/// What the one-screen summary shows, by state topic: the demo and its day have different
/// devices.
pub struct Layout {
    /// The power flow: a line of labelled values each.
    pub flow: Vec<Vec<Field>>,
    pub devices: Vec<Row>,
    /// Topics whose numbers are events too (the car's current), besides every change in words.
    pub events_also: Vec<String>,
    /// The command to try.
    pub hint: String,
    /// A simulated day's clock and its local midnight (Unix ms): the time shown is the day's.
    pub day: Option<(Clock, i64)>,
}

/// A label and the state topic whose value follows it.
pub struct Field {
    pub label: &'static str,
    pub topic: String,
}

pub fn field(label: &'static str, topic: &str) -> Field {
    Field {
        label,
        topic: format!("stromwart/{topic}"),
    }
}

/// One device: its values, and how long ago it was heard from (`last telegram`, `last read`).
pub struct Row {
    pub label: &'static str,
    pub fields: Vec<Field>,
    pub heard: Option<(String, &'static str)>,
}

pub async fn run(host: std::net::IpAddr, port: u16, full: bool, layout: Layout) {
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
        layout,
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
        Ok(v) if unit == "EUR/kWh" => format!("{:.1} ct", v * 100.0),
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
        // Home Assistant's words for a value that is not known, or no longer.
        let payload = match payload {
            "None" => "unknown",
            "" => "-",
            p => p,
        };
        let e = self.entities.entry(topic.to_string()).or_default();
        let before = e.value.replace(payload.to_string());
        // A changed word (a mode, ON/OFF) is an event; numbers and timestamps change all the
        // time and are not, nor is a value coming or going.
        let known = |v: &str| v != "-" && v != "unknown";
        let before = before.filter(|b| known(b) && known(payload));
        let wordy = payload.parse::<f64>().is_err() && !payload.contains(':');
        let eventful = wordy || self.layout.events_also.iter().any(|t| t == topic);
        if let Some(before) = before.filter(|b| b != payload && eventful && !e.device.is_empty()) {
            // The change first: a long device name is what the screen's edge cuts.
            let (name, device) = (e.name.clone(), e.device.clone());
            let line = format!("{}  {name}: {before} → {payload} · {device}", self.stamp());
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

    /// When, for the events: the simulated day's time, or minutes since the demo started.
    fn stamp(&self) -> String {
        match self.layout.day {
            Some((clock, midnight_ms)) => {
                let minutes = (clock.now().unix_ms - midnight_ms).div_euclid(60_000);
                format!("{:02}:{:02}", minutes / 60 % 24, minutes % 60)
            }
            None => {
                let secs = self.started.elapsed().as_secs();
                format!("{:>2}:{:02}", secs / 60, secs % 60)
            }
        }
    }

    fn fields(&self, fields: &[Field], gap: &str) -> String {
        fields
            .iter()
            .map(|f| {
                let value = self.get(&f.topic);
                // Figures line up on the right, words (a mode) follow their label.
                let figure = value.starts_with(|c: char| c.is_ascii_digit() || c == '-');
                match (f.label, figure) {
                    ("", _) => format!("{value:>9}"),
                    (label, true) => format!("{label} {value:>9}"),
                    (label, false) => format!("{label} {value:<9}"),
                }
            })
            .collect::<Vec<_>>()
            .join(gap)
    }

    /// The screen that fits 80 × 24; a line too long is cut at the edge.
    fn compact(&self, port: u16) -> String {
        self.lines(port)
            .iter()
            .map(|l| l.chars().take(COLUMNS).collect::<String>())
            .take(ROWS)
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn lines(&self, port: u16) -> Vec<String> {
        let state = if self.online { "online" } else { "starting" };
        let title = match self.layout.day {
            Some(_) => format!(
                "Stromwart demo · a day in fast motion, {} · bridge {state} · port {port}",
                self.stamp()
            ),
            None => format!("Stromwart demo · bridge {state} · broker on port {port}"),
        };
        let mut lines = vec![title, String::new(), "Power flow".to_string()];
        for flow in &self.layout.flow {
            lines.push(format!("  {}", self.fields(flow, "   ")));
        }
        lines.push(String::new());
        lines.push("Devices".to_string());
        for row in &self.layout.devices {
            let mut line = format!("  {:<16} {}", row.label, self.fields(&row.fields, "  "));
            if let Some((device, verb)) = &row.heard {
                line.push_str(&format!("  {verb} {}", self.ago(device)));
            }
            lines.push(line);
        }
        lines.push(String::new());
        lines.push("Last events".to_string());
        if self.events.is_empty() {
            lines.push("  none yet: send a command below".into());
        }
        lines.extend(self.events.iter().map(|e| format!("  {e}")));
        lines.push(String::new());
        lines.push("Send a command, from any MQTT client:".into());
        lines.push(format!("  mosquitto_pub -p {port} {}", self.layout.hint));
        lines.push("Ctrl-C stops · --full lists every entity · --listen 0.0.0.0 for HA".into());
        lines
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
        with(crate::demo::layout())
    }

    fn with(layout: Layout) -> Screen {
        Screen {
            entities: BTreeMap::new(),
            online: true,
            heard: BTreeMap::new(),
            events: VecDeque::new(),
            started: Instant::now(),
            full: false,
            layout,
        }
    }

    #[test]
    fn the_days_screen_fits_80_by_24_uncut_with_wide_values() {
        let mut s = with(crate::demo::day::layout(Clock::start(), 0));
        let d = r#"{"device":{"name":"Wallbox"},"components":{"p":{"name":"Power","state_topic":"stromwart/TOPIC","unit_of_measurement":"UNIT"}}}"#;
        let topics: Vec<String> = (s.layout.flow.iter().flatten())
            .chain(s.layout.devices.iter().flat_map(|r| &r.fields))
            .map(|f| f.topic.clone())
            .collect();
        for full in topics {
            let topic = full.trim_start_matches("stromwart/").to_string();
            let (unit, value) = if topic.ends_with("price_now") {
                ("EUR/kWh", "0.4754")
            } else if topic.contains("energy") {
                ("kWh", "17352.2964")
            } else if topic.ends_with("power") {
                ("W", "-12345.6")
            } else {
                ("", "discharge")
            };
            s.discovery(&d.replace("TOPIC", &topic).replace("UNIT", unit));
            s.take(&full, value);
        }
        for i in 0..10 {
            s.take("stromwart/car/current_limit", &(6 + i).to_string());
        }
        let lines = s.lines(1883);
        assert!(lines.len() <= ROWS, "{lines:#?}");
        for line in &lines {
            assert!(line.chars().count() <= COLUMNS, "{line}");
        }
        assert_eq!(s.events.len(), EVENTS, "the car's current is an event");
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

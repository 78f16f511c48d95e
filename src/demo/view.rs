//! The demo's live terminal view: an MQTT client that reads discovery and states back.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

#[derive(Default)]
struct Entity {
    device: String,
    name: String,
    unit: String,
    value: Option<String>,
}

#[derive(Default)]
struct Screen {
    /// By state topic.
    entities: BTreeMap<String, Entity>,
    online: bool,
}

pub async fn run(host: std::net::IpAddr, port: u16) {
    let mut opts = MqttOptions::new("stromwart-demo-view", host.to_string(), port);
    opts.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut el) = AsyncClient::new(opts, 16);
    let mut screen = Screen::default();
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
            _ = redraw.tick() => screen.draw(port, tty),
        }
    }
}

impl Screen {
    fn take(&mut self, topic: &str, payload: &str) {
        if topic == "stromwart/status" {
            self.online = payload == "online";
        } else if topic.starts_with("homeassistant/") {
            self.discovery(payload);
        } else if let Some(e) = self.entities.get_mut(topic) {
            e.value = Some(payload.to_string());
        } else {
            let e = Entity {
                value: Some(payload.to_string()),
                ..Entity::default()
            };
            self.entities.insert(topic.to_string(), e);
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

    fn draw(&self, port: u16, tty: bool) {
        let mut out = String::new();
        if tty {
            out.push_str("\x1b[2J\x1b[H");
        }
        let state = if self.online { "online" } else { "starting" };
        out.push_str(&format!(
            "Stromwart demo: bridge {state}, broker mqtt://127.0.0.1:{port}\n"
        ));
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
            "\nAny MQTT client or Home Assistant can connect to 127.0.0.1:{port}. Ctrl-C stops.\n"
        ));
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(out.as_bytes());
        let _ = stdout.flush();
    }
}

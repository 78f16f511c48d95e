//! A loopback server that answers like a go-eCharger (HTTP API v2): `/api/set` with amp, frc
//! and psm, `/api/status` with what it does.

use std::sync::{Arc, Mutex};

use super::http::{Response, serve};

pub struct Charger {
    pub amp: u8,
    pub frc: u8,
    pub psm: u8,
    pub sets: Vec<String>,
}

impl Charger {
    /// What it draws: its current on its phases while charging (`frc` 1 is stopped).
    pub fn power(&self) -> f64 {
        let phases = if self.psm == 1 { 1.0 } else { 3.0 };
        if self.frc == 1 {
            0.0
        } else {
            f64::from(self.amp) * 230.0 * phases
        }
    }
}

fn query(head: &str) -> Vec<(String, String)> {
    let line = head.lines().next().unwrap_or_default();
    let q = line
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.split_once('?'))
        .map(|(_, q)| q)
        .unwrap_or_default();
    q.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub async fn go_e(state: Arc<Mutex<Charger>>) -> u16 {
    serve(move |head| {
        let mut c = state.lock().unwrap();
        if head.starts_with("get /api/set") {
            let mut reply = serde_json::Map::new();
            for (k, v) in query(head) {
                let ok = match k.as_str() {
                    "amp" => v
                        .parse()
                        .ok()
                        .filter(|a| (6..=32).contains(a))
                        .map(|a| c.amp = a)
                        .is_some(),
                    "frc" => v
                        .parse()
                        .ok()
                        .filter(|f| *f <= 2)
                        .map(|f| c.frc = f)
                        .is_some(),
                    "psm" => v
                        .parse()
                        .ok()
                        .filter(|p| *p <= 2)
                        .map(|p| c.psm = p)
                        .is_some(),
                    _ => false,
                };
                c.sets.push(format!("{k}={v}"));
                reply.insert(k, serde_json::json!(ok));
            }
            Response::json("200 OK", &serde_json::Value::Object(reply).to_string())
        } else if head.starts_with("get /api/status") {
            let charging = c.frc != 1;
            let power = c.power();
            let mut nrg = vec![230.0; 16];
            nrg[11] = power;
            let body = serde_json::json!({
                "amp": c.amp, "frc": c.frc, "psm": c.psm, "car": if charging { 2 } else { 4 },
                "nrg": nrg, "eto": 1_234_567.0
            });
            Response::json("200 OK", &body.to_string())
        } else {
            Response::json("404 Not Found", "")
        }
    })
    .await
    .0
}

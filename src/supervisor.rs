//! The Home Assistant Supervisor, as seen from inside the add-on: where the MQTT broker is.

use std::time::Duration;

use serde::Deserialize;

pub const DEFAULT_URL: &str = "http://supervisor";
pub const TOKEN_ENV: &str = "SUPERVISOR_TOKEN";

/// Broker details from `GET /services/mqtt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttService {
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<String>,
    pub ssl: bool,
}

#[derive(Deserialize)]
struct Reply {
    result: String,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    data: Option<ServiceData>,
}

#[derive(Deserialize)]
struct ServiceData {
    host: String,
    /// The docs call it a string; the Mosquitto add-on publishes a number.
    port: serde_json::Value,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    ssl: bool,
}

/// Asks the Supervisor at `base` for the MQTT service.
pub async fn mqtt_service(base: &str, token: &str) -> Result<MqttService, String> {
    let url = format!("{}/services/mqtt", base.trim_end_matches('/'));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| format!("cannot set up the HTTP client: {e}"))?;
    let resp = client
        .get(&url)
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| format!("cannot reach the Supervisor at {url}: {e}"))?;
    let status = resp.status();
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        return Err(format!(
            "the Supervisor refused the add-on's token ({status}); restart the add-on, or set \
             mqtt.host, mqtt.username and mqtt.password in its configuration"
        ));
    }
    let body = resp
        .text()
        .await
        .map_err(|e| format!("reading the Supervisor's answer: {e}"))?;
    let reply: Reply = serde_json::from_str(&body).map_err(|e| {
        format!("the Supervisor answered {status} with something unexpected ({e}): {body}")
    })?;
    let data = match (reply.result.as_str(), reply.data) {
        ("ok", Some(d)) => d,
        _ => {
            let why = reply.message.unwrap_or_else(|| format!("answer {status}"));
            return Err(format!(
                "no MQTT broker is available from the Supervisor ({why}); install and start the \
                 Mosquitto broker add-on, or set mqtt.host in the configuration"
            ));
        }
    };
    let port = match &data.port {
        serde_json::Value::Number(n) => n.as_u64().and_then(|p| u16::try_from(p).ok()),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|&p| p > 0)
    .ok_or_else(|| format!("the Supervisor gave an unusable MQTT port: {}", data.port))?;
    Ok(MqttService {
        host: data.host,
        port,
        username: data.username.filter(|u| !u.is_empty()),
        password: data.password.filter(|p| !p.is_empty()),
        ssl: data.ssl,
    })
}

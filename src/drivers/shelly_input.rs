//! A Shelly Gen2 input wired to the §14a control box, polled over HTTP (`Input.GetStatus`).
//!
//! The input's state goes to the core as the text `true` or `false`, read with the source's
//! dim and release words like a payload on a topic. A poll that fails sends nothing: the
//! source falls silent, and after its timeout it counts as dimming when it fails safe.

use std::time::Duration;

use crate::model::Event;
use crate::sink::Sink;

pub async fn run(
    source: usize,
    name: String,
    base: String,
    input: u8,
    interval: Duration,
    sink: Sink,
) {
    let client = match super::http_client() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(signal = %name, "Cannot poll the Shelly input: {e}.");
            return;
        }
    };
    let url = format!(
        "{}/rpc/Input.GetStatus?id={input}",
        base.trim_end_matches('/')
    );
    let mut failing = false;
    loop {
        match state(&client, &url).await {
            Ok(on) => {
                if failing {
                    tracing::info!(signal = %name, "The Shelly input answers again.");
                    failing = false;
                }
                let event = Event::P14aInput {
                    source,
                    payload: on.to_string(),
                };
                if sink.events.send(event).await.is_err() {
                    return;
                }
            }
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(signal = %name, "Cannot read the §14a signal from the Shelly input: {e}. It counts as dimming after the source's timeout.");
            }
            Err(_) => {}
        }
        tokio::time::sleep(interval).await;
    }
}

/// The input's state: `{"id":0,"state":true}`.
async fn state(client: &reqwest::Client, url: &str) -> Result<bool, String> {
    let body = super::fetch(client.get(url), url)
        .await
        .map_err(|e| e.to_string())?;
    let json: serde_json::Value = serde_json::from_str(&body)
        .map_err(|_| format!("{url} answered something that is not JSON"))?;
    json["state"]
        .as_bool()
        .ok_or_else(|| format!("{url} answered without an input state (is it a switch input?)"))
}

//! SML fetched over HTTP, as local bridges like the Tibber Pulse serve it: each response body
//! holds the raw frames of one reading.

use std::time::Duration;

use super::{Backoff, MeterDecoder};
use crate::sink::Sink;

const TIMEOUT: Duration = Duration::from_secs(10);

pub async fn run(
    id: &str,
    url: &str,
    auth: Option<(String, Option<String>)>,
    interval_s: f64,
    mut decoder: MeterDecoder,
    sink: Sink,
) {
    let client = match reqwest::Client::builder().timeout(TIMEOUT).build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(meter = %id, "Cannot set up the HTTP client: {e}.");
            return;
        }
    };
    let interval = Duration::from_secs_f64(interval_s);
    let mut backoff = Backoff::new();
    let mut failing = false;
    let mut out = Vec::new();
    loop {
        match fetch(&client, url, auth.as_ref()).await {
            Ok(body) => {
                if failing {
                    tracing::info!(meter = %id, %url, "The SML bridge answers again.");
                }
                failing = false;
                backoff.reset();
                decoder.push(&body, sink.clock.now(), &mut out);
                decoder.finish(sink.clock.now(), &mut out);
                if !sink.send_all(&mut out).await {
                    return;
                }
                tokio::time::sleep(interval).await;
            }
            Err(e) => {
                if !failing {
                    tracing::warn!(meter = %id, %url, "Fetching SML failed: {e}. Retrying with backoff.");
                }
                failing = true;
                backoff.wait().await;
            }
        }
    }
}

async fn fetch(
    client: &reqwest::Client,
    url: &str,
    auth: Option<&(String, Option<String>)>,
) -> Result<Vec<u8>, String> {
    let mut req = client.get(url);
    if let Some((user, password)) = auth {
        req = req.basic_auth(user, password.as_ref());
    }
    let resp = req.send().await.map_err(|e| crate::http::why(&e))?;
    let status = resp.status();
    if status == reqwest::StatusCode::UNAUTHORIZED {
        return Err("401 Unauthorized: check http_user and http_password".into());
    }
    if !status.is_success() {
        return Err(format!("the bridge answered {status}"));
    }
    resp.bytes()
        .await
        .map(|b| b.to_vec())
        .map_err(|e| e.to_string())
}

//! Shelly plugs and relays over their local HTTP API: the first generation (`/relay/N`) and the
//! RPC API of the second generation on (`/rpc/Switch.Set`), whose `toggle_after` makes a dead-man
//! timer.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde::Deserialize;

use super::digest::Challenge;
use super::{ActuatorError, PlugState, Switch};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generation {
    One,
    /// Gen2, Gen3 and Gen4 share the RPC API.
    Two,
}

pub struct Shelly {
    client: reqwest::Client,
    base: String,
    channel: u8,
    generation: Generation,
    auth: Option<(String, Option<String>)>,
    /// Gen2: seconds after which the device switches off by itself unless re-armed.
    auto_off: Option<Duration>,
    /// Gen2 with a password: the device's last digest challenge, and requests made with it.
    challenge: Mutex<Option<Challenge>>,
    nc: AtomicU32,
}

impl Shelly {
    pub fn new(
        base: &str,
        channel: u8,
        generation: Generation,
        auth: Option<(String, Option<String>)>,
        auto_off: Option<Duration>,
    ) -> Result<Self, String> {
        let client = super::http_client()?;
        Ok(Self {
            client,
            base: base.trim_end_matches('/').to_string(),
            channel,
            generation,
            auth,
            auto_off,
            challenge: Mutex::new(None),
            nc: AtomicU32::new(0),
        })
    }

    async fn get(&self, path: &str) -> Result<String, ActuatorError> {
        let url = format!("{}{path}", self.base);
        let req = self.client.get(&url);
        match (&self.auth, self.generation) {
            (None, _) => super::fetch(req, &url).await,
            (Some((user, password)), Generation::One) => {
                super::fetch(req.basic_auth(user, password.as_ref()), &url).await
            }
            (Some((user, password)), Generation::Two) => {
                self.get_with_digest(path, &url, user, password.as_deref().unwrap_or(""))
                    .await
            }
        }
    }

    /// Gen2 and later answer 401 with a digest challenge; the answer to it is sent with every
    /// request until the device issues a new one (its nonces expire).
    async fn get_with_digest(
        &self,
        path: &str,
        url: &str,
        user: &str,
        password: &str,
    ) -> Result<String, ActuatorError> {
        let mut challenge = self
            .challenge
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        loop {
            let mut req = self.client.get(url);
            if let Some(c) = &challenge {
                let nc = self.nc.fetch_add(1, Ordering::Relaxed) + 1;
                let auth = c.authorization(user, password, "GET", path, nc, &cnonce());
                req = req.header(reqwest::header::AUTHORIZATION, auth);
            }
            let resp = super::send(req, url).await?;
            let fresh = (resp.status() == reqwest::StatusCode::UNAUTHORIZED)
                .then(|| resp.headers().get(reqwest::header::WWW_AUTHENTICATE))
                .flatten()
                .and_then(|h| h.to_str().ok())
                .and_then(Challenge::parse)
                .filter(|c| challenge.as_ref() != Some(c));
            let Some(fresh) = fresh else {
                // Answered, or refused the answer to its newest challenge: the password is wrong.
                return super::read(resp, url).await;
            };
            self.nc.store(0, Ordering::Relaxed);
            *self.challenge.lock().unwrap_or_else(|p| p.into_inner()) = Some(fresh.clone());
            challenge = Some(fresh);
        }
    }
}

/// A client nonce: random, so that a recorded answer cannot be replayed.
fn cnonce() -> String {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 12];
    let _ = ring::rand::SystemRandom::new().fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Deserialize)]
struct Gen1Relay {
    ison: bool,
}

#[derive(Deserialize)]
struct Gen1Status {
    relays: Vec<Gen1Relay>,
    #[serde(default)]
    meters: Vec<Gen1Meter>,
}

#[derive(Deserialize)]
struct Gen1Meter {
    power: f64,
}

#[derive(Deserialize)]
struct Gen2Status {
    output: bool,
    #[serde(default)]
    apower: Option<f64>,
}

fn parse<'a, T: Deserialize<'a>>(body: &'a str) -> Result<T, ActuatorError> {
    serde_json::from_str(body).map_err(|e| {
        ActuatorError::Garbage(format!(
            "{e}: {}",
            body.chars().take(80).collect::<String>()
        ))
    })
}

impl Switch for Shelly {
    async fn set(&mut self, on: bool) -> Result<PlugState, ActuatorError> {
        let ch = self.channel;
        match self.generation {
            Generation::One => {
                let turn = if on { "on" } else { "off" };
                let relay: Gen1Relay =
                    parse(&self.get(&format!("/relay/{ch}?turn={turn}")).await?)?;
                let power = self.state().await.ok().and_then(|s| s.power);
                Ok(PlugState {
                    on: Some(relay.ison),
                    power,
                    online: true,
                })
            }
            Generation::Two => {
                let timer = match (on, self.auto_off) {
                    (true, Some(d)) => format!("&toggle_after={}", d.as_secs().max(1)),
                    _ => String::new(),
                };
                self.get(&format!("/rpc/Switch.Set?id={ch}&on={on}{timer}"))
                    .await?;
                self.state().await
            }
        }
    }

    async fn state(&mut self) -> Result<PlugState, ActuatorError> {
        let ch = usize::from(self.channel);
        match self.generation {
            Generation::One => gen1_status(&self.get("/status").await?, ch),
            Generation::Two => {
                gen2_status(&self.get(&format!("/rpc/Switch.GetStatus?id={ch}")).await?)
            }
        }
    }

    fn hold(&self) -> Option<Duration> {
        self.auto_off.filter(|_| self.generation == Generation::Two)
    }

    async fn model(&mut self) -> Option<String> {
        let (path, key) = match self.generation {
            Generation::One => ("/shelly", "type"),
            Generation::Two => ("/rpc/Shelly.GetDeviceInfo", "model"),
        };
        let info: serde_json::Value = serde_json::from_str(&self.get(path).await.ok()?).ok()?;
        info[key].as_str().map(str::to_string)
    }
}

/// A first-generation Shelly's `/status`, for relay `ch`.
pub fn gen1_status(body: &str, ch: usize) -> Result<PlugState, ActuatorError> {
    let s: Gen1Status = parse(body)?;
    let relay = s
        .relays
        .get(ch)
        .ok_or_else(|| ActuatorError::Garbage(format!("no relay {ch}")))?;
    Ok(PlugState {
        on: Some(relay.ison),
        power: s.meters.get(ch).map(|m| m.power),
        online: true,
    })
}

/// A Shelly Plus or Pro's `Switch.GetStatus`.
pub fn gen2_status(body: &str) -> Result<PlugState, ActuatorError> {
    let s: Gen2Status = parse(body)?;
    Ok(PlugState {
        on: Some(s.output),
        power: s.apower,
        online: true,
    })
}

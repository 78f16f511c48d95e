//! The go-eCharger over its local HTTP API v2 (`/api/status`, `/api/set`).

use serde::Deserialize;

use super::{ActuatorError, Wallbox, WallboxCommand, WallboxState};

pub struct GoE {
    client: reqwest::Client,
    base: String,
}

impl GoE {
    pub fn new(base: &str) -> Result<Self, String> {
        let client = super::http_client()?;
        Ok(Self {
            client,
            base: base.trim_end_matches('/').to_string(),
        })
    }

    async fn get(&self, path: &str) -> Result<String, ActuatorError> {
        let url = format!("{}{path}", self.base);
        super::fetch(self.client.get(&url), &url).await
    }
}

/// The fields of `/api/status` Stromwart reads.
#[derive(Deserialize)]
struct Status {
    /// Requested current, A.
    amp: u8,
    /// Force state: 0 neutral (charges when the car wants), 1 off, 2 on.
    frc: u8,
    /// Phase switch mode: 0 automatic, 1 one phase, 2 three phases.
    #[serde(default)]
    psm: u8,
    /// Car state: 1 idle, 2 charging, 3 waiting for the car, 4 complete, 5 error.
    car: u8,
    /// Voltages, currents, powers and power factors; index 11 is the total power in W.
    #[serde(default)]
    nrg: Vec<f64>,
    /// Energy charged in total, Wh.
    #[serde(default)]
    eto: Option<f64>,
    /// The current the car is allowed to draw now, A (lower than `amp` while the charger
    /// limits itself, e.g. for temperature).
    #[serde(default)]
    acu: Option<f64>,
}

impl Wallbox for GoE {
    async fn apply(&mut self, cmd: WallboxCommand) -> Result<WallboxState, ActuatorError> {
        let query = match cmd {
            WallboxCommand::Enable(true) => "frc=0".to_string(),
            WallboxCommand::Enable(false) | WallboxCommand::Current(0) => "frc=1".to_string(),
            WallboxCommand::Current(a) => format!("amp={a}&frc=0"),
            WallboxCommand::Phases(p) => format!(
                "psm={}",
                match p {
                    1 => 1,
                    3 => 2,
                    _ => 0,
                }
            ),
        };
        set_reply(&self.get(&format!("/api/set?{query}")).await?)?;
        self.state().await
    }

    async fn state(&mut self) -> Result<WallboxState, ActuatorError> {
        let body = self
            .get("/api/status?filter=amp,frc,psm,car,nrg,eto,acu")
            .await?;
        status(&body)
    }
}

/// go-e's answer to `/api/set`: `{"key": true}` per key, or the key with an error text.
pub fn set_reply(body: &str) -> Result<(), ActuatorError> {
    let reply: serde_json::Value =
        serde_json::from_str(body).map_err(|e| ActuatorError::Garbage(format!("{e}: {body}")))?;
    if let Some((key, err)) = reply
        .as_object()
        .and_then(|m| m.iter().find(|(_, v)| !v.as_bool().unwrap_or(false)))
    {
        return Err(ActuatorError::Garbage(format!(
            "the charger refused {key}: {err}"
        )));
    }
    Ok(())
}

/// go-e's `/api/status` as a wallbox state.
pub fn status(body: &str) -> Result<WallboxState, ActuatorError> {
    let s: Status = serde_json::from_str(body).map_err(|e| {
        ActuatorError::Garbage(format!(
            "{e}: {}",
            body.chars().take(80).collect::<String>()
        ))
    })?;
    Ok(WallboxState {
        enabled: s.frc != 1,
        current_a: s.amp,
        phases: match s.psm {
            1 => Some(1),
            2 => Some(3),
            _ => None,
        },
        power: s.nrg.get(11).copied(),
        energy_wh: s.eto,
        status: match s.car {
            1 => "idle",
            2 => "charging",
            3 => "waiting",
            4 => "complete",
            _ => "error",
        },
        online: true,
        extra: s
            .acu
            .zip(crate::quantity::named("current_applied"))
            .map(|(a, q)| vec![(q.clone(), a)])
            .unwrap_or_default(),
    })
}

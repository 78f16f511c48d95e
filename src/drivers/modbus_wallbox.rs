//! A wallbox on Modbus, described by a profile: a `current_limit` control (0 stops charging),
//! optionally `phases`, `safe_current` and `watchdog`, a status register, and points for power,
//! energy and whatever else it reports.
//!
//! Such chargers fall back to their own safe current when they stop hearing from the energy
//! manager (Heidelberg: its watchdog; Alfen: the setpoint's validity time). So the setpoint in
//! force is written again every `rewrite_interval`, also while it is 0, because falling back
//! would start a stopped charge at the safe current.

use std::time::Duration;

use super::modbus_link::Link;
use super::{ActuatorError, Wallbox, WallboxCommand, WallboxState};
use crate::model::devices::{MIN_CURRENT_A, STATUSES};

/// What the config sets on the charger at start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StartValues {
    /// Amperes the charger falls back to without Stromwart (where it has such a setting).
    pub safe_current_a: f64,
    /// Seconds of silence after which the charger falls back (where it is configurable).
    pub watchdog_s: f64,
    pub rewrite_interval: Duration,
}

pub struct ModbusWallbox {
    link: Link,
    start: StartValues,
    /// The current to charge with while enabled.
    wanted_a: u8,
    enabled: bool,
    /// The setpoint just written and read back, so the next state need not ask again.
    verified: Option<u8>,
}

impl ModbusWallbox {
    pub fn new(link: Link, start: StartValues) -> Self {
        Self {
            link,
            start,
            wanted_a: MIN_CURRENT_A,
            enabled: false,
            verified: None,
        }
    }

    /// Writes the configured fail-safe values and starts from the safe current; commands
    /// from before a restart are never replayed.
    async fn prime(&mut self) -> Result<(), ActuatorError> {
        if self.link.started() {
            return Ok(());
        }
        self.link.write_fixed().await?;
        if self.link.has("watchdog") {
            self.link.write("watchdog", self.start.watchdog_s).await?;
        }
        if self.link.has("safe_current") {
            self.link
                .write("safe_current", self.start.safe_current_a)
                .await?;
        }
        let safe = self.start.safe_current_a.round() as u8;
        self.enabled = safe >= MIN_CURRENT_A;
        self.wanted_a = safe.max(MIN_CURRENT_A);
        self.write_setpoint().await?;
        self.link.mark_started();
        Ok(())
    }

    async fn write_setpoint(&mut self) -> Result<(), ActuatorError> {
        let amps = if self.enabled { self.wanted_a } else { 0 };
        self.link.write("current_limit", f64::from(amps)).await?;
        self.link.mark_written(true);
        self.verified = Some(amps);
        Ok(())
    }

    async fn read_back(&mut self) -> Result<WallboxState, ActuatorError> {
        if self.link.rewrite_due(self.start.rewrite_interval) {
            self.write_setpoint().await?;
        }
        let mut extra = self.link.poll().await?;
        let limit = match self.verified.take() {
            Some(amps) => f64::from(amps),
            None => self.link.read("current_limit").await?,
        };
        let phases = if self.link.has("phases") {
            Some(self.link.read("phases").await?.round() as u8)
        } else {
            None
        };
        let status = self.link.status().await?;
        let mut take = |key: &str| {
            let i = extra.iter().position(|(q, _)| q.key == key)?;
            Some(extra.remove(i).1)
        };
        let power = take("power");
        let energy_wh = take("energy_total").map(|kwh| kwh * 1000.0);
        let amps = limit.round().clamp(0.0, 255.0) as u8;
        Ok(WallboxState {
            enabled: amps > 0,
            current_a: if amps > 0 { amps } else { self.wanted_a },
            phases,
            power,
            energy_wh,
            status: status
                .and_then(|s| STATUSES.iter().find(|k| **k == s).copied())
                .unwrap_or("error"),
            online: true,
            extra,
        })
    }

    async fn carry_out(&mut self, cmd: WallboxCommand) -> Result<(), ActuatorError> {
        match cmd {
            WallboxCommand::Enable(on) => self.enabled = on,
            WallboxCommand::Current(0) => self.enabled = false,
            WallboxCommand::Current(a) => {
                self.wanted_a = a;
                self.enabled = true;
            }
            WallboxCommand::Phases(p) => {
                if !self.link.has("phases") {
                    return Err(ActuatorError::Refused(
                        "this charger cannot switch phases".into(),
                    ));
                }
                if p == 0 {
                    return Err(ActuatorError::Refused(
                        "this charger has no automatic phase choice; choose 1 or 3".into(),
                    ));
                }
                return self.link.write("phases", f64::from(p)).await;
            }
        }
        self.write_setpoint().await
    }
}

impl Wallbox for ModbusWallbox {
    async fn apply(&mut self, cmd: WallboxCommand) -> Result<WallboxState, ActuatorError> {
        let r = self.prime().await;
        self.link.settle(r)?;
        let r = self.carry_out(cmd).await;
        self.link.settle(r)?;
        self.state().await
    }

    async fn state(&mut self) -> Result<WallboxState, ActuatorError> {
        let r = self.prime().await;
        self.link.settle(r)?;
        let r = self.read_back().await;
        self.link.settle(r)
    }

    fn heartbeat(&self) -> Option<Duration> {
        Some(self.start.rewrite_interval)
    }
}

//! A battery on Modbus, described by a profile: controls, and the writes each mode stands for
//! (`modes:`), with the charge and discharge limits filled in.
//!
//! Inverters drop forced charging and external setpoints when they stop hearing from the energy
//! manager (Huawei: the forced period; SMA and Kostal: their watchdogs), so the writes of the
//! mode in force are repeated every `rewrite_interval`. The mode reported to Home Assistant is
//! the one the registers hold when read back.

use std::time::Duration;

use super::modbus_link::Link;
use super::{ActuatorError, Battery, BatteryCommand, BatteryState};

/// What the battery starts with: the limits (configured, or saved when set from Home
/// Assistant), and how often setpoints are written again.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StartValues {
    pub charge_limit_w: f64,
    pub discharge_limit_w: f64,
    pub rewrite_interval: Duration,
}

pub struct ModbusBattery {
    link: Link,
    start: StartValues,
    mode: &'static str,
    charge_limit: f64,
    discharge_limit: f64,
    /// The mode's writes were just read back one by one; no need to ask again right away.
    verified: bool,
}

impl ModbusBattery {
    pub fn new(link: Link, start: StartValues) -> Self {
        Self {
            link,
            start,
            mode: "auto",
            charge_limit: start.charge_limit_w,
            discharge_limit: start.discharge_limit_w,
            verified: false,
        }
    }

    /// Starts in `auto` with the limits in force: the battery runs on its own until told
    /// otherwise. The limits are settings and stay (after a restart of the bridge they come from
    /// the saved settings); a mode is a command and is never replayed.
    async fn prime(&mut self) -> Result<(), ActuatorError> {
        if self.link.started() {
            return Ok(());
        }
        self.link.write_fixed().await?;
        self.mode = "auto";
        self.write_mode().await?;
        self.link.mark_started();
        Ok(())
    }

    /// The writes of the mode in force, in the profile's order, with the limits filled in.
    fn writes(&self) -> Vec<(String, f64)> {
        let c = self.link.controls();
        c.mode(self.mode)
            .unwrap_or_default()
            .iter()
            .map(|w| {
                (
                    c.writable[w.control].name.clone(),
                    w.value.resolve(self.charge_limit, self.discharge_limit),
                )
            })
            .collect()
    }

    async fn write_mode(&mut self) -> Result<(), ActuatorError> {
        for (control, value) in self.writes() {
            self.link.write(&control, value).await?;
        }
        self.link.mark_written(true);
        self.verified = true;
        Ok(())
    }

    /// Whether the registers still hold what the mode in force wrote.
    async fn holds(&mut self) -> Result<bool, ActuatorError> {
        for (control, value) in self.writes() {
            let now = self.link.read(&control).await?;
            // Integer registers round; a percentage of the maximum rounds twice.
            if (now - value).abs() > 1.0 + value.abs() * 0.01 {
                return Ok(false);
            }
        }
        Ok(true)
    }

    async fn read_back(&mut self) -> Result<BatteryState, ActuatorError> {
        if self.link.rewrite_due(self.start.rewrite_interval) {
            self.write_mode().await?;
        }
        let readings = self.link.poll().await?;
        let verified = std::mem::take(&mut self.verified);
        let mode = if verified || self.holds().await? {
            self.mode
        } else {
            // The device went back to its own behaviour (a forced period ran out, or someone
            // changed it in the vendor's app); the next rewrite puts it back.
            "auto"
        };
        Ok(BatteryState {
            mode,
            charge_limit: self.charge_limit,
            discharge_limit: self.discharge_limit,
            readings,
            online: true,
        })
    }

    async fn carry_out(&mut self, cmd: BatteryCommand) -> Result<(), ActuatorError> {
        let before = (self.mode, self.charge_limit, self.discharge_limit);
        match cmd {
            BatteryCommand::Mode(m) => {
                if self.link.controls().mode(m).is_none() {
                    return Err(ActuatorError::Refused(format!(
                        "this battery's profile has no '{m}' mode"
                    )));
                }
                self.mode = m;
            }
            BatteryCommand::ChargeLimit(w) => self.charge_limit = w,
            BatteryCommand::DischargeLimit(w) => self.discharge_limit = w,
        }
        let r = self.write_mode().await;
        if r.is_err() {
            // What failed is not in force; the next rewrite restores what was.
            (self.mode, self.charge_limit, self.discharge_limit) = before;
            self.link.mark_written(false);
        }
        r
    }
}

impl Battery for ModbusBattery {
    async fn apply(&mut self, cmd: BatteryCommand) -> Result<BatteryState, ActuatorError> {
        let r = self.prime().await;
        self.link.settle(r)?;
        let r = self.carry_out(cmd).await;
        self.link.settle(r)?;
        self.state().await
    }

    async fn state(&mut self) -> Result<BatteryState, ActuatorError> {
        let r = self.prime().await;
        self.link.settle(r)?;
        let r = self.read_back().await;
        self.link.settle(r)
    }

    fn heartbeat(&self) -> Option<Duration> {
        Some(self.start.rewrite_interval)
    }
}

//! A Modbus device Stromwart writes to: its own connection, the profile's controls, the SunSpec
//! models it announces (found once), and a read of its points. Modbus wallboxes and batteries
//! are built on it; what they write is in their profiles.

use std::time::Duration;

use tokio::time::Instant;

use super::ActuatorError;
use crate::bus::device::{self, Setup};
use crate::bus::sunspec::discover;
use crate::bus::write::{Target, WriteError};
use crate::bus::{Bus, ReadError};
use crate::modbus::Transport;
use crate::modbus::control::Controls;
use crate::modbus::plan::Reading;
use crate::modbus::profile::Profile;
use crate::modbus::sunspec::Model;
use crate::modbus::value::Raw;
use crate::quantity::Quantity;

pub struct Link {
    id: String,
    bus: Bus,
    unit: u8,
    timeout: Duration,
    pause: Duration,
    controls: Controls,
    reader: device::Device,
    /// Found on first use by controls that count from a SunSpec model.
    models: Option<Vec<Model>>,
    /// The start values are on the device. Cleared when it stops answering, because it may
    /// have restarted and forgotten them.
    started: bool,
    /// When the setpoints in force were last written.
    last_write: Option<Instant>,
}

impl Link {
    pub fn new(id: &str, profile: Profile, transport: Transport, unit: u8) -> Self {
        let timeout = Duration::from_secs_f64(profile.timeout_s);
        let pause = Duration::from_secs_f64(profile.pause_s);
        let mut bus = Bus::new(transport);
        bus.connect_delay = Duration::from_secs_f64(profile.connect_delay_s);
        let controls = profile.controls.clone();
        let reader = device::Device::new(Setup {
            index: 0,
            id: id.to_string(),
            unit,
            timeout,
            pause,
            interval: Duration::ZERO,
            profile,
        });
        Self {
            id: id.to_string(),
            bus,
            unit,
            timeout,
            pause,
            controls,
            reader,
            models: None,
            started: false,
            last_write: None,
        }
    }

    pub fn started(&self) -> bool {
        self.started
    }

    pub fn mark_started(&mut self) {
        self.started = true;
    }

    /// Records that the setpoints in force were just written (`false`: that they must be
    /// written again at the next chance).
    pub fn mark_written(&mut self, written: bool) {
        self.last_write = written.then(Instant::now);
    }

    /// Whether the setpoints in force are due to be written again.
    pub fn rewrite_due(&self, every: Duration) -> bool {
        self.last_write.is_none_or(|at| at.elapsed() >= every)
    }

    /// Passes a result on, noting a device that stopped answering: it gets its start values
    /// again once it is back.
    pub fn settle<T>(&mut self, r: Result<T, ActuatorError>) -> Result<T, ActuatorError> {
        if matches!(r, Err(ActuatorError::Unreachable(_))) {
            self.started = false;
        }
        r
    }

    pub fn controls(&self) -> &Controls {
        &self.controls
    }

    pub fn has(&self, control: &str) -> bool {
        self.controls.get(control).is_some()
    }

    /// Writes a control by name and checks the device holds the value.
    pub async fn write(&mut self, control: &str, value: f64) -> Result<(), ActuatorError> {
        let Some(c) = self.controls.get(control).cloned() else {
            return Err(ActuatorError::Refused(format!(
                "{}: the profile has no control '{control}'",
                self.id
            )));
        };
        let needs_models = c.model.is_some();
        let mut target = self.target(needs_models).await?;
        target
            .write(&c, value)
            .await
            .map_err(|e| failure(control, e))
    }

    /// The value a control holds now.
    pub async fn read(&mut self, control: &str) -> Result<f64, ActuatorError> {
        let Some(c) = self.controls.get(control).cloned() else {
            return Err(ActuatorError::Refused(format!(
                "the profile has no control '{control}'"
            )));
        };
        let mut target = self.target(c.model.is_some()).await?;
        target
            .read_control(&c)
            .await
            .map_err(|e| failure(control, e))
    }

    /// Writes the fixed values of the profile's controls (settings the device needs, such as
    /// "standby off").
    pub async fn write_fixed(&mut self) -> Result<(), ActuatorError> {
        let fixed: Vec<(String, f64)> = self
            .controls
            .writable
            .iter()
            .filter_map(|c| Some((c.name.clone(), c.value?)))
            .collect();
        for (name, value) in fixed {
            self.write(&name, value).await?;
        }
        Ok(())
    }

    /// The numbers the profile's points read now.
    pub async fn poll(&mut self) -> Result<Vec<(Quantity, f64)>, ActuatorError> {
        let poll = self.reader.poll(&mut self.bus).await;
        if !poll.ok() && poll.timeouts + poll.failures > 0 {
            return Err(ActuatorError::Unreachable(
                poll.problem.unwrap_or_else(|| "no answer".into()),
            ));
        }
        Ok(poll
            .values
            .readings
            .into_iter()
            .filter_map(|(q, r)| match r {
                Reading::Number(n) => Some((q, n)),
                Reading::Text(_) => None,
            })
            .collect())
    }

    /// What the status register means now, if the profile has one; an unknown code reads as
    /// `None` and is logged once per code by the caller's choice.
    pub async fn status(&mut self) -> Result<Option<String>, ActuatorError> {
        let Some(st) = self.controls.status.clone() else {
            return Ok(None);
        };
        let mut target = self.target(false).await?;
        let raw = target
            .read_raw(st.fc, &st.reg)
            .await
            .map_err(|e| failure("status", e))?;
        let code = match raw {
            Some(Raw::Int(n)) => n.to_string(),
            Some(Raw::Text(t)) => t,
            Some(Raw::Float(f)) => f.to_string(),
            None => return Ok(None),
        };
        Ok(st
            .values
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, meaning)| meaning.clone()))
    }

    async fn target(&mut self, needs_models: bool) -> Result<Target<'_>, ActuatorError> {
        if needs_models && self.models.is_none() {
            let models = discover(&mut self.bus, self.unit, self.timeout)
                .await
                .map_err(|e| failure("SunSpec discovery", WriteError::Device(e)))?;
            self.models = Some(models);
        }
        Ok(Target {
            bus: &mut self.bus,
            unit: self.unit,
            timeout: self.timeout,
            pause: self.pause,
            models: self.models.as_deref().unwrap_or_default(),
        })
    }
}

/// A device that answers with an exception, or does not keep a value, is there but refuses:
/// the command is reported and the device asked again, not taken for offline.
fn failure(what: &str, e: WriteError) -> ActuatorError {
    match e {
        WriteError::Refused(m) => ActuatorError::Refused(m),
        WriteError::Device(ReadError::Exception(code)) => {
            ActuatorError::Refused(format!("{what}: the device answered {code:?}"))
        }
        WriteError::Device(e) => ActuatorError::Unreachable(format!("{what}: {e}")),
        e @ WriteError::NotTaken { .. } => ActuatorError::Refused(format!("{what}: {e}")),
    }
}

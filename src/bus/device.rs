//! Polling one device: read its blocks, remember refused ones, turn registers into values.

use std::time::Duration;

use tokio_modbus::ExceptionCode;

use super::connection::{Bus, ReadError};
use super::sunspec::discover;
use crate::modbus::plan::{self, Image, Plan};
use crate::modbus::profile::Profile;
use crate::modbus::{Poll, sunspec};

#[derive(Debug, Clone)]
pub struct Setup {
    /// Position of the device in the config (the core's device index).
    pub index: usize,
    pub id: String,
    pub profile: Profile,
    pub unit: u8,
    pub timeout: Duration,
    pub pause: Duration,
    pub interval: Duration,
}

pub struct Device {
    pub setup: Setup,
    plan: Option<Plan>,
}

impl Device {
    pub fn new(setup: Setup) -> Self {
        let plan = setup
            .profile
            .sunspec
            .is_empty()
            .then(|| Plan::from_profile(&setup.profile));
        Self { setup, plan }
    }

    /// Switches to one request per value (after discovery), for comparisons.
    pub fn read_per_value(&mut self) {
        if let Some(plan) = &self.plan {
            self.plan = Some(plan.per_value());
        }
    }

    /// Requests one poll makes now (after discovery and any splits).
    pub fn planned_requests(&self) -> usize {
        self.plan.as_ref().map_or(0, |p| p.blocks.len())
    }

    pub async fn poll(&mut self, bus: &mut Bus) -> Poll {
        let mut poll = Poll::default();
        let (unit, timeout, pause) = (self.setup.unit, self.setup.timeout, self.setup.pause);
        if self.plan.is_none() {
            match discover(bus, unit, timeout).await {
                Ok(models) => {
                    let plan = sunspec::plan(&self.setup.profile, &models);
                    let ids: Vec<u16> = models.iter().map(|m| m.id).collect();
                    tracing::info!(device = %self.setup.id, models = ?ids, requests = plan.blocks.len(), "Found the SunSpec models.");
                    self.plan = Some(plan);
                }
                Err(e) => {
                    poll.failures += 1;
                    poll.problem = Some(format!("SunSpec discovery failed: {e}"));
                    return poll;
                }
            }
        }
        let Some(plan) = self.plan.as_mut() else {
            return poll;
        };
        let mut image = Image::default();
        let mut i = 0;
        while i < plan.blocks.len() {
            if !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
            let b = plan.blocks[i];
            poll.requests += 1;
            match bus.read(unit, b.fc, b.start, b.count, timeout).await {
                Ok(words) => {
                    image.insert(&b, &words);
                    i += 1;
                }
                Err(ReadError::Exception(ExceptionCode::IllegalDataAddress)) => {
                    poll.exceptions += 1;
                    let split = plan.split(i);
                    tracing::info!(
                        device = %self.setup.id, start = b.start, count = b.count, split,
                        "The device refused a block (IllegalDataAddress); {}",
                        if split { "reading it in two parts from now on." } else { "giving up its value." }
                    );
                }
                Err(ReadError::Exception(code)) => {
                    poll.exceptions += 1;
                    poll.problem.get_or_insert_with(|| {
                        format!(
                            "the device answered {code:?} for {} registers at {}",
                            b.count, b.start
                        )
                    });
                    i += 1;
                }
                Err(e) => {
                    // Without an answer now, the rest of this device's blocks would only wait
                    // out their timeouts too and hold up the other devices on the bus.
                    if matches!(e, ReadError::Timeout(_)) {
                        poll.timeouts += 1;
                    } else {
                        poll.failures += 1;
                    }
                    poll.problem.get_or_insert_with(|| e.to_string());
                    break;
                }
            }
        }
        poll.values = plan::evaluate(&plan.points, &image);
        poll.meters = plan::evaluate_meters(&plan.points, &image);
        poll
    }
}

//! The Modbus edge: the I/O side of [`crate::modbus`], as [`crate::source`] is of
//! [`crate::sml`].
//!
//! [`connection`] is one physical connection with its timeouts and reconnects, [`device`] one
//! device's poll, [`sunspec`] finding the models on a device, [`write`] carrying out a write,
//! and [`run_bus`] the task that owns a bus and polls the devices on it in turn.

pub mod connection;
pub mod device;
pub mod sunspec;
pub mod write;

pub use connection::{Bus, ReadError};

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use device::Device;

use crate::modbus::{Transport, plan, profile};
use crate::model::Event;
use crate::sink::Sink;

/// Longest wait before asking an unresponsive device again.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// A write of a device's control, carried out by the task that owns the device's connection.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ControlWrite {
    /// The device's position in the config (the core's device index).
    pub device: usize,
    /// The control's position among the profile's writable registers.
    pub control: usize,
    pub value: f64,
}

/// Polls the devices that share one connection, one request at a time, until the core stops,
/// and writes their controls in between. A device that does not answer is asked less and less
/// often, so it holds up the others on the bus as little as possible.
pub async fn run_bus(
    transport: Transport,
    mut devices: Vec<Device>,
    mut writes: mpsc::Receiver<ControlWrite>,
    sink: Sink,
) {
    let mut bus = Bus::new(transport);
    bus.connect_delay = devices
        .iter()
        .map(|d| Duration::from_secs_f64(d.setup.profile.connect_delay_s))
        .max()
        .unwrap_or_default();
    let mut due: Vec<Instant> = vec![Instant::now(); devices.len()];
    let mut failing: Vec<u32> = vec![0; devices.len()];
    loop {
        let Some((i, at)) = due.iter().copied().enumerate().min_by_key(|(_, at)| *at) else {
            return;
        };
        tokio::select! {
            _ = tokio::time::sleep_until(at) => {}
            Some(w) = writes.recv() => {
                let event = write(&mut bus, &devices, w).await;
                if sink.events.send(event).await.is_err() {
                    return;
                }
                continue;
            }
        }
        let device = &mut devices[i];
        let poll = device.poll(&mut bus).await;
        let id = &device.setup.id;
        if poll.ok() {
            if failing[i] > 0 {
                tracing::info!(device = %id, bus = %bus.transport, "The device answers again.");
            }
            failing[i] = 0;
        } else {
            failing[i] += 1;
            if failing[i] == 1 || failing[i].is_power_of_two() {
                let why = poll.problem.as_deref().unwrap_or("no value could be read");
                tracing::warn!(device = %id, bus = %bus.transport, attempts = failing[i], "Reading the device failed: {why}.");
            }
        }
        let interval = device.setup.interval;
        let wait = if failing[i] == 0 {
            interval
        } else {
            (interval * 2u32.pow(failing[i].min(8))).min(MAX_BACKOFF)
        };
        due[i] = Instant::now() + wait;
        let event = Event::ModbusPoll {
            device: device.setup.index,
            poll: Box::new(poll),
        };
        if sink.events.send(event).await.is_err() {
            return;
        }
    }
}

/// Writes a control and reads it back; the event tells the core what the device holds now.
async fn write(bus: &mut Bus, devices: &[Device], w: ControlWrite) -> Event {
    let result = match devices.iter().find(|d| d.setup.index == w.device) {
        None => Err("no such device on this bus".to_string()),
        Some(d) => match d.setup.profile.controls.writable.get(w.control) {
            None => Err("no such control in the profile".to_string()),
            Some(c) => {
                let mut target = write::Target {
                    bus,
                    unit: d.setup.unit,
                    timeout: d.setup.timeout,
                    pause: d.setup.pause,
                    models: &[],
                };
                let written = target.write(c, w.value).await;
                match written {
                    Ok(()) => target.read_control(c).await,
                    Err(e) => Err(e),
                }
                .map_err(|e| {
                    tracing::warn!(device = %d.setup.id, control = %c.name, value = w.value, "Writing the control failed: {e}.");
                    e.to_string()
                })
            }
        },
    };
    Event::ControlWritten {
        device: w.device,
        control: w.control,
        result,
    }
}

/// `stromwart modbus read`: polls a device once and describes what came back as JSON.
/// Fails when nothing at all could be read, with the reason.
pub async fn read_once(
    profile: profile::Profile,
    address: &str,
    unit: Option<u8>,
) -> Result<serde_json::Value, String> {
    let transport = Transport::parse(address)?;
    let unit = unit.unwrap_or(profile.unit);
    let mut bus = Bus::new(transport.clone());
    bus.connect_delay = Duration::from_secs_f64(profile.connect_delay_s);
    let mut device = Device::new(device::Setup {
        index: 0,
        id: profile.name.clone(),
        timeout: Duration::from_secs_f64(profile.timeout_s),
        pause: Duration::from_secs_f64(profile.pause_s),
        interval: Duration::ZERO,
        unit,
        profile,
    });
    let poll = device.poll(&mut bus).await;
    if !poll.ok() {
        let why = poll
            .problem
            .unwrap_or_else(|| "the device answered, but with no value of the profile".into());
        return Err(format!(
            "nothing could be read from unit {unit} at {transport}: {why}"
        ));
    }
    let mut report = serde_json::json!({
        "profile": device.setup.profile.name,
        "address": transport.to_string(),
        "unit": unit,
        "requests": poll.requests,
        "exceptions": poll.exceptions,
        "problem": poll.problem,
    });
    extend(&mut report, values_json(&poll.values));
    if !poll.meters.is_empty() {
        report["meters"] = poll.meters.iter().map(values_json).collect();
    }
    Ok(report)
}

/// Identity, values and unavailable quantities of one device, as `modbus read` prints them.
fn values_json(v: &plan::Values) -> serde_json::Value {
    let values: Vec<serde_json::Value> = v
        .readings
        .iter()
        .map(|(q, r)| {
            let value = match r {
                plan::Reading::Number(n) => serde_json::json!(n),
                plan::Reading::Text(t) => serde_json::json!(t),
            };
            serde_json::json!({"quantity": q.key, "value": value, "unit": q.kind.info().unit})
        })
        .collect();
    serde_json::json!({
        "identity": {"manufacturer": v.manufacturer, "model": v.model, "serial": v.serial, "sw_version": v.sw_version},
        "values": values,
        "unavailable": v.unavailable,
    })
}

fn extend(report: &mut serde_json::Value, more: serde_json::Value) {
    if let (Some(r), serde_json::Value::Object(m)) = (report.as_object_mut(), more) {
        r.extend(m);
    }
}

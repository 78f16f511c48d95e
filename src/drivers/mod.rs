//! Actuators at the edge: devices Stromwart switches. One driver per protocol behind the small
//! [`Switch`] capability, so Home Assistant commands and future controllers take the same path.
//!
//! HTTP plugs (Shelly) run a task each: it carries out switch requests, polls the state, and
//! reports what the device says, never what was asked. MQTT plugs (Tasmota) need no task: the
//! core maps their topics directly.

pub mod battery;
pub mod digest;
pub mod goe;
pub mod modbus_battery;
pub mod modbus_link;
pub mod modbus_wallbox;
pub mod prices;
pub mod shelly;
pub mod shelly_input;
pub mod wiring;

use std::time::Duration;

use tokio::sync::mpsc;

pub use battery::Battery;

use crate::model::{BatteryCommand, BatteryState, Event, PlugState, WallboxCommand, WallboxState};
use crate::sink::Sink;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActuatorError {
    #[error("{0}")]
    Unreachable(String),
    #[error("the device answered something unexpected: {0}")]
    Garbage(String),
    /// The command cannot be carried out as given; the device itself is fine.
    #[error("{0}")]
    Refused(String),
}

/// A device that switches a load on and off.
pub trait Switch {
    /// Switches and returns the state the device reports afterwards.
    fn set(
        &mut self,
        on: bool,
    ) -> impl std::future::Future<Output = Result<PlugState, ActuatorError>>;
    fn state(&mut self) -> impl std::future::Future<Output = Result<PlugState, ActuatorError>>;
    /// How long the device keeps a load on without being told again (its dead-man timer), if
    /// one is set.
    fn hold(&self) -> Option<Duration> {
        None
    }
    /// The device's model, where it says (for the Home Assistant device block).
    fn model(&mut self) -> impl std::future::Future<Output = Option<String>> {
        std::future::ready(None)
    }
}

/// A charger whose charging, current and phases can be set.
pub trait Wallbox {
    /// Applies a command and returns the state the charger reports afterwards.
    fn apply(
        &mut self,
        cmd: WallboxCommand,
    ) -> impl std::future::Future<Output = Result<WallboxState, ActuatorError>>;
    fn state(&mut self) -> impl std::future::Future<Output = Result<WallboxState, ActuatorError>>;
    /// For chargers that fall back on their own when not told again: how often the task
    /// must call [`Wallbox::state`], which re-writes the setpoint in force.
    fn heartbeat(&self) -> Option<Duration> {
        None
    }
}

/// Runs a wallbox: commands from the core, status polls, reports of what the charger says.
pub async fn run_wallbox<W: Wallbox>(
    index: usize,
    id: String,
    wallbox: W,
    commands: mpsc::Receiver<WallboxCommand>,
    poll: Duration,
    sink: Sink,
) {
    let task = Task {
        index,
        id,
        noun: "wallbox",
        poll,
        sink,
    };
    task.drive(AsWallbox(wallbox), commands).await;
}

/// Runs a battery, like [`run_wallbox`].
pub async fn run_battery<B: Battery>(
    index: usize,
    id: String,
    battery: B,
    commands: mpsc::Receiver<BatteryCommand>,
    poll: Duration,
    sink: Sink,
) {
    let task = Task {
        index,
        id,
        noun: "battery",
        poll,
        sink,
    };
    task.drive(AsBattery(battery), commands).await;
}

/// What the device task needs from a driver, whatever it drives.
trait Drive {
    type Command;
    type State;
    fn apply(
        &mut self,
        cmd: Self::Command,
    ) -> impl std::future::Future<Output = Result<Self::State, ActuatorError>>;
    fn state(&mut self) -> impl std::future::Future<Output = Result<Self::State, ActuatorError>>;
    fn heartbeat(&self) -> Option<Duration>;
    /// The report for the core; `None` when the device does not answer.
    fn event(index: usize, state: Option<Self::State>) -> Event;
}

struct AsWallbox<W>(W);

impl<W: Wallbox> Drive for AsWallbox<W> {
    type Command = WallboxCommand;
    type State = WallboxState;
    async fn apply(&mut self, cmd: WallboxCommand) -> Result<WallboxState, ActuatorError> {
        self.0.apply(cmd).await
    }
    async fn state(&mut self) -> Result<WallboxState, ActuatorError> {
        self.0.state().await
    }
    fn heartbeat(&self) -> Option<Duration> {
        self.0.heartbeat()
    }
    fn event(wallbox: usize, state: Option<WallboxState>) -> Event {
        Event::WallboxState {
            wallbox,
            state: state.unwrap_or_default(),
        }
    }
}

struct AsBattery<B>(B);

impl<B: Battery> Drive for AsBattery<B> {
    type Command = BatteryCommand;
    type State = BatteryState;
    async fn apply(&mut self, cmd: BatteryCommand) -> Result<BatteryState, ActuatorError> {
        self.0.apply(cmd).await
    }
    async fn state(&mut self) -> Result<BatteryState, ActuatorError> {
        self.0.state().await
    }
    fn heartbeat(&self) -> Option<Duration> {
        self.0.heartbeat()
    }
    fn event(battery: usize, state: Option<BatteryState>) -> Event {
        Event::BatteryState {
            battery,
            state: state.unwrap_or_default(),
        }
    }
}

struct Task {
    index: usize,
    id: String,
    noun: &'static str,
    poll: Duration,
    sink: Sink,
}

impl Task {
    /// Carries out commands, polls the device at least every `poll` (and every heartbeat), and
    /// reports what it says. A refused command is logged and the device asked again, so Home
    /// Assistant shows what holds.
    async fn drive<D: Drive>(self, mut device: D, mut commands: mpsc::Receiver<D::Command>) {
        let (id, noun) = (&self.id, self.noun);
        let mut failing = false;
        let mut wait = Duration::ZERO; // ask at once on start
        loop {
            let result = tokio::select! {
                cmd = commands.recv() => match cmd {
                    Some(cmd) => match device.apply(cmd).await {
                        Err(ActuatorError::Refused(e)) => {
                            tracing::warn!(device = %id, "The {noun} did not carry out a command: {e}.");
                            device.state().await
                        }
                        other => other,
                    },
                    None => return,
                },
                _ = tokio::time::sleep(wait) => device.state().await,
            };
            wait = device.heartbeat().map_or(self.poll, |h| self.poll.min(h));
            let state = match result {
                Ok(s) => {
                    if failing {
                        tracing::info!(device = %id, "The {noun} answers again.");
                    }
                    failing = false;
                    Some(s)
                }
                Err(e) => {
                    if !failing {
                        match &e {
                            ActuatorError::Unreachable(_) => {
                                tracing::warn!(device = %id, "The {noun} does not answer: {e}.")
                            }
                            _ => {
                                tracing::warn!(device = %id, "The {noun} answers, but not as expected: {e}.")
                            }
                        }
                    }
                    failing = true;
                    None
                }
            };
            if self
                .sink
                .events
                .send(D::event(self.index, state))
                .await
                .is_err()
            {
                return;
            }
        }
    }
}

/// Runs an HTTP plug: switch requests from the core, status polls, re-arming its dead-man
/// timer while the load is meant to stay on.
pub async fn run<S: Switch>(
    index: usize,
    id: String,
    mut plug: S,
    mut requests: mpsc::Receiver<bool>,
    poll: Duration,
    sink: Sink,
) {
    let mut wanted_on = false;
    let mut failing = false;
    let mut first = true;
    let mut asked_model = false;
    loop {
        // Re-arm the device's own timer at half its length, so it never runs out while on.
        let wait = match (wanted_on, plug.hold()) {
            (true, Some(hold)) => poll.min(hold / 2),
            _ => poll,
        };
        // Ask at once on start, so the bridge knows early whether the plug answers.
        let wait = if std::mem::take(&mut first) {
            Duration::ZERO
        } else {
            wait
        };
        let result = tokio::select! {
            req = requests.recv() => match req {
                Some(on) => {
                    wanted_on = on;
                    plug.set(on).await
                }
                None => return,
            },
            _ = tokio::time::sleep(wait) => {
                if wanted_on && plug.hold().is_some() { plug.set(true).await } else { plug.state().await }
            }
        };
        let state = match result {
            Ok(s) => {
                if failing {
                    tracing::info!(plug = %id, "The plug answers again.");
                }
                failing = false;
                if !asked_model {
                    asked_model = true;
                    if let Some(model) = plug.model().await {
                        let event = Event::PlugModel { plug: index, model };
                        if sink.events.send(event).await.is_err() {
                            return;
                        }
                    }
                }
                s
            }
            Err(e) => {
                if !failing {
                    tracing::warn!(plug = %id, "The plug does not answer: {e}.");
                }
                failing = true;
                PlugState {
                    online: false,
                    ..PlugState::default()
                }
            }
        };
        if sink
            .events
            .send(Event::PlugState { plug: index, state })
            .await
            .is_err()
        {
            return;
        }
    }
}

/// A device that has not answered within this long is taken as unreachable.
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);

fn http_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(HTTP_TIMEOUT)
        .build()
        .map_err(|e| format!("cannot set up HTTP: {e}"))
}

/// Sends an HTTP request to a device and returns the body of a successful answer.
async fn fetch(req: reqwest::RequestBuilder, url: &str) -> Result<String, ActuatorError> {
    read(send(req, url).await?, url).await
}

async fn send(req: reqwest::RequestBuilder, url: &str) -> Result<reqwest::Response, ActuatorError> {
    req.send()
        .await
        .map_err(|e| ActuatorError::Unreachable(format!("{url}: {}", crate::http::why(&e))))
}

/// The body of a successful answer, or what went wrong.
async fn read(resp: reqwest::Response, url: &str) -> Result<String, ActuatorError> {
    let status = resp.status();
    let body = resp
        .text()
        .await
        .map_err(|e| ActuatorError::Unreachable(crate::http::why(&e)))?;
    if status == reqwest::StatusCode::UNAUTHORIZED {
        return Err(ActuatorError::Unreachable(
            "401 Unauthorized: check user and password".into(),
        ));
    }
    if !status.is_success() {
        return Err(ActuatorError::Garbage(format!("{status} from {url}")));
    }
    Ok(body)
}

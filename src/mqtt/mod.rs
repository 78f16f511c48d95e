//! The MQTT edge: one task owns the rumqttc event loop and polls it without pause.
//!
//! rumqttc reconnects on the next poll but does not wait, resubscribe or re-announce, and a
//! publish awaited inside the polling task can deadlock. So this task never awaits the client:
//! it takes messages from the core into an [`Outbox`], hands them over with `try_publish` while
//! connected, backs off between failed connection attempts, and after every ConnAck announces
//! `online`, resubscribes and tells the core to republish everything.

mod outbox;
mod tls;

use std::time::Duration;

use rumqttc::{
    AsyncClient, ConnectReturnCode, ConnectionError, Event, EventLoop, LastWill, MqttOptions,
    NetworkOptions, Packet, QoS, Transport,
};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

pub use outbox::Outbox;

use crate::message::Message;

/// Large enough for a device-based discovery config with every entity a meter can have; what
/// the bridge publishes, and the most it reads of a message.
const MAX_PACKET: usize = 256 * 1024;
/// rumqttc drops the connection on an incoming packet over its limit, and a retained one comes
/// back on every reconnect. So it may read anything MQTT allows (256 MiB) and the bridge drops
/// what is over [`MAX_PACKET`] itself.
const MAX_INCOMING: usize = 268_435_455 + 5;
/// A connection the broker closes this soon after accepting it, several times in a row, is
/// being taken over by another client with the same id.
const SHORT_LIVED: Duration = Duration::from_secs(5);
const TAKEOVERS_BEFORE_HINT: u32 = 3;
const BACKOFF_START: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
const SHUTDOWN_FLUSH: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
pub struct Settings {
    pub host: String,
    pub port: u16,
    pub client_id: String,
    pub username: Option<String>,
    pub password: Option<String>,
    pub keep_alive: Duration,
    pub tls: Option<tls::TlsFiles>,
    /// Retained `online`/`offline`, also the last will.
    pub availability_topic: String,
    /// Home Assistant's birth topic, `<discovery prefix>/status`.
    pub ha_status_topic: String,
    pub subscriptions: Vec<String>,
    /// Subscribed on the first connection only, to collect retained configs; the bridge
    /// unsubscribes once it has them.
    pub collect: Vec<String>,
}

/// What goes to the broker: messages, and the end of the start-up collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    Publish(Message),
    Unsubscribe(String),
}

pub use tls::TlsFiles;

/// What the edge tells the rest of the bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    Connected,
    HaOnline,
    Message {
        topic: String,
        payload: Vec<u8>,
        retain: bool,
    },
}

/// Connection state for the health check and the demo's view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Link {
    #[default]
    Connecting,
    Up,
    Down,
}

pub fn options(s: &Settings) -> Result<MqttOptions, String> {
    let mut o = MqttOptions::new(&s.client_id, &s.host, s.port);
    o.set_keep_alive(s.keep_alive);
    // A persistent session: commands the broker accepted while the link was down (a broker
    // restart, a Wi-Fi gap) wait there for the bridge and are carried out when it is back.
    o.set_clean_session(false);
    o.set_max_packet_size(MAX_INCOMING, MAX_PACKET);
    o.set_last_will(LastWill::new(
        &s.availability_topic,
        "offline",
        QoS::AtLeastOnce,
        true,
    ));
    if let Some(user) = &s.username {
        o.set_credentials(user, s.password.clone().unwrap_or_default());
    }
    if let Some(files) = &s.tls {
        o.set_transport(Transport::tls_with_config(tls::config(files)?));
    }
    Ok(o)
}

/// Runs until `shutdown` turns true, then publishes `offline` and disconnects cleanly.
pub async fn run(
    settings: Settings,
    outgoing: mpsc::UnboundedReceiver<Outgoing>,
    inbound: mpsc::Sender<Inbound>,
    link: watch::Sender<Link>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), String> {
    let (client, mut eventloop) = AsyncClient::new(options(&settings)?, 512);
    let mut net = NetworkOptions::new();
    net.set_tcp_nodelay(true);
    net.set_connection_timeout(5);
    eventloop.set_network_options(net);
    // The feeder owns the outbox; this task only polls, because a poll future dropped by a
    // select! in the middle of writing a request would lose that request.
    let mut feeder = tokio::spawn(feed(client.clone(), outgoing, link.subscribe()));

    let mut backoff = BACKOFF_START;
    let mut failures = 0u32;
    let target = format!("{}:{}", settings.host, settings.port);
    let mut connected = false;
    let mut first = true;
    let mut takeover = Takeover::default();
    let mut oversized = std::collections::BTreeSet::new();
    loop {
        let ev = tokio::select! {
            biased;
            _ = shutdown.changed() => break,
            ev = eventloop.poll() => ev,
        };
        match ev {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                connected = true;
                backoff = BACKOFF_START;
                let again = if failures > 0 { " again" } else { "" };
                tracing::info!(broker = %target, "Connected to the MQTT broker{again}.");
                announce(&client, &settings);
                if first {
                    for topic in &settings.collect {
                        let _ = client.try_subscribe(topic, QoS::AtMostOnce);
                    }
                    first = false;
                }
                failures = 0;
                takeover.connected();
                link.send_replace(Link::Up);
                let _ = inbound.send(Inbound::Connected).await;
            }
            Ok(Event::Incoming(Packet::Publish(p))) if p.payload.len() > MAX_PACKET => {
                // Once per topic: a retained one comes back after every reconnect.
                if oversized.insert(p.topic.clone()) {
                    tracing::warn!(topic = %p.topic, retained = p.retain, "Dropped a message of {} KiB; Stromwart reads at most {} KiB. If it is retained and not meant for Stromwart, ignore this.", p.payload.len() / 1024, MAX_PACKET / 1024);
                }
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let event = if p.topic == settings.ha_status_topic {
                    (p.payload.as_ref() == b"online").then_some(Inbound::HaOnline)
                } else {
                    let payload = p.payload.to_vec();
                    Some(Inbound::Message {
                        topic: p.topic,
                        payload,
                        retain: p.retain,
                    })
                };
                if let Some(e) = event {
                    let _ = inbound.send(e).await;
                }
            }
            Ok(_) => {}
            Err(e) => {
                if connected && takeover.lost() {
                    tracing::warn!(broker = %target, client_id = %settings.client_id, "The broker keeps closing the connection right after accepting it: most likely another client uses the same client id. Give each Stromwart its own mqtt.client_id (and mqtt.base_topic).");
                }
                connected = false;
                link.send_replace(Link::Down);
                failures += 1;
                report(&e, &target, failures, backoff);
                tokio::select! {
                    _ = shutdown.changed() => break,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
    // The feeder hands over what the core sent last (the safe states of MQTT plugs) once the
    // bridge has closed its side.
    let _ = tokio::time::timeout(SHUTDOWN_FLUSH, &mut feeder).await;
    feeder.abort();
    if connected {
        goodbye(&client, &mut eventloop, &settings).await;
    }
    Ok(())
}

/// Connections that end soon after they were accepted: what a broker does to the older of two
/// clients with one id (and, a moment later, to the newer).
#[derive(Debug, Default)]
struct Takeover {
    since: Option<Instant>,
    short_lived: u32,
    told: bool,
}

impl Takeover {
    fn connected(&mut self) {
        self.since = Some(Instant::now());
    }

    /// The connection ended; true once, when it looks like a takeover.
    fn lost(&mut self) -> bool {
        let short = self.since.take().is_some_and(|t| t.elapsed() < SHORT_LIVED);
        self.short_lived = if short { self.short_lived + 1 } else { 0 };
        if self.short_lived >= TAKEOVERS_BEFORE_HINT && !self.told {
            self.told = true;
            return true;
        }
        false
    }
}

/// Moves messages from the core to the client while the link is up, keeping only the latest
/// per topic while it is not.
async fn feed(
    client: AsyncClient,
    mut outgoing: mpsc::UnboundedReceiver<Outgoing>,
    mut link: watch::Receiver<Link>,
) {
    let mut outbox = Outbox::default();
    loop {
        let up = *link.borrow() == Link::Up;
        tokio::select! {
            msg = outgoing.recv() => match msg {
                Some(Outgoing::Publish(m)) => outbox.push(m),
                Some(Outgoing::Unsubscribe(topic)) => {
                    let _ = client.try_unsubscribe(topic);
                }
                None => {
                    if *link.borrow() == Link::Up {
                        drain(&client, &mut outbox);
                    }
                    return;
                }
            },
            changed = link.changed() => if changed.is_err() { return },
            // The client queue was full: try again once the event loop has taken some.
            _ = tokio::time::sleep(Duration::from_millis(5)), if up && !outbox.is_empty() => {}
        }
        if *link.borrow() == Link::Up {
            drain(&client, &mut outbox);
        }
    }
}

/// After every ConnAck: availability first, then subscriptions. The core follows with
/// discovery and states.
fn announce(client: &AsyncClient, s: &Settings) {
    let _ = client.try_publish(&s.availability_topic, QoS::AtLeastOnce, true, "online");
    let _ = client.try_subscribe(&s.ha_status_topic, QoS::AtLeastOnce);
    for topic in &s.subscriptions {
        let _ = client.try_subscribe(topic, QoS::AtLeastOnce);
    }
}

fn drain(client: &AsyncClient, outbox: &mut Outbox) {
    while let Some(m) = outbox.pop() {
        let qos = if m.qos == 0 {
            QoS::AtMostOnce
        } else {
            QoS::AtLeastOnce
        };
        if client
            .try_publish(m.topic.clone(), qos, m.retain, m.payload.clone())
            .is_err()
        {
            // The client's queue is full; the event loop empties it on the next poll.
            outbox.push_front(m);
            break;
        }
    }
}

async fn goodbye(client: &AsyncClient, eventloop: &mut EventLoop, s: &Settings) {
    // A clean disconnect suppresses the last will, so say offline ourselves.
    let _ = client.try_publish(&s.availability_topic, QoS::AtLeastOnce, true, "offline");
    let _ = client.try_disconnect();
    let deadline = Instant::now() + SHUTDOWN_FLUSH;
    while Instant::now() < deadline {
        match tokio::time::timeout_at(deadline, eventloop.poll()).await {
            Ok(Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect))) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(_)) => {}
        }
    }
}

/// Logs a connection failure once at warning level, then quietly until it recovers.
fn report(e: &ConnectionError, target: &str, failures: u32, backoff: Duration) {
    let why = match e {
        ConnectionError::ConnectionRefused(
            ConnectReturnCode::BadUserNamePassword | ConnectReturnCode::NotAuthorized,
        ) => {
            "the broker refused the credentials; check mqtt.username and mqtt.password".to_string()
        }
        ConnectionError::ConnectionRefused(ConnectReturnCode::BadClientId) => {
            "the broker refused the client id; set another mqtt.client_id".to_string()
        }
        ConnectionError::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            "connection refused; is the broker running, and are mqtt.host and mqtt.port right"
                .to_string()
        }
        other => other.to_string(),
    };
    if failures == 1 || failures.is_power_of_two() {
        tracing::warn!(broker = %target, retry_in = ?backoff, attempts = failures, "MQTT connection failed: {why}.");
    } else {
        tracing::debug!(broker = %target, attempts = failures, "MQTT connection failed: {why}.");
    }
}

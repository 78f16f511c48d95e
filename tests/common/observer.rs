//! An MQTT client that records everything it receives, for exact assertions.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::sync::Notify;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub topic: String,
    pub payload: String,
    pub retain: bool,
    pub qos: u8,
}

pub struct Observer {
    pub client: AsyncClient,
    seen: Arc<Mutex<Vec<Received>>>,
    notify: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Observer {
    /// Connects to the broker on `port` and subscribes to `filter`.
    pub async fn connect(port: u16, filter: &str) -> Self {
        Self::connect_as(port, filter, None).await
    }

    /// Connects with a user name and password.
    pub async fn connect_as(port: u16, filter: &str, creds: Option<(&str, &str)>) -> Self {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let id = format!(
            "observer-{}",
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let mut opts = MqttOptions::new(id, "127.0.0.1", port);
        opts.set_max_packet_size(1 << 20, 1 << 20);
        opts.set_keep_alive(Duration::from_secs(5));
        if let Some((user, password)) = creds {
            opts.set_credentials(user, password);
        }
        let (client, mut el) = AsyncClient::new(opts, 100);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let notify = Arc::new(Notify::new());
        let (s, n, c, f) = (
            seen.clone(),
            notify.clone(),
            client.clone(),
            filter.to_string(),
        );
        let task = tokio::spawn(async move {
            loop {
                match el.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        let _ = c.try_subscribe(f.clone(), QoS::AtLeastOnce);
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        s.lock().unwrap().push(Received {
                            topic: p.topic.clone(),
                            payload: String::from_utf8_lossy(&p.payload).into_owned(),
                            retain: p.retain,
                            qos: p.qos as u8,
                        });
                        n.notify_waiters();
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        Self {
            client,
            seen,
            notify,
            task,
        }
    }

    pub fn all(&self) -> Vec<Received> {
        self.seen.lock().unwrap().clone()
    }

    pub fn on(&self, topic: &str) -> Vec<Received> {
        self.all()
            .into_iter()
            .filter(|r| r.topic == topic)
            .collect()
    }

    /// Publishes a command the way Home Assistant does: QoS 1, not retained.
    pub async fn send(&self, topic: &str, payload: &str) {
        self.client
            .publish(topic, rumqttc::QoS::AtLeastOnce, false, payload)
            .await
            .unwrap();
    }

    pub fn clear(&self) {
        self.seen.lock().unwrap().clear();
    }

    /// Waits until a message satisfies `pred`; panics with what was seen after `secs`.
    pub async fn wait_for(
        &self,
        secs: u64,
        what: &str,
        pred: impl Fn(&Received) -> bool,
    ) -> Received {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let notified = self.notify.notified();
            if let Some(r) = self.all().into_iter().find(|r| pred(r)) {
                return r;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                let topics: Vec<String> = self
                    .all()
                    .iter()
                    .map(|r| format!("{} = {}", r.topic, r.payload))
                    .collect();
                panic!("timed out waiting for {what}; saw:\n{}", topics.join("\n"));
            }
        }
    }

    /// Waits for a message on `topic` with `payload`.
    pub async fn wait_value(&self, topic: &str, payload: &str) -> Received {
        self.wait_for(10, &format!("{topic} = {payload}"), |r| {
            r.topic == topic && r.payload == payload
        })
        .await
    }
}

impl Drop for Observer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

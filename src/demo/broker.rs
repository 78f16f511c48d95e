//! A small MQTT 3.1.1 broker for the demo, so `stromwart demo` needs nothing installed.
//!
//! It speaks what the bridge, Home Assistant and the usual command-line clients need: connect
//! with last will, publish at QoS 0 and 1, retained messages, subscriptions with wildcards,
//! ping and disconnect. Deliveries go out at QoS 0. It is not meant to replace Mosquitto: there
//! is no authentication, persistence or QoS 2.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

const MAX_PACKET: usize = 1024 * 1024;

#[derive(Default)]
struct State {
    retained: HashMap<String, Vec<u8>>,
    clients: HashMap<u64, Client>,
    next_id: u64,
}

struct Client {
    filters: Vec<String>,
    tx: mpsc::UnboundedSender<Vec<u8>>,
}

#[derive(Clone, Default)]
pub struct Broker {
    state: Arc<Mutex<State>>,
}

struct Will {
    topic: String,
    payload: Vec<u8>,
    retain: bool,
}

impl Broker {
    /// Accepts clients until the listener fails or the task is dropped.
    pub async fn serve(self, listener: TcpListener) {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            tokio::spawn(self.clone().client(stream));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that
        // matters for a demo, so a poisoned lock is simply taken over.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn client(self, stream: TcpStream) {
        let (mut rd, mut wr) = stream.into_split();
        let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
        let id = {
            let mut s = self.lock();
            s.next_id += 1;
            s.next_id
        };
        let writer = tokio::spawn(async move {
            while let Some(bytes) = rx.recv().await {
                if wr.write_all(&bytes).await.is_err() {
                    break;
                }
            }
        });
        let mut will = None;
        let clean = self.session(id, &mut rd, &tx, &mut will).await;
        self.lock().clients.remove(&id);
        if !clean {
            if let Some(w) = will {
                self.publish(&w.topic, &w.payload, w.retain);
            }
        }
        drop(tx);
        let _ = writer.await;
    }

    /// Handles packets until the client leaves; true for a clean DISCONNECT.
    async fn session(
        &self,
        id: u64,
        rd: &mut (impl AsyncReadExt + Unpin),
        tx: &mpsc::UnboundedSender<Vec<u8>>,
        will: &mut Option<Will>,
    ) -> bool {
        let mut connected = false;
        loop {
            let Ok((header, body)) = read_packet(rd).await else {
                return false;
            };
            match (header >> 4, connected) {
                (1, false) => {
                    let Some(w) = parse_connect(&body) else {
                        return false;
                    };
                    *will = w;
                    connected = true;
                    self.lock().clients.insert(
                        id,
                        Client {
                            filters: Vec::new(),
                            tx: tx.clone(),
                        },
                    );
                    let _ = tx.send(vec![0x20, 0x02, 0x00, 0x00]);
                }
                (3, true) => {
                    let Some((topic, payload, pkid)) = parse_publish(header, &body) else {
                        return false;
                    };
                    if let Some(pkid) = pkid {
                        let _ = tx.send(vec![0x40, 0x02, (pkid >> 8) as u8, pkid as u8]);
                    }
                    self.publish(&topic, payload, header & 1 == 1);
                }
                (8, true) => {
                    let Some((pkid, filters)) = parse_subscribe(&body) else {
                        return false;
                    };
                    let mut ack = vec![
                        0x90,
                        (2 + filters.len()) as u8,
                        (pkid >> 8) as u8,
                        pkid as u8,
                    ];
                    ack.extend(std::iter::repeat_n(0u8, filters.len()));
                    let _ = tx.send(ack);
                    let mut s = self.lock();
                    for (topic, payload) in &s.retained {
                        if filters.iter().any(|f| matches(f, topic)) {
                            let _ = tx.send(encode_publish(topic, payload, true));
                        }
                    }
                    if let Some(c) = s.clients.get_mut(&id) {
                        c.filters.extend(filters);
                    }
                }
                (10, true) => {
                    let pkid = body
                        .get(..2)
                        .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
                    let _ = tx.send(vec![0xb0, 0x02, (pkid >> 8) as u8, pkid as u8]);
                }
                (12, true) => {
                    let _ = tx.send(vec![0xd0, 0x00]);
                }
                (14, true) => return true,
                (4, true) => {} // PUBACK for our QoS 0 deliveries never comes; ignore stray ones
                _ => return false,
            }
        }
    }

    /// Stores (or clears) a retained message and delivers it to matching subscribers.
    pub fn publish(&self, topic: &str, payload: &[u8], retain: bool) {
        let mut s = self.lock();
        if retain {
            if payload.is_empty() {
                s.retained.remove(topic);
            } else {
                s.retained.insert(topic.to_string(), payload.to_vec());
            }
        }
        let packet = encode_publish(topic, payload, false);
        for c in s.clients.values() {
            if c.filters.iter().any(|f| matches(f, topic)) {
                let _ = c.tx.send(packet.clone());
            }
        }
    }
}

async fn read_packet(rd: &mut (impl AsyncReadExt + Unpin)) -> std::io::Result<(u8, Vec<u8>)> {
    let header = rd.read_u8().await?;
    let mut len = 0usize;
    for shift in (0..28).step_by(7) {
        let b = rd.read_u8().await?;
        len |= usize::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            break;
        }
    }
    if len > MAX_PACKET {
        return Err(std::io::Error::other("packet too large"));
    }
    let mut body = vec![0u8; len];
    rd.read_exact(&mut body).await?;
    Ok((header, body))
}

/// A cursor over a packet body.
struct Body<'a>(&'a [u8]);

impl<'a> Body<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = rest;
        Some(head)
    }

    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }

    fn string(&mut self) -> Option<String> {
        self.bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned())
    }
}

fn parse_connect(body: &[u8]) -> Option<Option<Will>> {
    let mut b = Body(body);
    b.string()?; // protocol name
    b.take(1)?; // level
    let flags = b.take(1)?[0];
    b.u16()?; // keep alive
    b.string()?; // client id
    let will = if flags & 0x04 != 0 {
        let topic = b.string()?;
        let payload = b.bytes()?.to_vec();
        Some(Will {
            topic,
            payload,
            retain: flags & 0x20 != 0,
        })
    } else {
        None
    };
    Some(will)
}

fn parse_publish(header: u8, body: &[u8]) -> Option<(String, &[u8], Option<u16>)> {
    let mut b = Body(body);
    let topic = b.string()?;
    let pkid = match (header >> 1) & 0x03 {
        0 => None,
        1 => Some(b.u16()?),
        _ => return None,
    };
    Some((topic, b.0, pkid))
}

fn parse_subscribe(body: &[u8]) -> Option<(u16, Vec<String>)> {
    let mut b = Body(body);
    let pkid = b.u16()?;
    let mut filters = Vec::new();
    while !b.0.is_empty() {
        filters.push(b.string()?);
        b.take(1)?; // requested QoS
    }
    Some((pkid, filters))
}

fn encode_publish(topic: &str, payload: &[u8], retain: bool) -> Vec<u8> {
    let len = 2 + topic.len() + payload.len();
    let mut p = vec![0x30 | u8::from(retain)];
    let mut rem = len;
    loop {
        let mut byte = (rem % 128) as u8;
        rem /= 128;
        if rem > 0 {
            byte |= 0x80;
        }
        p.push(byte);
        if rem == 0 {
            break;
        }
    }
    p.extend_from_slice(&(topic.len() as u16).to_be_bytes());
    p.extend_from_slice(topic.as_bytes());
    p.extend_from_slice(payload);
    p
}

/// MQTT topic filter matching with `+` (one level) and `#` (the rest).
pub fn matches(filter: &str, topic: &str) -> bool {
    let mut t = topic.split('/');
    for f in filter.split('/') {
        match (f, t.next()) {
            ("#", _) => return !topic.starts_with('$'),
            ("+", Some(_)) => {}
            (f, Some(level)) if f == level => {}
            _ => return false,
        }
    }
    t.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn wildcards_match_like_mosquitto() {
        assert!(matches("stromwart/#", "stromwart/grid/power"));
        assert!(matches("stromwart/+/power", "stromwart/grid/power"));
        assert!(!matches("stromwart/+", "stromwart/grid/power"));
        assert!(matches("#", "a"));
        assert!(!matches("#", "$SYS/x"));
        assert!(matches("a/b", "a/b"));
        assert!(!matches("a/b", "a/b/c"));
    }
}

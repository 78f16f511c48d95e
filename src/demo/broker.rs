//! The demo's MQTT broker: rumqttd, embedded, so `stromwart demo` needs nothing installed and
//! Home Assistant or any MQTT client can connect to it. A real broker rather than one of our
//! own: retained messages, wildcards, unsubscribe, QoS 1, keep-alive timeouts and client-id
//! takeover behave as clients expect.

use std::net::SocketAddr;

/// Discovery configs are a few KiB; Home Assistant's own messages are small.
const MAX_PAYLOAD: usize = 256 * 1024;

/// Starts the broker on `listen` in threads of its own (rumqttd runs its router and listener on
/// their own runtimes), for as long as the process runs.
pub fn start(listen: SocketAddr) -> Result<(), String> {
    // rumqttd reads its settings as serde data; the fields are those of its own TOML example.
    let config = serde_json::json!({
        "id": 0,
        "router": {
            "id": 0,
            "max_connections": 64,
            "max_outgoing_packet_count": 200,
            // Each topic keeps a small log for slow subscribers; a demo needs little of it.
            "max_segment_size": 256 * 1024,
            "max_segment_count": 4,
        },
        "v4": {
            "1": {
                "name": "demo",
                "listen": listen.to_string(),
                "next_connection_delay_ms": 1,
                "connections": {
                    "connection_timeout_ms": 60000,
                    "max_payload_size": MAX_PAYLOAD,
                    "max_inflight_count": 100,
                    "dynamic_filters": true,
                },
            },
        },
    });
    let config: rumqttd::Config =
        serde_json::from_value(config).map_err(|e| format!("broker settings: {e}"))?;
    // The listener binds inside the broker's thread; bind once here first, so that a port
    // that is taken is an error the caller can act on rather than a log line.
    std::net::TcpListener::bind(listen).map_err(|e| format!("{listen}: {e}"))?;
    std::thread::Builder::new()
        .name("mqtt-broker".into())
        .spawn(move || {
            let mut broker = rumqttd::Broker::new(config);
            if let Err(e) = broker.start() {
                tracing::error!("The demo's MQTT broker stopped: {e}");
            }
        })
        .map_err(|e| format!("cannot start the broker: {e}"))?;
    Ok(())
}

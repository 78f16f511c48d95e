//! `stromwart demo` as a new user meets it: its embedded broker behaves like a real one for any
//! MQTT client (retained discovery, wildcards, unsubscribe, QoS 1), and a command sent from
//! outside reaches the simulated battery, whose state comes back.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::bridge::{Process, binary};
use common::broker::free_port;
use common::observer::Observer;
use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet, QoS};

#[tokio::test(flavor = "multi_thread")]
async fn the_demos_broker_serves_any_client_and_a_command_reaches_the_battery() {
    let port = free_port();
    let _demo = Process(
        Command::new(binary())
            .args(["demo", "--port", &port.to_string(), "--duration", "30"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let states = Observer::connect(port, "stromwart/+/power").await;
    states
        .wait_for(15, "a power state through a wildcard", |r| {
            r.topic == "stromwart/grid/power"
        })
        .await;
    // Once the battery is up, a late subscriber (Home Assistant after a restart) gets the
    // retained discovery of every device.
    let battery = Observer::connect(port, "stromwart/battery/mode").await;
    battery.wait_value("stromwart/battery/mode", "auto").await;
    let late = Observer::connect(port, "homeassistant/device/+/config").await;
    let config = late
        .wait_for(10, "retained discovery", |r| {
            r.topic
                .starts_with("homeassistant/device/stromwart_battery")
                && r.retain
        })
        .await;
    assert!(config.payload.contains("\"mode\""), "{}", config.payload);
    // Both meters match one filter with a single-level wildcard.
    states
        .wait_for(10, "the heat pump's power too", |r| {
            r.topic == "stromwart/heatpump/power"
        })
        .await;

    // Unsubscribed, nothing more arrives.
    states
        .client
        .unsubscribe("stromwart/+/power")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    states.clear();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(states.all().is_empty(), "{:?}", states.all());

    // QoS 1: the broker acknowledges the command, the battery takes it, its state comes back.
    let mut opts = MqttOptions::new("demo-sender", "127.0.0.1", port);
    opts.set_keep_alive(Duration::from_secs(5));
    let (client, mut eventloop) = AsyncClient::new(opts, 10);
    client
        .publish(
            "stromwart/battery/mode/set",
            QoS::AtLeastOnce,
            false,
            "charge",
        )
        .await
        .unwrap();
    let acked = tokio::time::timeout(Duration::from_secs(5), async {
        let mut sent = None;
        loop {
            match eventloop.poll().await.unwrap() {
                Event::Outgoing(Outgoing::Publish(pkid)) => sent = Some(pkid),
                Event::Incoming(Packet::PubAck(ack)) if Some(ack.pkid) == sent => return,
                _ => {}
            }
        }
    })
    .await;
    assert!(acked.is_ok(), "no PUBACK for the QoS 1 command");
    battery.wait_value("stromwart/battery/mode", "charge").await;
}

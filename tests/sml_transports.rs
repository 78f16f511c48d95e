//! SML arriving the ways it does in homes: over TCP from a bridge that drops and returns, through
//! a pseudo-terminal standing in for the serial port of a reading head, and over HTTP from a
//! local bridge with basic auth. Each ends at a real mosquitto.

mod common;

use std::time::Duration;

use common::bridge::{Bridge, fixture};
use common::broker::Mosquitto;
use common::fixtures::frames_of;
use common::observer::Observer;
use common::pty::pty;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

fn meter_config(port: u16, source: &str) -> String {
    format!("mqtt:\n  port: {port}\nmeters:\n  - id: grid\n    min_interval: 0\n{source}")
}

#[tokio::test]
async fn tcp_bridge_that_drops_and_returns() {
    let broker = Mosquitto::start();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let frames = frames_of("iskra-mt175-1");
    let obs = Observer::connect(broker.port, "stromwart/#").await;
    let bridge = Bridge::start(&meter_config(
        broker.port,
        &format!("    tcp: 127.0.0.1:{}\n", addr.port()),
    ));

    // First connection: garbage, a frame cut in half, then a whole frame; then the peer drops.
    let (mut s, _) = tokio::time::timeout(Duration::from_secs(10), listener.accept())
        .await
        .unwrap()
        .unwrap();
    s.write_all(&[0x42; 300]).await.unwrap();
    s.write_all(&frames[1][..100]).await.unwrap();
    s.write_all(&frames[0]).await.unwrap();
    obs.wait_value("stromwart/grid/power", "-4308").await;
    drop(s);

    // The bridge reconnects by itself and carries on with the next frames.
    let (mut s, _) = tokio::time::timeout(Duration::from_secs(10), listener.accept())
        .await
        .unwrap()
        .unwrap();
    for f in &frames[1..4] {
        s.write_all(f).await.unwrap();
    }
    let energies: Vec<String> = frames[1..4]
        .iter()
        .map(|f| {
            let t = stromwart::sml::telegram::decode(&strip(f), None).unwrap();
            t.number("energy_import").unwrap().to_string()
        })
        .collect();
    obs.wait_value("stromwart/grid/energy_import", energies.last().unwrap())
        .await;
    let errors = obs
        .wait_for(5, "frame errors counted", |r| {
            r.topic == "stromwart/grid/frame_errors"
        })
        .await;
    assert_ne!(errors.payload, "0");
    bridge.stop().await.unwrap();
}

#[tokio::test]
async fn a_bridge_that_was_away_for_a_while_is_read_again_within_seconds() {
    let broker = Mosquitto::start();
    // A port with nobody listening: every connection attempt is refused.
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let frames = frames_of("iskra-mt175-1");
    let obs = Observer::connect(broker.port, "stromwart/grid/power").await;
    let bridge = Bridge::start(&meter_config(
        broker.port,
        &format!("    tcp: 127.0.0.1:{port}\n"),
    ));
    // Long enough for an unbounded doubling backoff to sleep for 16 s after the fourth attempt.
    tokio::time::sleep(Duration::from_secs(16)).await;

    let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    let (mut s, _) = tokio::time::timeout(Duration::from_secs(6), listener.accept())
        .await
        .expect("the bridge tries again within a few seconds of the meter's return")
        .unwrap();
    s.write_all(&frames[0]).await.unwrap();
    obs.wait_value("stromwart/grid/power", "-4308").await;
    bridge.stop().await.unwrap();
}

/// The payload of a frame without transport escapes (none of these frames contains any).
fn strip(frame: &[u8]) -> Vec<u8> {
    let mut f = stromwart::sml::Framer::new();
    let mut payload = Vec::new();
    f.push(frame, &mut |e| {
        if let stromwart::sml::FrameEvent::Frame(fr) = e {
            payload = fr.payload;
        }
    });
    payload
}

#[tokio::test]
async fn serial_port_through_a_pseudo_terminal() {
    let broker = Mosquitto::start();
    let pty = pty();
    let obs = Observer::connect(broker.port, "stromwart/#").await;
    let bridge = Bridge::start(&meter_config(
        broker.port,
        &format!("    serial_port: {}\n    baud: 9600\n", pty.path),
    ));
    tokio::time::sleep(Duration::from_millis(500)).await; // let the bridge open the port
    let frames = frames_of("holley-dtz541-1");
    // Written in small pieces, as a real line at 9600 baud delivers them.
    pty.write(frames[0].clone(), 37).await;
    obs.wait_value("stromwart/grid/power", "188").await;
    obs.wait_value("stromwart/grid/checksum", "kermit").await;
    bridge.stop().await.unwrap();
}

#[tokio::test]
async fn wrong_baud_rate_is_survived() {
    let broker = Mosquitto::start();
    let pty = pty();
    let obs = Observer::connect(broker.port, "stromwart/#").await;
    let bridge = Bridge::start(&meter_config(
        broker.port,
        &format!("    serial_port: {}\n", pty.path),
    ));
    tokio::time::sleep(Duration::from_millis(500)).await;
    // What a meter at another baud rate looks like: bytes, but never a frame.
    let noise: Vec<u8> = (0..20_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    pty.write(noise, 512).await;
    // The bridge is still alive and decodes the moment the right bytes come.
    pty.write(frames_of("iskra-mt691-1")[0].clone(), 512).await;
    obs.wait_value("stromwart/grid/power", "26").await;
    bridge.stop().await.unwrap();
}

/// A loopback HTTP server answering like a local SML bridge: raw frames, basic auth.
async fn http_bridge(body: Vec<u8>, auth: &'static str) -> (u16, tokio::task::JoinHandle<()>) {
    let expected = format!("authorization: basic {}", auth.to_lowercase());
    common::http::serve(move |head| {
        if head.contains(&expected) {
            common::http::Response::bytes(body.clone())
        } else {
            common::http::Response::json("401 Unauthorized", "")
        }
    })
    .await
}

#[tokio::test]
async fn http_bridge_with_basic_auth() {
    let broker = Mosquitto::start();
    // "admin:secret" in base64.
    let (port, server) = http_bridge(frames_of("emh-mme40-1")[0].clone(), "YWRtaW46c2VjcmV0").await;
    let obs = Observer::connect(broker.port, "stromwart/#").await;
    let source = format!(
        "    url: http://127.0.0.1:{port}/data.json\n    http_user: admin\n    http_password: secret\n    poll_interval: 0.2\n"
    );
    let bridge = Bridge::start(&meter_config(broker.port, &source));
    obs.wait_value("stromwart/grid/power", "2623").await;
    obs.wait_value("stromwart/grid/power_l1", "2353").await;
    bridge.stop().await.unwrap();
    server.abort();
}

#[tokio::test]
async fn replayed_file_feeds_the_bridge() {
    let broker = Mosquitto::start();
    let obs = Observer::connect(broker.port, "stromwart/#").await;
    let source = format!(
        "    file: {}\n    hex: true\n    replay_interval: 0\n",
        fixture("emh-ed300l-2")
    );
    let bridge = Bridge::start(&format!(
        "{}    direction_bit: 32\n",
        meter_config(broker.port, &source)
    ));
    // Both frames decode before the broker connection is up; the latest value per topic wins.
    obs.wait_value("stromwart/grid/power", "-126.5").await;
    bridge.stop().await.unwrap();
}

//! TLS to the broker: mosquitto with a certificate from a CA made for this test.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::bridge::{Bridge, fixture};
use common::broker::{free_port, scratch_dir};
use stromwart::mqtt::Link;

fn openssl(dir: &std::path::Path, args: &[&str]) {
    let ok = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl is installed (Debian package openssl)");
    assert!(ok.success(), "openssl {args:?}");
    // mosquitto started as root drops to its own user, which must be able to read the keys.
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o644));
    }
}

/// Starts mosquitto with `conf` and waits until it listens, so a failure later is about TLS.
fn broker(dir: &std::path::Path, port: u16, conf: String) -> std::process::Child {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755));
    std::fs::write(dir.join("mosquitto.conf"), conf).unwrap();
    let log = std::fs::File::create(dir.join("mosquitto.log")).unwrap();
    let child = Command::new("mosquitto")
        .arg("-c")
        .arg(dir.join("mosquitto.conf"))
        .arg("-v")
        .stderr(log)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        let log = std::fs::read_to_string(dir.join("mosquitto.log")).unwrap_or_default();
        assert!(Instant::now() < deadline, "mosquitto did not start: {log}");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

/// A key and certificate `<name>.key`/`<name>.crt` for `cn`, signed by `<ca>` or self-signed.
fn cert(dir: &std::path::Path, name: &str, cn: &str, ca: Option<&str>) {
    let (key, crt, csr) = (
        format!("{name}.key"),
        format!("{name}.crt"),
        format!("{name}.csr"),
    );
    let subj = format!("/CN={cn}");
    let Some(ca) = ca else {
        let args = [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", &subj,
            "-keyout", &key, "-out", &crt,
        ];
        return openssl(dir, &args);
    };
    openssl(
        dir,
        &[
            "req", "-newkey", "rsa:2048", "-nodes", "-subj", &subj, "-keyout", &key, "-out", &csr,
        ],
    );
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    let (ca_crt, ca_key) = (format!("{ca}.crt"), format!("{ca}.key"));
    let args = [
        "x509",
        "-req",
        "-in",
        &csr,
        "-CA",
        &ca_crt,
        "-CAkey",
        &ca_key,
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "san.ext",
        "-out",
        &crt,
    ];
    openssl(dir, &args);
}

/// A TLS broker serving `server.crt`, and the bridge trusting `<ca>.crt`.
fn tls_setup(dir: &std::path::Path, ca: &str) -> (std::process::Child, Bridge) {
    let port = free_port();
    let d = dir.display();
    let conf = format!(
        "listener {port} 127.0.0.1\nallow_anonymous true\ncertfile {d}/server.crt\nkeyfile {d}/server.key\n"
    );
    let broker = broker(dir, port, conf);
    let yaml = format!(
        "mqtt:\n  port: {port}\n  tls: true\n  ca_file: {d}/{ca}.crt\nmeters:\n  - id: grid\n    file: {}\n    hex: true\n",
        fixture("iskra-mt691-1")
    );
    (broker, Bridge::start(&yaml))
}

#[tokio::test]
async fn the_bridge_talks_tls_with_a_private_ca() {
    let dir = scratch_dir("tls");
    cert(&dir, "ca", "Test CA", None);
    cert(&dir, "server", "localhost", Some("ca"));
    let (mut broker, bridge) = tls_setup(&dir, "ca");
    let mut link = bridge.link.clone();
    let up = tokio::time::timeout(Duration::from_secs(10), link.wait_for(|l| *l == Link::Up)).await;
    let log = || std::fs::read_to_string(dir.join("mosquitto.log")).unwrap_or_default();
    assert!(up.is_ok(), "no TLS connection: {}", log());
    bridge.stop().await.unwrap();
    let _ = broker.kill();
    let _ = broker.wait();
    let text = log();
    assert!(
        text.contains("New client connected") && text.contains("as stromwart"),
        "{text}"
    );
}

#[tokio::test]
async fn an_untrusted_broker_certificate_is_refused() {
    let dir = scratch_dir("tls-bad");
    cert(&dir, "server", "localhost", None);
    cert(&dir, "other", "Other CA", None);
    let (mut broker, bridge) = tls_setup(&dir, "other");
    let mut link = bridge.link.clone();
    let _ = tokio::time::timeout(
        Duration::from_secs(5),
        link.wait_for(|l| *l != Link::Connecting),
    )
    .await;
    assert_eq!(*link.borrow(), Link::Down);
    bridge.stop().await.unwrap();
    let _ = broker.kill();
    let _ = broker.wait();
    // The broker was listening (checked before the bridge started), and no MQTT session ever
    // came up: the only difference from the test above is the CA the bridge trusts.
    let text = std::fs::read_to_string(dir.join("mosquitto.log")).unwrap_or_default();
    assert!(text.contains("running"), "{text}");
    assert!(!text.contains("New client connected"), "{text}");
}

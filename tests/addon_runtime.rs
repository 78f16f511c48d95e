//! The add-on's runtime contract: the broker from the Supervisor, and the health check that
//! Docker's HEALTHCHECK and the Supervisor's watchdog run.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::bridge::{binary, fixture, spawn_process};
use common::broker::{Mosquitto, free_port, scratch_dir};
use common::http::{Response, serve};
use stromwart::supervisor::{MqttService, mqtt_service};

const TOKEN: &str = "abc123";

/// Answers like the Supervisor's `/services/mqtt`, with `data` as the service.
async fn supervisor(data: Option<&'static str>) -> (String, tokio::task::JoinHandle<()>) {
    let (port, task) = serve(move |head| {
        if !head.contains(&format!("authorization: bearer {TOKEN}")) {
            return Response::json("401 Unauthorized", "401: Unauthorized");
        }
        if !head.starts_with("get /services/mqtt ") {
            return Response::json(
                "404 Not Found",
                r#"{"result":"error","message":"not found"}"#,
            );
        }
        match data {
            Some(d) => Response::json("200 OK", &format!(r#"{{"result":"ok","data":{d}}}"#)),
            None => Response::json(
                "400 Bad Request",
                r#"{"result":"error","message":"No mqtt service available"}"#,
            ),
        }
    })
    .await;
    (format!("http://127.0.0.1:{port}"), task)
}

#[tokio::test]
async fn the_port_may_come_as_number_or_string() {
    let (url, _s) = supervisor(Some(
        r#"{"addon":"core_mosquitto","host":"core-mosquitto","port":1883,"ssl":false,"protocol":"3.1.1","username":"addons","password":"Xx9"}"#,
    ))
    .await;
    let expected = MqttService {
        host: "core-mosquitto".into(),
        port: 1883,
        username: Some("addons".into()),
        password: Some("Xx9".into()),
        ssl: false,
    };
    assert_eq!(mqtt_service(&url, TOKEN).await, Ok(expected.clone()));

    let (url, _s) = supervisor(Some(
        r#"{"addon":"core_mosquitto","host":"core-mosquitto","port":"1884","ssl":true,"protocol":"3.1.1","username":"addons","password":"Xx9"}"#,
    ))
    .await;
    let got = mqtt_service(&url, TOKEN).await.unwrap();
    assert_eq!((got.port, got.ssl), (1884, true));
}

#[tokio::test]
async fn a_missing_service_or_a_wrong_token_says_what_to_do() {
    let (url, _s) = supervisor(None).await;
    let err = mqtt_service(&url, TOKEN).await.unwrap_err();
    assert!(err.contains("No mqtt service available"), "{err}");
    assert!(
        err.contains("install and start the Mosquitto broker add-on, or set mqtt.host"),
        "{err}"
    );

    let err = mqtt_service(&url, "wrong").await.unwrap_err();
    assert!(
        err.starts_with("the Supervisor refused the add-on's token (401 Unauthorized)"),
        "{err}"
    );

    let (bad, _s) = supervisor(Some(r#"{"host":"h","port":"eighty"}"#)).await;
    let err = mqtt_service(&bad, TOKEN).await.unwrap_err();
    assert!(err.contains("unusable MQTT port"), "{err}");

    let err = mqtt_service(&format!("http://127.0.0.1:{}", free_port()), TOKEN)
        .await
        .unwrap_err();
    assert!(err.starts_with("cannot reach the Supervisor"), "{err}");
}

fn healthcheck(config: &std::path::Path) -> (i32, String) {
    let out = Command::new(binary())
        .args(["healthcheck", "--config"])
        .arg(config)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// Polls the health check until it gives `code`, or fails with its last answer.
async fn until(config: &std::path::Path, code: i32) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (c, text) = healthcheck(config);
        if c == code {
            return text;
        }
        assert!(Instant::now() < deadline, "healthcheck gave {c}: {text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn healthcheck_follows_the_daemon_and_its_broker_connection() {
    let dir = scratch_dir("health");
    let config = dir.join("stromwart.yaml");
    let broker_port = free_port();
    let yaml = format!(
        "data_dir: {}\nmqtt:\n  host: 127.0.0.1\n  port: {broker_port}\nmeters:\n  - id: grid\n    file: {}\n    hex: true\n",
        dir.display(),
        fixture("iskra-mt691-1")
    );
    std::fs::write(&config, yaml).unwrap();

    let (code, text) = healthcheck(&config);
    assert_eq!(code, 1);
    assert!(text.contains("the daemon is not running"), "{text}");

    let mut daemon = spawn_process(&["run"], &config, &dir.join("log"));
    let text = until_unhealthy(&config).await;
    assert!(text.contains("unhealthy: the MQTT connection is"), "{text}");

    // The broker appears on the configured port; the bridge connects within its backoff.
    let _broker = Mosquitto::start_on(broker_port);
    let text = until(&config, 0).await;
    assert!(text.starts_with("healthy: Stromwart"), "{text}");

    daemon.kill();
    let (code, text) = healthcheck(&config);
    assert_eq!(code, 1, "{text}");
}

/// While the daemon is starting, the socket may not exist yet.
async fn until_unhealthy(config: &std::path::Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, text) = healthcheck(config);
        if text.contains("unhealthy") {
            return text;
        }
        assert!(Instant::now() < deadline, "{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn in_the_addon_the_broker_comes_from_the_supervisor() {
    let broker = Mosquitto::with_password("addons", "Xx9");
    let data: &'static str = Box::leak(
        format!(r#"{{"addon":"core_mosquitto","host":"127.0.0.1","port":"{}","ssl":false,"username":"addons","password":"Xx9"}}"#, broker.port)
            .into_boxed_str(),
    );
    let (url, _s) = supervisor(Some(data)).await;
    let dir = scratch_dir("addon");
    let options = dir.join("options.json");
    let json = serde_json::json!({
        "data_dir": dir.display().to_string(),
        "mqtt": {},
        "meters": [{"id": "grid", "file": fixture("iskra-mt691-1"), "hex": true, "repeat": true}],
        "log_level": "info"
    });
    std::fs::write(&options, json.to_string()).unwrap();
    let log = dir.join("log");
    let child = Command::new(binary())
        .args(["run", "--config"])
        .arg(&options)
        .env("SUPERVISOR_TOKEN", TOKEN)
        .env("STROMWART_SUPERVISOR_URL", &url)
        .env("NO_COLOR", "1")
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let _guard = common::bridge::Process(child);
    let obs =
        common::observer::Observer::connect_as(broker.port, "stromwart/#", Some(("addons", "Xx9")))
            .await;
    obs.wait_value("stromwart/grid/power", "26").await;
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("Using the MQTT broker the Supervisor announced."),
        "{text}"
    );
}

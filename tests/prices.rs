//! `stromwart prices` against loopback servers that answer like the price services, from their
//! documented formats: the slots of a local day, DST days included, and what a broken or busy
//! service makes of it.

mod common;

use std::process::Command;

use common::bridge::binary;
use common::http::{Response, serve};

/// What Energy-Charts answers for `start=2026-03-29&end=2026-03-29`: the quarter hours of that
/// local day (23 hours: the clocks go forward), a slot on either side, EUR/MWh.
fn energy_charts_dst_day() -> String {
    let from = 1_774_738_800 - 900; // 2026-03-28T23:00Z, one slot early
    let starts: Vec<i64> = (0..94).map(|i| from + i * 900).collect();
    let prices: Vec<f64> = (0..94).map(|i| 80.0 + f64::from(i % 7)).collect();
    serde_json::json!({
        "license_info": "CC BY 4.0 (creativecommons.org/licenses/by/4.0) from Bundesnetzagentur | SMARD.de",
        "unix_seconds": starts, "price": prices, "unit": "EUR / MWh", "deprecated": false
    })
    .to_string()
}

/// The slots `stromwart prices` prints, one JSON object a line; the command must succeed.
async fn slots(args: Vec<String>) -> Vec<serde_json::Value> {
    let (code, out, err) = prices(args).await;
    assert_eq!(code, 0, "{err}");
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

async fn prices(args: Vec<String>) -> (i32, String, String) {
    tokio::task::spawn_blocking(move || {
        let out = Command::new(binary())
            .arg("prices")
            .args(&args)
            .output()
            .expect("run stromwart prices");
        let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
        (
            out.status.code().unwrap_or(-1),
            text(out.stdout),
            text(out.stderr),
        )
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_day_with_the_clocks_going_forward_has_92_quarter_hours() {
    let (port, _server) = serve(|head| {
        assert!(
            head.starts_with("get /price?bzn=de-lu&start=2026-03-29&end=2026-03-29 "),
            "{head}"
        );
        Response::json("200 OK", &energy_charts_dst_day())
    })
    .await;
    let url = format!("http://127.0.0.1:{port}");
    let (code, out, err) = prices(vec![
        "--url".into(),
        url,
        "--date".into(),
        "2026-03-29".into(),
    ])
    .await;
    assert_eq!(code, 0, "{err}");
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 92);
    assert_eq!(lines[0]["start"], "2026-03-29T00:00:00+01:00");
    assert_eq!(lines[0]["end"], "2026-03-29T00:15:00+01:00");
    assert_eq!(
        lines[8]["start"], "2026-03-29T03:00:00+02:00",
        "02:00 does not exist"
    );
    assert_eq!(lines[91]["end"], "2026-03-30T00:00:00+02:00");
    assert_eq!(lines[0]["spot_eur_kwh"], 0.081);
    assert!(
        err.contains("CC BY 4.0"),
        "the credit Energy-Charts asks for: {err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_or_busy_service_is_named_with_what_it_said() {
    let (port, _server) = serve(|head| {
        if head.contains("bzn=busy") {
            let mut r = Response::json("429 Too Many Requests", "{}");
            r.headers = "Retry-After: 120\r\n".into();
            r
        } else if head.contains("bzn=down") {
            Response::json("500 Internal Server Error", "oops")
        } else if head.contains("bzn=empty") {
            Response::json(
                "200 OK",
                r#"{"unix_seconds":[],"price":[],"unit":"EUR / MWh"}"#,
            )
        } else {
            Response::json("200 OK", "<html>maintenance</html>")
        }
    })
    .await;
    let url = format!("http://127.0.0.1:{port}");
    for (zone, says) in [
        ("busy", "asks to wait 120 s before asking again (HTTP 429)"),
        ("down", "answered 500 Internal Server Error"),
        ("empty", "has no prices for 2026-11-30"),
        ("DE-LU", "not JSON"),
    ] {
        let args = vec![
            "--url".into(),
            url.clone(),
            "--zone".into(),
            zone.into(),
            "--date".into(),
            "2026-11-30".into(),
        ];
        let (code, out, err) = prices(args).await;
        assert_eq!(code, 1);
        assert!(out.is_empty());
        assert!(err.contains(says), "{zone}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let (code, _, err) = prices(vec!["--source".into(), "tibber".into()]).await;
    assert_eq!(code, 1);
    assert!(err.contains("--source tibber needs --token"), "{err}");
    let (code, _, err) = prices(vec!["--date".into(), "2026-13-01".into()]).await;
    assert_eq!(code, 1);
    assert!(err.contains("--date 2026-13-01: not a date"), "{err}");
}

/// Answers like Energy-Charts for any `start` and `end` dates: every quarter hour of those
/// local days, priced by its index (80 EUR/MWh and up).
fn energy_charts_for(head: &str) -> Response {
    let param = |key: &str| {
        head.split(['?', '&', ' '])
            .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
            .and_then(|d| d.parse::<jiff::civil::Date>().ok())
    };
    let (Some(from), Some(to)) = (param("start"), param("end")) else {
        return Response::json("400 Bad Request", "{}");
    };
    let tz = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
    let midnight = |d: jiff::civil::Date| {
        d.to_zoned_datetime(tz.clone())
            .unwrap()
            .timestamp()
            .as_second()
    };
    let (start, end) = (midnight(from), midnight(to.tomorrow().unwrap()));
    let starts: Vec<i64> = (start..end).step_by(900).collect();
    let prices: Vec<f64> = (0..starts.len()).map(|i| 80.0 + i as f64 / 10.0).collect();
    let body = serde_json::json!({
        "license_info": "CC BY 4.0", "unix_seconds": starts, "price": prices, "unit": "EUR / MWh"
    });
    Response::json("200 OK", &body.to_string())
}

#[tokio::test]
async fn the_bridge_shows_the_price_now_and_keeps_the_known_prices_when_the_service_is_down() {
    use common::bridge::Bridge;
    use common::broker::{Mosquitto, scratch_dir};
    use common::observer::Observer;
    let broker = Mosquitto::start();
    let (port, server) = serve(energy_charts_for).await;
    let data = scratch_dir("prices");
    let yaml = format!(
        "data_dir: {}\nmqtt:\n  host: 127.0.0.1\n  port: {}\nmeters:\n  - id: grid\n    file: {}\n    hex: true\n\
         prices:\n  source: energy-charts\n  url: http://127.0.0.1:{port}\n  surcharge: 1.5\n  network_fee: 8.62\n  levies: 2.5\n",
        data.display(),
        broker.port,
        common::bridge::fixture("iskra-mt691-1"),
    );
    let obs = Observer::connect(broker.port, "stromwart/site/#").await;
    let discovery = Observer::connect(broker.port, "homeassistant/#").await;
    let bridge = Bridge::start(&yaml);
    let now = obs
        .wait_for(10, "the price now", |r| {
            r.topic == "stromwart/site/price_now"
        })
        .await;
    let price: f64 = now.payload.parse().unwrap();
    // (spot from 8 ct + 1.5 + 8.62 + 2.5) × 1.19: at least 24.5 ct.
    assert!((0.245..1.0).contains(&price), "{price}");
    obs.wait_value("stromwart/site/price_status", "ok").await;
    obs.wait_for(5, "today's lowest", |r| {
        r.topic == "stromwart/site/price_min_today"
    })
    .await;
    let config = discovery
        .wait_for(5, "the site's discovery", |r| {
            r.payload.contains("price_now")
        })
        .await;
    let json: serde_json::Value = serde_json::from_str(&config.payload).unwrap();
    let entity = &json["components"]["price_now"];
    assert_eq!(
        entity["unit_of_measurement"], "EUR/kWh",
        "the Energy dashboard takes it"
    );
    assert!(
        entity.get("device_class").is_none(),
        "monetary wants a bare currency"
    );
    // The schedule for chart cards, as attributes of the price entity.
    assert_eq!(
        entity["json_attributes_topic"],
        "stromwart/site/price_now/attributes"
    );
    let attributes = obs
        .wait_for(5, "the schedule", |r| {
            r.topic == "stromwart/site/price_now/attributes"
        })
        .await;
    // Retained: a Home Assistant that comes later gets them (a new subscriber is sent them).
    let later = Observer::connect(broker.port, "stromwart/site/price_now/attributes").await;
    let kept = later.wait_for(5, "the kept schedule", |r| r.retain).await;
    assert_eq!(kept.payload, attributes.payload);
    let schedule: serde_json::Value = serde_json::from_str(&attributes.payload).unwrap();
    assert_eq!(schedule["unit"], "EUR/kWh");
    assert!(schedule["prices"].as_array().unwrap().len() >= 92);
    assert!(
        attributes.payload.len() < 16_384,
        "below Home Assistant's limit for recorded attributes"
    );
    bridge.stop().await.unwrap();
    assert!(data.join("prices.json").exists(), "the prices are kept");

    // The service is gone: the restarted bridge has the known prices, and says so.
    server.abort();
    obs.clear();
    let bridge = Bridge::start(&yaml);
    obs.wait_for(10, "the price now from the cache", |r| {
        r.topic == "stromwart/site/price_now"
    })
    .await;
    obs.wait_for(10, "the status", |r| {
        r.topic == "stromwart/site/price_status"
            && r.payload.starts_with("last known prices; fetching failed:")
    })
    .await;
    bridge.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn with_a_config_each_slot_has_the_customers_price_and_its_modul_3_window() {
    let (port, _server) = serve(energy_charts_for).await;
    let dir = common::broker::scratch_dir("prices-cli");
    let config = dir.join("stromwart.yaml");
    std::fs::write(
        &config,
        format!(
            "meters:\n  - id: grid\n    tcp: h:1\nprices:\n  source: energy-charts\n  url: http://127.0.0.1:{port}\n  surcharge: 1.5\n  levies: 2.5\n  modul3:\n    nt: 1.31\n    st: 6.54\n    ht: 8.90\n    q4: NT 00:00-06:00, HT 17:00-21:00\n"
        ),
    )
    .unwrap();
    let args = vec![
        "--config".into(),
        config.display().to_string(),
        "--date".into(),
        "2026-11-30".into(),
    ];
    let lines = slots(args).await;
    assert_eq!(lines.len(), 96);
    // 05:45: NT. Spot 80 + 23 × 0.1 = 82.3 EUR/MWh; (8.23 + 1.5 + 1.31 + 2.5) × 1.19 ct.
    assert_eq!(lines[23]["start"], "2026-11-30T05:45:00+01:00");
    assert_eq!(lines[23]["window"], "nt");
    assert_eq!(lines[23]["price_eur_kwh"], 0.16113);
    assert_eq!(lines[24]["window"], "st");
    assert_eq!(lines[68]["window"], "ht", "17:00");
}

/// A Huawei battery at 50 % and a bridge that charges it from the grid at or below 50 ct up to
/// 80 %, every slot priced about 10 ct; `battery` and `more` add to the config.
struct GridCharging {
    _broker: common::broker::Mosquitto,
    battery: common::modbus_sim::Sim,
    bridge: common::bridge::Bridge,
    obs: common::observer::Observer,
    _prices: tokio::task::JoinHandle<()>,
}

async fn grid_charging(tag: &str, battery: &str, more: &str) -> GridCharging {
    use common::broker::{Mosquitto, scratch_dir};
    use common::modbus_sim::{Sim, huawei};
    let broker = Mosquitto::start();
    let sim = Sim::tcp().await;
    huawei(&sim);
    sim.set(1, 3, 37760, &[500]); // 50 %
    // Every slot at 80 EUR/MWh and up: with no surcharges, about 9.5–10 ct/kWh with VAT.
    let (port, prices) = serve(energy_charts_for).await;
    let yaml = format!(
        "data_dir: {}\nmqtt:\n  host: 127.0.0.1\n  port: {}\n\
         batteries:\n  - id: luna\n    profile: huawei-luna2000\n    address: {}\n    connect_delay: 0\n    poll_interval: 0.5\n    min_change_interval: 0\n    rewrite_interval: 0.3\n{battery}\
         prices:\n  source: energy-charts\n  url: http://127.0.0.1:{port}\n  grid_charge:\n    battery: luna\n    below: 50\n    target: 80\n{more}",
        scratch_dir(tag).display(),
        broker.port,
        sim.url("tcp"),
    );
    let obs = common::observer::Observer::connect(broker.port, "stromwart/#").await;
    let bridge = common::bridge::Bridge::start(&yaml);
    GridCharging {
        _broker: broker,
        battery: sim,
        bridge,
        obs,
        _prices: prices,
    }
}

#[tokio::test]
async fn the_battery_charges_from_the_grid_while_cheap_and_stops_at_its_target() {
    use common::modbus_sim::holds;
    // The broker and the price service live as long as `g`.
    let g = grid_charging("prices-charge", "", "").await;
    let (battery, obs, bridge) = (&g.battery, &g.obs, g.bridge);
    obs.wait_value("stromwart/site/grid_charging", "ON").await;
    holds(battery, 47100, &[1], "forced charging").await;
    // The limit and the target are settings: a limit below the price stops the charging.
    obs.wait_value("stromwart/bridge/grid_charge_below", "50")
        .await;
    // Cleared first: the OFF of the start, before the battery was read, must not count.
    obs.clear();
    obs.send("stromwart/bridge/grid_charge_below/set", "5")
        .await;
    obs.wait_value("stromwart/site/grid_charging", "OFF").await;
    holds(battery, 47100, &[0], "too dear now").await;
    obs.send("stromwart/bridge/grid_charge_below/set", "50")
        .await;
    obs.clear();
    obs.wait_value("stromwart/site/grid_charging", "ON").await;
    // Full enough: back to the mode it had.
    battery.set(1, 3, 37760, &[800]);
    obs.wait_value("stromwart/site/grid_charging", "OFF").await;
    holds(battery, 47100, &[0], "automatic again").await;
    bridge.stop().await.unwrap();
}

#[tokio::test]
async fn while_dimmed_under_14a_the_battery_charges_from_the_grid_within_the_limit() {
    use common::modbus_sim::holds;
    /// Huawei LUNA2000: forced charging, on or off, and its power in W (two registers).
    const FORCIBLE_MODE: u16 = 47100;
    const FORCIBLE_POWER: u16 = 47247;
    let g = grid_charging(
        "prices-p14a",
        "    max_charge_power: 5000\n",
        "p14a:\n  signals:\n    - name: box\n      mqtt: box/input/0\n      debounce: 0\n\
         \x20 devices:\n    - kind: battery\n      rated_power: 5\n      battery: luna\n",
    )
    .await;
    let (battery, obs, bridge) = (&g.battery, &g.obs, g.bridge);
    obs.wait_value("stromwart/site/grid_charging", "ON").await;
    holds(battery, FORCIBLE_MODE, &[1], "forced charging").await;
    holds(battery, FORCIBLE_POWER, &[0, 5000], "at full power").await;
    // Dimmed: one device under §14a keeps 4.2 kW; the grid charging goes on within it.
    obs.send("box/input/0", "on").await;
    obs.wait_value("stromwart/site/p14a_dimmed", "ON").await;
    holds(battery, FORCIBLE_POWER, &[0, 4200], "within the limit").await;
    holds(battery, FORCIBLE_MODE, &[1], "still charging").await;
    obs.send("box/input/0", "off").await;
    holds(battery, FORCIBLE_POWER, &[0, 5000], "full power again").await;
    bridge.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn awattar_hourly_on_the_day_the_clocks_go_forward_has_23_slots() {
    // 29 March 2026 from 00:00 CET to 00:00 CEST: 23 hours, asked for in Unix milliseconds.
    let (from_ms, to_ms) = (1_774_738_800_000_i64, 1_774_821_600_000_i64);
    let (port, _server) = serve(move |head| {
        let expected = format!("get /v1/marketdata?start={from_ms}&end={to_ms} ");
        if !head.starts_with(&expected) {
            return Response::json("400 Bad Request", &format!("{{\"asked\":\"{head}\"}}"));
        }
        let data: Vec<serde_json::Value> = (0..23)
            .map(|h| {
                let start = from_ms + h * 3_600_000;
                serde_json::json!({"start_timestamp": start, "end_timestamp": start + 3_600_000,
                                   "marketprice": 60.0 + h as f64, "unit": "Eur/MWh"})
            })
            .collect();
        Response::json(
            "200 OK",
            &serde_json::json!({"object": "list", "data": data, "url": "/de/v1/marketdata"})
                .to_string(),
        )
    })
    .await;
    let args = |date: &str| {
        vec![
            "--source".to_string(),
            "awattar".into(),
            "--url".into(),
            format!("http://127.0.0.1:{port}"),
            "--date".into(),
            date.into(),
        ]
    };
    let lines = slots(args("2026-03-29")).await;
    assert_eq!(lines.len(), 23);
    assert_eq!(lines[2]["start"], "2026-03-29T03:00:00+02:00");
    assert_eq!(lines[2]["end"], "2026-03-29T04:00:00+02:00");
    assert_eq!(lines[22]["spot_eur_kwh"], 0.082);
    // Another day: the server's 400 is named, with no panic.
    let (code, _, err) = prices(args("2026-03-30")).await;
    assert_eq!(code, 1);
    assert!(err.contains("answered 400 Bad Request"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn tibber_quarter_hours_on_the_day_the_clocks_go_back_are_100_with_the_token_sent() {
    let (port, _server) = common::http::serve_exact(|head| {
        let authorised = head
            .lines()
            .any(|l| l == "authorization: Bearer secret-token");
        if !head.starts_with("POST / ") || !authorised {
            return Response::json("401 Unauthorized", "{\"errors\":[{\"message\":\"no\"}]}");
        }
        // 25 October 2026 from 00:00 CEST: 02:00–03:00 comes twice.
        let start = 1_792_879_200_i64;
        let today: Vec<serde_json::Value> = (0..100)
            .map(|q| {
                let at = jiff::Timestamp::from_second(start + q * 900)
                    .unwrap()
                    .to_zoned_datetime(jiff::tz::TimeZone::get("Europe/Berlin").unwrap());
                serde_json::json!({"total": 0.25 + q as f64 / 10_000.0, "energy": 0.1,
                    "tax": 0.15, "currency": "EUR",
                    "startsAt": at.strftime("%Y-%m-%dT%H:%M:%S%.3f%:z").to_string()})
            })
            .collect();
        let body = serde_json::json!({"data": {"viewer": {"homes": [{"currentSubscription": {
            "priceInfo": {"today": today, "tomorrow": []}}}]}}});
        Response::json("200 OK", &body.to_string())
    })
    .await;
    let args = |token: &str| {
        vec![
            "--source".to_string(),
            "tibber".into(),
            "--token".into(),
            token.into(),
            "--url".into(),
            format!("http://127.0.0.1:{port}/"),
            "--date".into(),
            "2026-10-25".into(),
        ]
    };
    let lines = slots(args("secret-token")).await;
    assert_eq!(lines.len(), 100);
    assert_eq!(lines[8]["start"], "2026-10-25T02:00:00+02:00");
    assert_eq!(lines[12]["start"], "2026-10-25T02:00:00+01:00");
    assert_eq!(lines[99]["end"], "2026-10-26T00:00:00+01:00");
    assert_eq!(
        lines[4]["spot_eur_kwh"], 0.2504,
        "Tibber's total as it comes"
    );
    let (code, _, err) = prices(args("wrong")).await;
    assert_eq!(code, 1);
    assert!(err.contains("401 Unauthorized"), "{err}");
}

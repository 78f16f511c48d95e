use super::*;
use crate::control::p14a::tally::Tally;
use crate::model::{BatteryState, WallboxState};

fn settings() -> DimmerSettings {
    DimmerSettings {
        control: Control::Ems,
        override_w: None,
        add_pv: false,
        network_price_ct: Some(8.62),
        devices: vec![
            DimmedDevice {
                name: "garage".into(),
                kind: Kind::Wallbox,
                rated_w: 11_000,
                priority: 1,
                target: Target::Wallbox(0),
            },
            DimmedDevice {
                name: "luna".into(),
                kind: Kind::Battery,
                rated_w: 5000,
                priority: 0,
                target: Target::Battery(0),
            },
        ],
        sources: vec![SourceSettings {
            name: "box".into(),
            timeout_ms: u64::MAX,
            fail_safe: true,
            debounce_ms: 0,
            dim: vec!["on".into()],
            release: vec!["off".into()],
            feed_in: None,
        }],
        topics: vec![(
            0,
            Topic {
                topic: "box/input".into(),
                availability: Some(("box/online".into(), "true".into())),
            },
        )],
        modbus: Vec::new(),
    }
}

fn house() -> Snapshot {
    let mut h = Snapshot::new(0, 1, 1);
    h.wallboxes[0] = WallboxState {
        enabled: true,
        current_a: 16,
        phases: Some(3),
        online: true,
        ..WallboxState::default()
    };
    h.batteries[0] = BatteryState {
        mode: "auto",
        charge_limit: 5000.0,
        discharge_limit: 5000.0,
        online: true,
        ..BatteryState::default()
    };
    h
}

fn wallbox(a: u8) -> Action {
    Action::Wallbox {
        wallbox: 0,
        command: WallboxCommand::Current(a),
    }
}

fn battery(w: f64) -> Action {
    Action::Battery {
        battery: 0,
        command: BatteryCommand::ChargeLimit(w),
    }
}

#[test]
fn dimming_limits_the_devices_within_the_minimum_and_ending_it_restores_them() {
    let mut d = Dimmer::new(settings(), false, Tally::default(), Now::at_s(0));
    assert_eq!(d.minimum_w(), 7560, "a wallbox and a battery under an EMS");
    let h = house();
    assert!(d.decide(&h, Now::at_s(1)).actions.is_empty());
    assert!(d.incoming("box/input", "ON", Now::at_s(2)).is_none());
    let on = d.decide(&h, Now::at_s(2));
    // The wallbox first (priority 1): 7,560 W is 10 A on three phases; the battery gets
    // what the wallbox's rated 11 kW leaves of the budget: nothing.
    assert_eq!(on.actions, [wallbox(10), battery(0.0)]);
    assert!(
        on.states
            .contains(&("p14a_allowed_power", State::Number(7560.0)))
    );
    assert!(on.states.contains(&("p14a_dimmed", State::Switch(true))));
    assert!(on.states.contains(&("p14a_rebate", State::Number(131.88))));
    assert!(d.decide(&h, Now::at_s(3)).actions.is_empty(), "sent once");
    d.incoming("box/input", "off", Now::at_s(60));
    let off = d.decide(&h, Now::at_s(60));
    assert_eq!(off.actions, [wallbox(16), battery(5000.0)]);
    assert!(
        off.log[0].message.contains("ends after 0 min"),
        "{:?}",
        off.log
    );
}

#[test]
fn the_proof_log_has_the_start_the_setpoints_each_minute_and_the_end() {
    let mut d = Dimmer::new(settings(), false, Tally::default(), Now::at_s(0));
    let mut h = house();
    d.incoming("box/input", "on", Now::at_s(10));
    d.decide(&h, Now::at_s(10));
    // The devices take their limits.
    h.wallboxes[0].current_a = 10;
    h.batteries[0].charge_limit = 0.0;
    for s in 11..=130 {
        d.decide(&h, Now::at_s(s));
    }
    d.incoming("box/input", "off", Now::at_s(131));
    d.decide(&h, Now::at_s(131));
    let records: Vec<serde_json::Value> = d
        .take_proof()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let events: Vec<&str> = records
        .iter()
        .map(|r| r["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        ["start", "setpoints", "setpoints", "setpoints", "end"]
    );
    let start = &records[0];
    assert_eq!(start["why"], "signal box");
    assert_eq!(start["minimum_w"], 7560);
    assert_eq!(start["rule"]["gzf_percent"], 80);
    assert_eq!(records[1]["devices"][0]["share_w"], 7560);
    assert_eq!(records[4]["seconds"], 121);
    assert!(d.take_proof().is_empty(), "taken once");
}

#[test]
fn a_device_not_heard_from_yet_is_limited_once_it_reports_and_set_back_to_that() {
    let mut d = Dimmer::new(settings(), false, Tally::default(), Now::at_s(0));
    let mut h = house();
    h.batteries[0].online = false;
    d.incoming("box/input", "on", Now::at_s(1));
    assert_eq!(d.decide(&h, Now::at_s(1)).actions, [wallbox(10)]);
    h.batteries[0].online = true;
    assert_eq!(d.decide(&h, Now::at_s(2)).actions, [battery(0.0)]);
    d.incoming("box/input", "off", Now::at_s(3));
    assert_eq!(
        d.decide(&h, Now::at_s(3)).actions,
        [wallbox(16), battery(5000.0)]
    );
}

#[test]
fn dimming_never_raises_a_setpoint() {
    let mut d = Dimmer::new(settings(), false, Tally::default(), Now::at_s(0));
    let mut h = house();
    h.wallboxes[0].current_a = 6;
    h.batteries[0].charge_limit = 0.0;
    d.incoming("box/input", "on", Now::at_s(1));
    // 7,560 W would allow 10 A, but the wallbox was set to 6 A.
    assert_eq!(
        d.decide(&h, Now::at_s(1)).actions,
        [wallbox(6), battery(0.0)]
    );
}

#[test]
fn a_payload_that_means_nothing_is_logged_and_changes_nothing() {
    let mut d = Dimmer::new(settings(), false, Tally::default(), Now::at_s(0));
    d.incoming("box/input", "on", Now::at_s(1));
    let r = d.incoming("box/input", "maybe", Now::at_s(2)).unwrap();
    assert!(r.message.contains("\"maybe\" is neither"), "{}", r.message);
    assert!(
        d.decide(&house(), Now::at_s(2))
            .states
            .contains(&("p14a_dimmed", State::Switch(true)))
    );
}

#[test]
fn the_sender_going_offline_dims() {
    let mut d = Dimmer::new(settings(), false, Tally::default(), Now::at_s(0));
    d.incoming("box/input", "off", Now::at_s(1));
    d.incoming("box/online", "false", Now::at_s(2));
    let r = d.decide(&house(), Now::at_s(2));
    assert!(
        r.log[0].message.contains("silent, failing safe"),
        "{:?}",
        r.log
    );
    assert_eq!(r.actions, [wallbox(10), battery(0.0)]);
}

#[test]
fn a_source_limit_and_pv_set_the_budget() {
    let mut s = settings();
    s.add_pv = true;
    let mut d = Dimmer::new(s, false, Tally::default(), Now::at_s(0));
    let mut h = house();
    h.power(Role::Pv, 1, 3000.0, Now::at_s(1));
    d.incoming("box/input", "4200", Now::at_s(1));
    let r = d.decide(&h, Now::at_s(1));
    assert!(
        r.states
            .contains(&("p14a_allowed_power", State::Number(7200.0)))
    );
    assert_eq!(r.actions, [wallbox(10), battery(0.0)]);
}

#[test]
fn a_relay_closes_while_dimmed_and_opens_after() {
    let mut s = settings();
    s.devices = vec![DimmedDevice {
        name: "heat pump".into(),
        kind: Kind::HeatPump,
        rated_w: 9000,
        priority: 0,
        target: Target::Relay(2),
    }];
    let mut d = Dimmer::new(s, false, Tally::default(), Now::at_s(0));
    d.test(60_000, Now::at_s(1));
    let r = d.decide(&house(), Now::at_s(1));
    assert_eq!(r.actions, [Action::Plug { plug: 2, on: true }]);
    assert!(r.log[0].message.contains("(a test)"));
    let r = d.decide(&house(), Now::at_s(61));
    assert_eq!(r.actions, [Action::Plug { plug: 2, on: false }]);
}

fn shown(d: &Decisions, on: Driven, key: &str) -> Option<State> {
    d.shown
        .iter()
        .find(|(o, k, _)| *o == on && *k == key)
        .map(|(_, _, s)| s.clone())
}

fn number(d: &Decisions, key: &str) -> Option<f64> {
    d.states.iter().find_map(|(k, s)| match s {
        State::Number(v) if *k == key => Some(*v),
        _ => None,
    })
}

#[test]
fn each_driven_device_shows_its_share_and_its_rated_power_when_released() {
    let mut d = Dimmer::new(settings(), false, Tally::default(), Now::at_s(0));
    let h = house();
    let r = d.decide(&h, Now::at_s(1));
    let wallbox_allowed = shown(&r, Driven::Wallbox(0), "p14a_allowed_power");
    assert_eq!(wallbox_allowed, Some(State::Number(11_000.0)));
    assert!(
        r.states
            .contains(&("p14a_reason", State::Text("released".into())))
    );
    d.incoming("box/input", "on", Now::at_s(2));
    let r = d.decide(&h, Now::at_s(2));
    let wallbox_allowed = shown(&r, Driven::Wallbox(0), "p14a_allowed_power");
    assert_eq!(wallbox_allowed, Some(State::Number(7560.0)));
    let battery_allowed = shown(&r, Driven::Battery(0), "p14a_allowed_power");
    assert_eq!(battery_allowed, Some(State::Number(0.0)));
    assert!(
        r.states
            .contains(&("p14a_reason", State::Text("signal box".into())))
    );
    assert!(
        r.diagnostics.contains(&(
            "p14a_signal_seen",
            State::Text("1970-01-01T00:00:00+00:00".into())
        )),
        "{:?}",
        r.diagnostics
    );
}

#[test]
fn minutes_and_events_count_real_dimmings_only_and_restart_each_day() {
    let mut d = Dimmer::new(settings(), false, Tally::default(), Now::at_s(0));
    let next_day = Now {
        mono_ms: 86_400_000,
        unix_ms: 86_400_000,
        utc_offset_s: 0,
    };
    let h = house();
    d.incoming("box/input", "on", Now::at_s(0));
    for s in (0..=600).step_by(10) {
        d.decide(&h, Now::at_s(s));
    }
    d.incoming("box/input", "off", Now::at_s(600));
    let r = d.decide(&h, Now::at_s(600));
    assert_eq!(number(&r, "p14a_minutes_today"), Some(10.0));
    assert_eq!(number(&r, "p14a_events_year"), Some(1.0));
    // A test dims but is not counted.
    d.test(120_000, Now::at_s(700));
    for s in (700..=900).step_by(10) {
        d.decide(&h, Now::at_s(s));
    }
    let r = d.decide(&h, Now::at_s(900));
    assert_eq!(number(&r, "p14a_minutes_today"), Some(10.0));
    assert_eq!(number(&r, "p14a_events_year"), Some(1.0));
    // The next local day starts at zero; the year keeps counting.
    let r = d.decide(&h, next_day);
    assert_eq!(number(&r, "p14a_minutes_today"), Some(0.0));
    assert_eq!(number(&r, "p14a_minutes_year"), Some(10.0));
}

#[test]
fn a_command_above_the_limit_is_lowered_and_its_wish_returns_after_the_dimming() {
    let mut d = Dimmer::new(settings(), false, Tally::default(), Now::at_s(0));
    let h = house();
    let released = d.clamp(wallbox(32)).unwrap();
    assert_eq!(released, (wallbox(32), None), "not dimmed: unchanged");
    d.incoming("box/input", "on", Now::at_s(1));
    d.decide(&h, Now::at_s(1));
    let (sent, why) = d.clamp(wallbox(14)).unwrap();
    assert_eq!(sent, wallbox(10));
    assert!(
        why.unwrap()
            .contains("14 A asked, 10 A set while the grid operator dims")
    );
    // Lower than the limit goes through, and is not raised again by the next decision.
    assert_eq!(d.clamp(wallbox(8)).unwrap(), (wallbox(8), None));
    assert!(d.decide(&h, Now::at_s(2)).actions.is_empty());
    let (sent, _) = d.clamp(battery(3000.0)).unwrap();
    assert_eq!(sent, battery(0.0));
    d.incoming("box/input", "off", Now::at_s(3));
    assert_eq!(
        d.decide(&h, Now::at_s(3)).actions,
        [wallbox(8), battery(3000.0)],
        "the last wishes come back"
    );
}

#[test]
fn a_paused_wallbox_is_not_enabled_and_a_dimming_relay_is_not_opened() {
    let mut s = settings();
    s.devices[0].priority = -1; // the battery first: nothing is left for 6 A
    s.devices[1].rated_w = 8000;
    s.devices.push(DimmedDevice {
        name: "heat pump".into(),
        kind: Kind::HeatPump,
        rated_w: 9000,
        priority: 0,
        target: Target::Relay(0),
    });
    let mut d = Dimmer::new(s, false, Tally::default(), Now::at_s(0));
    let mut h = house();
    h.plugs = vec![crate::model::PlugState::default()];
    d.incoming("box/input", "on", Now::at_s(1));
    let r = d.decide(&h, Now::at_s(1));
    assert!(r.actions.contains(&wallbox(0)), "{:?}", r.actions);
    let enable = Action::Wallbox {
        wallbox: 0,
        command: WallboxCommand::Enable(true),
    };
    let err = d.clamp(enable).unwrap_err();
    assert!(err.contains("garage stays paused"), "{err}");
    let err = d.clamp(Action::Plug { plug: 0, on: false }).unwrap_err();
    assert!(err.contains("carries the dimming of heat pump"), "{err}");
}

#[test]
fn a_device_that_does_not_follow_is_flagged_sent_again_and_cleared_when_it_does() {
    let mut d = Dimmer::new(settings(), false, Tally::default(), Now::at_s(0));
    let mut h = house();
    d.incoming("box/input", "on", Now::at_s(0));
    d.decide(&h, Now::at_s(0));
    // The battery takes its limit; the wallbox still reports 16 A.
    h.batteries[0].charge_limit = 0.0;
    let r = d.decide(&h, Now::at_s(29));
    assert!(r.log.is_empty() && r.actions.is_empty(), "within its time");
    let r = d.decide(&h, Now::at_s(30));
    assert_eq!(r.actions, [wallbox(10)], "sent again");
    assert!(
        r.log[0]
            .message
            .contains("garage does not follow its limit: 10 A sent, it reports 16 A"),
        "{:?}",
        r.log
    );
    assert_eq!(
        shown(&r, Driven::Wallbox(0), "p14a_followed"),
        Some(State::Switch(false))
    );
    assert_eq!(
        shown(&r, Driven::Battery(0), "p14a_followed"),
        Some(State::Switch(true))
    );
    assert!(d.decide(&h, Now::at_s(90)).log.is_empty(), "flagged once");
    h.wallboxes[0].current_a = 10;
    let r = d.decide(&h, Now::at_s(91));
    assert!(r.log[0].message.contains("follows its limit again"));
    assert_eq!(
        shown(&r, Driven::Wallbox(0), "p14a_followed"),
        Some(State::Switch(true))
    );
    let proof = d.take_proof();
    assert!(
        proof
            .iter()
            .any(|l| l.contains("\"event\":\"not_following\"")),
        "{proof:?}"
    );
}

#[test]
fn switching_to_direct_control_or_an_operator_figure_changes_the_minimum() {
    let mut d = Dimmer::new(settings(), false, Tally::default(), Now::at_s(0));
    d.set_control(Control::Direct);
    assert_eq!(d.minimum_w(), 8400, "two devices, 4.2 kW each");
    d.set_override(Some(6000));
    assert_eq!(d.minimum_w(), 6000);
    d.set_override(None);
    d.set_control(Control::Ems);
    assert_eq!(d.minimum_w(), 7560);
}

#[test]
fn a_heat_pump_on_a_modbus_control_keeps_its_minimum_and_a_failed_write_is_flagged() {
    let mut s = settings();
    s.devices = vec![DimmedDevice {
        name: "heat pump".into(),
        kind: Kind::HeatPump,
        rated_w: 16_000,
        priority: 0,
        target: Target::Modbus {
            device: 0,
            control: 2,
            max_w: 20_000,
        },
    }];
    let control = |value: f64| Action::Control {
        device: 0,
        control: 2,
        value,
    };
    let mut d = Dimmer::new(s, false, Tally::default(), Now::at_s(0));
    let mut h = house();
    d.incoming("box/input", "on", Now::at_s(0));
    assert_eq!(d.decide(&h, Now::at_s(0)).actions, [control(6400.0)]);
    let shown_on = shown(
        &d.decide(&h, Now::at_s(1)),
        Driven::Device(0),
        "p14a_allowed_power",
    );
    assert_eq!(shown_on, Some(State::Number(6400.0)));
    h.controls
        .insert((0, 2), Err("the device did not take the value".into()));
    let r = d.decide(&h, Now::at_s(30));
    assert!(
        r.log[0].message.contains(
            "heat pump does not follow its limit: 6400 W sent, it reports a failed write"
        ),
        "{:?}",
        r.log
    );
    assert_eq!(r.actions, [control(6400.0)], "sent again");
    d.incoming("box/input", "off", Now::at_s(40));
    assert_eq!(d.decide(&h, Now::at_s(40)).actions, [control(20_000.0)]);
}

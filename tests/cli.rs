//! The command line as people use it: exit codes, and output that says what to fix.

mod common;

use std::process::{Command, Stdio};

use common::bridge::{binary, fixture};
use common::broker::scratch_dir;
use common::modbus_sim::Sim;

fn run(args: &[&str]) -> (i32, String, String) {
    let mut cmd = Command::new(binary());
    cmd.args(args).env("NO_COLOR", "1");
    outcome(cmd)
}

/// Runs a command to its end: exit code, standard output and standard error.
fn outcome(mut cmd: Command) -> (i32, String, String) {
    let out = cmd.output().expect("run the command");
    let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
    (
        out.status.code().unwrap_or(-1),
        text(out.stdout),
        text(out.stderr),
    )
}

#[test]
fn check_config_lists_every_problem_and_fails() {
    let dir = scratch_dir("cli");
    let path = dir.join("bad.yaml");
    std::fs::write(
        &path,
        "mqtt:\n  prot: 1883\nmeters:\n  - id: grid\n    baud: 9600\n",
    )
    .unwrap();
    let (code, _, err) = run(&["check-config", path.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("has 2 problem(s)"), "{err}");
    assert!(
        err.contains("mqtt.prot: unknown key; did you mean 'port'?"),
        "{err}"
    );
    assert!(
        err.contains(
            "meters[0]: set exactly one source (serial_port, tcp, url or file); found none"
        ),
        "{err}"
    );

    let good = dir.join("good.yaml");
    std::fs::write(&good, "meters:\n  - id: grid\n    tcp: 192.168.1.5:8888\n").unwrap();
    let (code, out, _) = run(&["check-config", good.to_str().unwrap()]);
    assert_eq!(
        (code, out.trim()),
        (
            0,
            format!(
                "{}: ok: 1 meter, 0 Modbus devices, 0 plugs, 0 wallboxes, 0 batteries",
                good.display()
            )
            .as_str()
        )
    );
}

#[test]
fn run_refuses_a_bad_config_with_the_reason() {
    let dir = scratch_dir("cli");
    let path = dir.join("bad.json");
    std::fs::write(&path, r#"{"meters": [{"id": "grid", "tcp": "nohost"}]"#).unwrap();
    let (code, _, err) = run(&["run", "--config", path.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("is not valid JSON"), "{err}");
    let (code, _, err) = run(&[
        "run",
        "--config",
        dir.join("missing.yaml").to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("cannot read"), "{err}");
}

#[test]
fn sml_decode_prints_one_json_object_per_frame_and_goes_on_after_errors() {
    let (code, out, _) = run(&["sml", "decode", "--hex", &fixture("dzg-dwsb20-2")]);
    assert_eq!(code, 0);
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let frames: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l.get("server_id").is_some())
        .collect();
    let errors: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l.get("error").is_some()).collect();
    assert_eq!((frames.len(), errors.len()), (14, 3));
    assert!(
        errors
            .iter()
            .all(|e| e["skipped_bytes"].as_u64().unwrap() > 0)
    );
    let first = frames[0];
    assert_eq!(first["server_id"], "0a01445a470002632316");
    assert_eq!(first["checksum"], "x25");
    let power = first["readings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["obis"] == "1-0:16.7.0")
        .unwrap();
    assert_eq!(power["unit"], "W");
    assert!(power["value"].as_f64().unwrap() < 0.0);
}

#[test]
fn sml_decode_reads_binary_from_standard_input() {
    use std::io::Write;
    let bytes = common::fixtures::capture("holley-dtz541-1");
    let mut child = Command::new(binary())
        .args(["sml", "decode", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    let line: serde_json::Value =
        serde_json::from_slice(out.stdout.split(|&b| b == b'\n').next().unwrap()).unwrap();
    assert_eq!(line["checksum"], "kermit");
    assert_eq!(
        line["readings"][0],
        serde_json::json!({
            "obis": "1-0:1.8.0", "key": "energy_import", "value": 10793.8987, "unit": "kWh",
            "raw": 107938987, "scaler": -1, "raw_unit": "Wh", "status": 1835268
        })
    );
    let (code, _, err) = run(&["sml", "decode", "--hex", "/nonexistent"]);
    assert_eq!(code, 1);
    assert!(err.contains("cannot read /nonexistent"), "{err}");
}

#[test]
fn demo_runs_with_nothing_installed_and_shows_live_values_on_one_screen() {
    let (code, out, err) = run(&["demo", "--port", "0", "--duration", "5"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.is_empty(), "{err}");
    // Screens follow each other in a pipe, each fitting 80 × 24.
    let screens: Vec<&str> = out.split("Stromwart demo · ").skip(1).collect();
    assert!(screens.len() >= 2, "{out}");
    for screen in &screens {
        let lines: Vec<&str> = screen.trim_end().lines().collect();
        assert!(lines.len() <= 24, "{screen}");
        assert!(lines.iter().all(|l| l.chars().count() <= 80), "{screen}");
    }
    let last = screens.last().unwrap();
    assert!(last.starts_with("bridge online"), "{last}");
    // The meters, the simulated inverter and its battery, with live values.
    let line = |name: &str| {
        last.lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap_or_else(|| panic!("no {name} line in {last}"))
            .to_string()
    };
    assert!(line("Grid meter").contains(" W "), "{last}");
    assert!(line("Grid meter").contains("last telegram "), "{last}");
    assert!(line("Heat pump meter").contains(" kWh"), "{last}");
    assert!(line("PV inverter").contains(" W "), "{last}");
    assert!(line("Home battery").contains("mode auto"), "{last}");
    assert!(line("grid ").contains("house"), "{last}");
    assert!(
        last.contains("mosquitto_pub -p "),
        "how to send a command: {last}"
    );
}

#[test]
fn the_full_demo_lists_every_entity() {
    let (code, out, err) = run(&["demo", "--port", "0", "--duration", "3.5", "--full"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("bridge online"), "{out}");
    assert!(
        out.contains("Grid meter") && out.contains("Heat pump meter"),
        "{out}"
    );
    assert!(
        out.contains("PV inverter") && out.contains("Home energy"),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.trim_start().starts_with("House consumption")),
        "{out}"
    );
    assert!(out.contains("Home battery"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.trim_start().starts_with("Mode") && l.contains("auto")),
        "{out}"
    );
    let power = out
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with("Power L1"))
        .unwrap_or_default();
    assert!(power.ends_with(" W"), "{out}");
    assert!(err.is_empty(), "{err}");
}

/// Runs a command whose standard output is a pipe nobody reads any more, as after `| head`:
/// every write fails with EPIPE. Returns the exit code and standard error.
fn run_into_closed_pipe(args: Vec<String>) -> (i32, String) {
    use std::os::fd::{FromRawFd, OwnedFd};
    let mut fds = [0; 2];
    // SAFETY: pipe() fills both descriptors, which are then owned here (std::io::pipe needs a
    // newer Rust than the crate's minimum).
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let (reader, writer) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(reader);
    let mut cmd = Command::new(binary());
    cmd.args(&args).stdout(Stdio::from(writer));
    let (code, _, err) = outcome(cmd);
    (code, err)
}

#[tokio::test]
async fn no_command_panics_on_a_closed_output() {
    let sim = Sim::tcp().await;
    sim.fill(1, 4, 0, 76);
    let dir = scratch_dir("cli");
    let good = dir.join("good.yaml");
    std::fs::write(&good, "meters:\n  - id: grid\n    tcp: 192.168.1.5:8888\n").unwrap();
    let cases = [
        vec!["check-config".into(), good.display().to_string()],
        vec![
            "sml".into(),
            "decode".into(),
            "--hex".into(),
            fixture("holley-dtz541-1"),
        ],
        ["modbus", "read", "--profile", "sdm630", "--address"]
            .map(String::from)
            .into_iter()
            .chain([sim.url("tcp")])
            .collect(),
        ["p14a", "minimum", "--device", "wallbox:11"]
            .map(String::from)
            .to_vec(),
        vec!["--help".into()],
    ];
    for args in cases {
        let shown = args.join(" ");
        // The Modbus simulator answers on this runtime while the child runs.
        let (code, err) = tokio::task::spawn_blocking(move || run_into_closed_pipe(args))
            .await
            .unwrap();
        assert!(!err.contains("panicked"), "{shown}: {err}");
        assert_eq!(code, 0, "{shown}: {err}");
    }
}

/// `stromwart check-config` with its address space limited, so that a file that would exhaust
/// memory fails fast here instead of taking the machine down.
fn check_config_within_memory(path: &std::path::Path) -> (i32, String, String) {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("ulimit -v 1048576; exec \"$0\" check-config \"$1\"")
        .arg(binary())
        .arg(path);
    outcome(cmd)
}

#[test]
fn check_config_refuses_what_would_exhaust_memory() {
    let dir = scratch_dir("cli");
    // 342 bytes that expand to 9^9 values.
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
    for i in 1..9 {
        let p = i - 1;
        bomb.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    let path = dir.join("bomb.yaml");
    std::fs::write(&path, &bomb).unwrap();
    let (code, _, err) = check_config_within_memory(&path);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("expands to more than 100000 values through nested aliases"),
        "{err}"
    );

    let big = dir.join("big.yaml");
    std::fs::write(&big, "# padding\n".repeat(120_000)).unwrap();
    let (code, _, err) = check_config_within_memory(&big);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("is larger than 1024 KiB, more than a configuration can be"),
        "{err}"
    );
}

#[test]
fn check_config_takes_a_byte_order_mark_and_names_every_kind() {
    let dir = scratch_dir("cli");
    let yaml = dir.join("bom.yaml");
    std::fs::write(&yaml, "\u{feff}meters:\n  - id: grid\n    tcp: h:1\n").unwrap();
    let json = dir.join("bom.json");
    let every = common::every_kind::every_kind_of_config().to_string();
    std::fs::write(&json, format!("\u{feff}{every}")).unwrap();
    let (code, out, err) = run(&["check-config", yaml.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(": ok: 1 meter, 0 Modbus devices"), "{out}");
    let (code, out, err) = run(&["check-config", json.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.trim(),
        format!(
            "{}: ok: 4 meters, 1 Modbus device, 3 plugs, 2 wallboxes, 1 battery, §14a with 2 signals and 4 devices",
            json.display()
        )
    );
}

#[test]
fn check_config_never_echoes_secrets_or_control_characters() {
    let dir = scratch_dir("cli");
    let path = dir.join("leaky.json");
    std::fs::write(
        &path,
        r#"{"mqtt": {"username": "u", "password": false, "pr\u001b[2Jot": 1},
            "meters": [{"id": "grid", "url": "ftp://admin:hunter2@meter.local/"}]}"#,
    )
    .unwrap();
    let (code, _, err) = run(&["check-config", path.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(!err.contains("false") && !err.contains("hunter2"), "{err}");
    assert!(!err.contains('\u{1b}'), "{err:?}");
    assert!(
        err.contains("mqtt.password: expected text, got something else (not shown"),
        "{err}"
    );
    assert!(err.contains("mqtt.pr\\u{1b}[2Jot: unknown key"), "{err}");
    assert!(
        err.contains("'ftp://admin:***@meter.local/' must start with http://"),
        "{err}"
    );
}

#[test]
fn p14a_minimum_prints_the_figure_and_how_it_was_reached() {
    let (code, out, _) = run(&[
        "p14a",
        "minimum",
        "--device",
        "wallbox:11",
        "--device",
        "heat_pump:16",
    ]);
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["minimum_kw"], 9.76);
    assert_eq!(
        (json["n"].as_u64(), json["gzf"].as_f64()),
        (Some(2), Some(0.8))
    );
    assert_eq!(
        json["units"][1]["devices"],
        serde_json::json!(["heat_pump:16"])
    );
    assert_eq!(json["units"][1]["share_kw"], 6.4);

    let (code, out, _) = run(&["p14a", "minimum", "--device", "wallbox:11", "--direct"]);
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (json["minimum_kw"].as_f64(), json["control"].as_str()),
        (Some(4.2), Some("direct"))
    );

    let (code, _, err) = run(&["p14a", "minimum", "--device", "heatpump:16"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("the kind is one of wallbox, battery, heat_pump, air_conditioner"),
        "{err}"
    );
    let (code, _, err) = run(&["p14a", "minimum", "--device", "wallbox:-3"]);
    assert_eq!(code, 1);
    assert!(err.contains("rated power in kW"), "{err}");
}

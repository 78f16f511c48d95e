//! The add-on manifest and the Docker files agree with the code: every option is a config field
//! of the right type and default, every field is an option, every option is translated, and
//! the Dockerfiles only name files that exist.

#[path = "common/every_kind.rs"]
mod every_kind;

use std::collections::BTreeMap;
use std::path::Path;

use every_kind::every_kind_of_config;
use serde_json::Value;
use stromwart::config::Config;
use stromwart::reader::FieldType;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn yaml(path: &str) -> Value {
    let text = std::fs::read_to_string(Path::new(ROOT).join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    stromwart::reader::yaml::to_json(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Flattens the add-on's schema (lists by their one item) or options (every item) to
/// `mqtt.host` / `meters[].baud` → text.
fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, String>) {
    walk(prefix, v, out, false);
}

fn flatten_values(prefix: &str, v: &Value, out: &mut BTreeMap<String, String>) {
    walk(prefix, v, out, true);
}

fn walk(prefix: &str, v: &Value, out: &mut BTreeMap<String, String>, every_item: bool) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                walk(&p, v, out, every_item);
            }
        }
        Value::Array(items) => {
            let items = if every_item { &items[..] } else { &items[..1] };
            for item in items {
                walk(&format!("{prefix}[]"), item, out, every_item);
            }
        }
        Value::String(s) => {
            out.insert(prefix.to_string(), s.clone());
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}

/// Every field the config reader knows, from a config that uses every kind of source.
fn reader_fields() -> BTreeMap<String, stromwart::reader::Field> {
    let json = every_kind_of_config();
    let fields = Config::from_value(&json).unwrap().fields;
    fields
        .into_iter()
        .filter(|f| !matches!(f.ty, FieldType::Section | FieldType::List))
        .map(|f| (f.pattern.clone(), f))
        .collect()
}

/// The built-in profiles a section can use: chargers need a current limit, batteries modes.
fn profiles_for(key: &str) -> String {
    use stromwart::modbus::profile;
    let fits = |name: &&str| {
        let c = profile::built_in(name).unwrap().controls;
        match key {
            "wallboxes[].profile" => c.get("current_limit").is_some(),
            "batteries[].profile" => !c.modes.is_empty(),
            _ => true,
        }
    };
    let names: Vec<&str> = profile::built_in_names().into_iter().filter(fits).collect();
    names.join("|")
}

/// Keys that exist in the config file but are fixed in the add-on.
const NOT_IN_ADDON: [&str; 1] = ["data_dir"];

#[test]
fn addon_options_and_config_fields_match_both_ways() {
    let manifest = yaml("addon/config.yaml");
    let mut schema = BTreeMap::new();
    flatten("", &manifest["schema"], &mut schema);
    let fields = reader_fields();

    for (key, ty) in &schema {
        let f = fields
            .get(key)
            .unwrap_or_else(|| panic!("add-on option {key} is no config field"));
        let base = ty.trim_end_matches('?');
        let fits = match f.ty {
            FieldType::Str if base.starts_with("list(") => {
                // A drop-down for a text field: only for a profile, listing every built-in one
                // that fits the section.
                key.ends_with("[].profile") && base == format!("list({})", profiles_for(key))
            }
            FieldType::Str => {
                ["str", "password", "url"].contains(&base)
                    || base.starts_with("device(")
                    || base.starts_with("match(")
            }
            FieldType::Int => base == "port" || base.starts_with("int("),
            FieldType::Float => base.starts_with("float("),
            FieldType::Bool => base == "bool",
            FieldType::Choice(options) => base == format!("list({})", options.join("|")),
            FieldType::Section | FieldType::List => false,
        };
        assert!(fits, "{key}: add-on type {ty} does not fit {:?}", f.ty);
    }
    for key in fields.keys() {
        if !NOT_IN_ADDON.contains(&key.as_str()) {
            assert!(
                schema.contains_key(key),
                "config field {key} is missing from the add-on schema"
            );
        }
    }
}

#[test]
fn addon_defaults_agree_with_the_config_defaults() {
    let manifest = yaml("addon/config.yaml");
    let mut schema = BTreeMap::new();
    flatten("", &manifest["schema"], &mut schema);
    let mut options = BTreeMap::new();
    flatten_values("", &manifest["options"], &mut options);
    let fields = reader_fields();
    for (key, ty) in &schema {
        let optional = ty.ends_with('?');
        match options.get(key) {
            // The Supervisor requires a default for every key that is not optional; entries
            // of lists are filled in by the user.
            None => assert!(
                optional || key.contains("[]"),
                "{key} is required but has no default"
            ),
            Some(value) => {
                assert!(
                    !optional,
                    "{key} is optional, so it must not have a default in options"
                );
                if let Some(default) = &fields[key].default {
                    assert_eq!(
                        value, default,
                        "{key}: add-on default differs from the config default"
                    );
                }
            }
        }
    }
}

#[test]
fn every_option_is_translated_in_english_and_german() {
    let manifest = yaml("addon/config.yaml");
    for lang in ["en", "de"] {
        let t = yaml(&format!("addon/translations/{lang}.yaml"));
        let conf = &t["configuration"];
        for (key, v) in manifest["schema"].as_object().unwrap() {
            let entry = &conf[key];
            assert!(
                entry["name"].is_string() && entry["description"].is_string(),
                "{lang}: {key}"
            );
            let nested = v
                .as_object()
                .or_else(|| v.as_array().and_then(|a| a[0].as_object()));
            for sub in nested.into_iter().flat_map(|m| m.keys()) {
                let f = &entry["fields"][sub];
                assert!(
                    f["name"].is_string() && f["description"].is_string(),
                    "{lang}: {key}.{sub}"
                );
            }
        }
        assert_eq!(
            conf.as_object().unwrap().len(),
            manifest["schema"].as_object().unwrap().len(),
            "{lang}: extra keys"
        );
    }
}

#[test]
fn options_json_from_the_defaults_plus_an_example_loads() {
    let manifest = yaml("addon/config.yaml");
    let mut options = manifest["options"].clone();
    // What a user fills in on the Configuration tab: the serial port and a second meter.
    options["meters"][0]["serial_port"] = "/dev/ttyUSB0".into();
    options["meters"].as_array_mut().unwrap().push(serde_json::json!({
        "id": "heatpump", "name": "Heat pump meter", "tcp": "192.168.1.50:8888", "min_interval": 5,
        "dzg_sign_fix": true
    }));
    options["mqtt"]["discovery_mode"] = "component".into();
    let config = Config::from_value(&options)
        .unwrap_or_else(|e| panic!("{e:?}"))
        .config;
    assert_eq!(config.meters.len(), 2);
    assert_eq!(config.meters[0].name, "Grid meter");
    assert!(config.meters[1].quirks.dzg_sign_fix);
    // The defaults alone point at a meter without a source: a clear error, not a crash.
    let errors = Config::from_value(&manifest["options"]).unwrap_err();
    assert_eq!(
        errors[0].to_string(),
        "meters[0]: set exactly one source (serial_port, tcp, url or file); found none"
    );
}

#[test]
fn the_manifest_passes_the_linter_rules_we_know() {
    let m = yaml("addon/config.yaml");
    assert_eq!(
        m["version"],
        env!("CARGO_PKG_VERSION"),
        "add-on version = crate version"
    );
    assert_eq!(m["arch"], serde_json::json!(["aarch64", "amd64"]));
    assert_eq!(m["services"], serde_json::json!(["mqtt:need"]));
    assert_eq!(m["uart"], true);
    for key in ["name", "slug", "description"] {
        assert!(m[key].is_string(), "{key}");
    }
    assert!(
        m.get("watchdog").is_none(),
        "the linter rejects watchdog; the image has a HEALTHCHECK"
    );
    // Keys the linter flags when they are set to their default.
    for (key, default) in [
        ("boot", "auto"),
        ("startup", "application"),
        ("init", "true"),
        ("uart", "false"),
        ("hassio_api", "false"),
        ("homeassistant_api", "false"),
        ("host_network", "false"),
        ("ingress", "false"),
    ] {
        if let Some(v) = m.get(key) {
            assert_ne!(
                v.to_string().trim_matches('"'),
                default,
                "{key} is set to its default"
            );
        }
    }
    let changelog = std::fs::read_to_string(Path::new(ROOT).join("addon/CHANGELOG.md")).unwrap();
    assert!(changelog.contains(&format!("## {}", env!("CARGO_PKG_VERSION"))));
    assert!(yaml("repository.yaml")["name"].is_string());
}

/// Width and height of a PNG, from its IHDR chunk.
fn png_size(path: &str) -> (u32, u32) {
    let b = std::fs::read(Path::new(ROOT).join(path)).unwrap();
    assert_eq!(&b[..8], b"\x89PNG\r\n\x1a\n", "{path} is a PNG");
    let dim = |at: usize| u32::from_be_bytes(b[at..at + 4].try_into().unwrap());
    (dim(16), dim(20))
}

#[test]
fn the_addon_has_its_icon_and_logo() {
    assert_eq!(png_size("addon/icon.png"), (128, 128));
    assert_eq!(png_size("addon/logo.png"), (250, 100));
    for doc in ["addon/DOCS.md", "addon/README.md"] {
        assert!(Path::new(ROOT).join(doc).exists(), "{doc}");
    }
}

#[test]
fn dockerfiles_and_compose_reference_only_files_that_exist() {
    let dockerfile = std::fs::read_to_string(Path::new(ROOT).join("docker/Dockerfile")).unwrap();
    let mut copies = 0;
    for line in dockerfile
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from="))
    {
        let parts: Vec<&str> = line
            .split_whitespace()
            .skip(1)
            .filter(|p| !p.starts_with("--"))
            .collect();
        for src in &parts[..parts.len() - 1] {
            assert!(
                Path::new(ROOT).join(src).exists(),
                "docker/Dockerfile copies {src}, which does not exist"
            );
            copies += 1;
        }
    }
    assert!(copies >= 4);
    for target in ["standalone", "addon"] {
        assert!(
            dockerfile.contains(&format!(" AS {target}")),
            "target {target}"
        );
    }
    assert!(dockerfile.contains(r#"CMD ["/usr/local/bin/stromwart", "healthcheck"]"#));

    let compose = yaml("docker/compose.yaml");
    let build = &compose["services"]["stromwart"]["build"];
    let context = Path::new(ROOT)
        .join("docker")
        .join(build["context"].as_str().unwrap());
    assert!(context.join(build["dockerfile"].as_str().unwrap()).exists());
    for service in compose["services"].as_object().unwrap().values() {
        for volume in service["volumes"].as_array().into_iter().flatten() {
            let src = volume.as_str().unwrap().split(':').next().unwrap();
            if src.starts_with('.') {
                assert!(
                    Path::new(ROOT).join("docker").join(src).exists(),
                    "compose mounts {src}"
                );
            }
        }
    }
    // Local midnight is the container's: the compose file names the time zone.
    assert_eq!(
        compose["services"]["stromwart"]["environment"]["TZ"],
        "Europe/Berlin"
    );
    // The example config the compose file mounts is valid.
    let example = Path::new(ROOT).join("docker/stromwart.yaml");
    Config::load(&example).unwrap_or_else(|e| panic!("{e:?}"));
}

#[test]
fn the_release_workflow_builds_what_the_addon_and_docker_users_pull() {
    let addon = yaml("addon/config.yaml");
    let workflow = yaml(".github/workflows/release.yaml");
    // The Supervisor pulls `image` with {arch} replaced by its architecture.
    assert_eq!(addon["image"], "ghcr.io/stromwart/{arch}-stromwart-addon");
    let job = &workflow["jobs"]["addon"];
    let built: Vec<&str> = job["strategy"]["matrix"]["include"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["arch"].as_str().unwrap())
        .collect();
    let mut listed: Vec<&str> = addon["arch"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    listed.sort();
    let mut built_sorted = built.clone();
    built_sorted.sort();
    assert_eq!(
        built_sorted, listed,
        "an image for every architecture the add-on lists"
    );
    let build = |job: &Value| -> Value {
        job["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| {
                s["uses"]
                    .as_str()
                    .is_some_and(|u| u.starts_with("docker/build-push-action"))
            })
            .map(|s| s["with"].clone())
            .expect("a build step")
    };
    let with = build(job);
    assert_eq!(with["target"], "addon");
    assert!(
        with["tags"]
            .as_str()
            .unwrap()
            .contains("/${{ matrix.arch }}-stromwart-addon:"),
        "{with}"
    );
    let standalone = build(&workflow["jobs"]["standalone"]);
    assert_eq!(standalone["target"], "standalone");
    let dockerfile = std::fs::read_to_string(Path::new(ROOT).join("docker/Dockerfile")).unwrap();
    for w in [&with, &standalone] {
        assert_eq!(w["file"], "docker/Dockerfile");
        let target = w["target"].as_str().unwrap();
        assert!(dockerfile.contains(&format!(" AS {target}")), "{target}");
    }
    // The add-on image says which architecture it is for.
    assert!(with["build-args"].as_str().unwrap().contains("BUILD_ARCH="));
    assert!(dockerfile.contains("io.hass.arch=\"${BUILD_ARCH}\""));
}

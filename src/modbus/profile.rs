//! Device profiles: what a Modbus device holds where, as data.
//!
//! Built-in profiles are YAML files in `src/modbus/profiles/`, embedded in the binary; a user
//! describes their own device in the config with the same keys. Both are read with the config
//! reader, so a bad profile reports every problem with its path, like a bad config.

use serde_json::Value;

use super::control::Controls;
use super::value::{DataType, Fc, Order, Scale};
use crate::quantity::{self, Quantity};
use crate::reader::{ConfigError, Ctx, Section};

/// The largest read Modbus allows in one request.
pub const MAX_BLOCK: u16 = 125;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Block {
    pub fc: Fc,
    pub start: u16,
    pub count: u16,
}

impl Block {
    pub fn end(&self) -> u32 {
        u32::from(self.start) + u32::from(self.count)
    }

    pub fn contains(&self, fc: Fc, address: u16, words: u16) -> bool {
        fc == self.fc
            && address >= self.start
            && u32::from(address) + u32::from(words) <= self.end()
    }
}

/// Device facts for the Home Assistant device block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity {
    Manufacturer,
    Model,
    Serial,
    SwVersion,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Value(Quantity),
    Identity(Identity),
}

/// One value in the device, at an absolute address (or, in SunSpec models, an offset from the
/// model's ID register).
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub target: Target,
    pub fc: Fc,
    pub address: u16,
    pub ty: DataType,
    pub order: Order,
    pub scale: Scale,
    /// Address (or model offset) of a SunSpec scale-factor register.
    pub sf: Option<u16>,
    /// Power of ten from the device's unit to the published one (Wh → kWh is -3), applied with
    /// the scale so that the value is rounded once.
    pub unit_exp: i32,
    /// Flip the sign (devices that count export as positive).
    pub negate: bool,
    /// Which device the value belongs to: 0 the device itself, n the n-th meter behind it (a
    /// SunSpec meter model on an inverter's unit).
    pub part: u8,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// Key used in configs and on the command line, e.g. `sdm630`.
    pub name: String,
    pub title: String,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub unit: u8,
    pub port: u16,
    pub timeout_s: f64,
    pub pause_s: f64,
    pub connect_delay_s: f64,
    pub blocks: Vec<Block>,
    pub points: Vec<Point>,
    /// SunSpec: points per model id, placed by discovery at run time.
    pub sunspec: Vec<(u16, Vec<Point>)>,
    /// What Stromwart may write (wallboxes, batteries); empty for devices it only reads.
    pub controls: Controls,
}

const BUILT_IN: &[(&str, &str)] = &[
    ("sdm630", include_str!("profiles/sdm630.yaml")),
    ("sdm120", include_str!("profiles/sdm120.yaml")),
    ("sdm72", include_str!("profiles/sdm72.yaml")),
    ("sdm72v2", include_str!("profiles/sdm72v2.yaml")),
    ("sunspec", include_str!("profiles/sunspec.yaml")),
    ("sma", include_str!("profiles/sma.yaml")),
    (
        "huawei-sun2000",
        include_str!("profiles/huawei-sun2000.yaml"),
    ),
    ("huawei-meter", include_str!("profiles/huawei-meter.yaml")),
    (
        "huawei-luna2000",
        include_str!("profiles/huawei-luna2000.yaml"),
    ),
    (
        "kostal-plenticore",
        include_str!("profiles/kostal-plenticore.yaml"),
    ),
    ("heidelberg", include_str!("profiles/heidelberg.yaml")),
    ("alfen", include_str!("profiles/alfen.yaml")),
];

pub fn built_in_names() -> Vec<&'static str> {
    BUILT_IN.iter().map(|(n, _)| *n).collect()
}

/// A built-in profile by name.
pub fn built_in(name: &str) -> Result<Profile, String> {
    let Some((_, text)) = BUILT_IN.iter().find(|(n, _)| *n == name) else {
        return Err(format!(
            "unknown profile '{name}'; built-in profiles: {}",
            built_in_names().join(", ")
        ));
    };
    let value = crate::reader::yaml::to_json(text).map_err(|e| format!("profile {name}: {e}"))?;
    let ctx = Ctx::default();
    let profile = read(&Section::root(&ctx, &value), name);
    let (errors, _) = ctx.into_parts();
    match errors.first() {
        None => Ok(profile),
        Some(e) => Err(format!("built-in profile {name} is broken: {e}")),
    }
}

/// Reads a profile from a config section (built-in file or a user's `registers:`).
pub fn read(s: &Section<'_>, name: &str) -> Profile {
    let sunspec: Vec<(u16, Vec<Point>)> = match s.section("models") {
        models if s.has("models") => read_models(&models),
        _ => Vec::new(),
    };
    let blocks: Vec<Block> = s.list("blocks").iter().filter_map(read_block).collect();
    // Points keep their position in the file, so later checks name the right one.
    let points: Vec<(usize, Point)> = s
        .list("points")
        .iter()
        .enumerate()
        .filter_map(|(i, p)| read_point(p, false).map(|p| (i, p)))
        .collect();
    check_points(s, &blocks, &points);
    let points: Vec<Point> = points.into_iter().map(|(_, p)| p).collect();
    let profile = Profile {
        name: name.to_string(),
        title: s.string("title", name),
        manufacturer: s.opt_string("manufacturer"),
        model: s.opt_string("model"),
        unit: s.int("unit", 1, 0, 255) as u8,
        port: s.int("port", 502, 1, 65535) as u16,
        timeout_s: s.seconds("timeout", 1.0, 0.05, 60.0),
        pause_s: s.seconds("pause", 0.0, 0.0, 10.0),
        connect_delay_s: s.seconds("connect_delay", 0.0, 0.0, 30.0),
        blocks,
        points,
        sunspec,
        controls: super::control::read(s),
    };
    check_blocks(s, &profile);
    s.finish();
    profile
}

fn read_models(models: &Section<'_>) -> Vec<(u16, Vec<Point>)> {
    // Model ids are the keys; the reader only knows fixed keys, so walk the raw map.
    let mut out = Vec::new();
    for id in models.raw_keys() {
        let Ok(model) = id.parse::<u16>() else {
            models.error(&id, "model keys are SunSpec model ids (numbers)");
            continue;
        };
        let m = models.section_dyn(&id);
        let points = m
            .list("points")
            .iter()
            .filter_map(|p| read_point(p, true))
            .collect();
        m.finish();
        out.push((model, points));
    }
    models.finish_dyn();
    out
}

fn read_block(b: &Section<'_>) -> Option<Block> {
    let fc = fc(b);
    let start = b.opt_int("start", 0, 65535);
    let count = b.opt_int("count", 1, 65535);
    b.finish();
    let (Some(start), Some(count)) = (start, count) else {
        b.error("", "a block needs start and count");
        return None;
    };
    if count > i64::from(MAX_BLOCK) {
        b.error(
            "count",
            format!("{count} registers in one block; Modbus allows at most {MAX_BLOCK}"),
        );
    }
    if start + count > 65536 {
        b.error("count", "the block runs past register 65535");
    }
    Some(Block {
        fc,
        start: start as u16,
        count: count.min(i64::from(MAX_BLOCK)) as u16,
    })
}

/// The table a block or point is read from: 1 coils, 2 discrete inputs (one bit each, read
/// as a word of 0 or 1), 3 holding registers, 4 input registers.
fn fc(s: &Section<'_>) -> Fc {
    Fc::from_code(s.int("fc", 3, 1, 4)).unwrap_or(Fc::Holding)
}

fn read_point(p: &Section<'_>, in_model: bool) -> Option<Point> {
    let errors_before = p.ctx().error_count();
    let quantity = p.opt_string("quantity");
    let field = p.opt_string("identity");
    let address = if in_model {
        p.opt_int("offset", 0, 65535)
    } else {
        p.opt_int("address", 0, 65535)
    };
    let type_name = p.choice("type", DataType::NAMES, "u16");
    let len = p.int("length", 1, 1, 64) as u16;
    let order = Order::parse(p.choice("order", Order::NAMES, "abcd")).unwrap_or_default();
    let exp = p.int("scale", 0, -10, 10) as i32;
    let divisor = p.opt_float("divisor", 1e-9, 1e9).unwrap_or(1.0);
    let sf = p.opt_int("sf", 0, 65535).map(|a| a as u16);
    let unit = p.opt_string("unit");
    let negate = p.bool("negate", false);
    let fc = fc(p);
    p.finish();
    if p.ctx().error_count() > errors_before {
        return None; // already reported; checking it further would only repeat the problem
    }

    let target = match (quantity, field) {
        (Some(q), None) => match quantity::named(&q) {
            Some(q) => Target::Value(q.clone()),
            None => {
                let near = quantity::NAMED
                    .iter()
                    .map(|k| (crate::reader::edit_distance(&q, &k.key), k.key.as_ref()))
                    .filter(|(d, _)| *d <= 3)
                    .min();
                let hint = match near {
                    Some((_, k)) => format!("did you mean '{k}'?"),
                    None => "the known ones are listed in docs/adding-a-device.md".into(),
                };
                p.error("quantity", format!("unknown quantity '{q}'; {hint}"));
                return None;
            }
        },
        (None, Some(f)) => Target::Identity(match f.as_str() {
            "manufacturer" => Identity::Manufacturer,
            "model" => Identity::Model,
            "serial" => Identity::Serial,
            "sw_version" => Identity::SwVersion,
            other => {
                p.error(
                    "identity",
                    format!("'{other}' is not one of: manufacturer, model, serial, sw_version"),
                );
                return None;
            }
        }),
        _ => {
            p.error("", "a point needs either quantity or identity");
            return None;
        }
    };
    let Some(address) = address else {
        p.error(if in_model { "offset" } else { "address" }, "required");
        return None;
    };
    let ty = DataType::parse(type_name, len)?;
    let unit_exp = match (&target, unit.as_deref()) {
        (_, None) => 0,
        (Target::Value(q), Some(u)) => match unit_exp(u, q.kind.info().unit) {
            Some(e) => e,
            None => {
                p.error(
                    "unit",
                    format!(
                        "cannot convert '{u}' to {}",
                        q.kind.info().unit.unwrap_or("a plain number")
                    ),
                );
                0
            }
        },
        (Target::Identity(_), Some(_)) => 0,
    };
    Some(Point {
        target,
        fc,
        address: address as u16,
        ty,
        order,
        scale: Scale { exp, divisor },
        sf,
        unit_exp,
        negate,
        part: 0,
    })
}

/// Factor from a device unit to the unit a quantity is published in.
fn unit_exp(from: &str, to: Option<&str>) -> Option<i32> {
    let to = to?;
    if from == to {
        return Some(0);
    }
    Some(match (from, to) {
        ("Wh", "kWh") | ("mA", "A") => -3,
        ("MWh", "kWh") | ("kW", "W") | ("kVA", "VA") | ("kvar", "var") => 3,
        _ => return None,
    })
}

/// Blocks must not overlap, and every point must lie inside one, so that what is read is
/// exactly what was declared (implicit merging has bitten other projects).
fn check_blocks(s: &Section<'_>, p: &Profile) {
    let mut blocks = p.blocks.clone();
    blocks.sort();
    for pair in blocks.windows(2) {
        if pair[0].fc == pair[1].fc && pair[0].end() > u32::from(pair[1].start) {
            s.error(
                "blocks",
                format!(
                    "blocks at {} and {} (function code {}) overlap",
                    pair[0].start, pair[1].start, pair[0].fc as u8
                ),
            );
        }
    }
    if p.points.is_empty() && p.sunspec.is_empty() {
        s.error("points", "a profile needs at least one point");
    }
}

/// Every point must lie inside a block (with its scale-factor register).
fn check_points(s: &Section<'_>, blocks: &[Block], points: &[(usize, Point)]) {
    for (i, point) in points {
        let covered = |address, words| blocks.iter().any(|b| b.contains(point.fc, address, words));
        let missing = [(point.address, point.ty.words())]
            .into_iter()
            .chain(point.sf.map(|a| (a, 1)))
            .find(|&(a, n)| !covered(a, n));
        if let Some((address, _)) = missing {
            s.error(&format!("points[{i}]"), format!(
                "register {address} (function code {}) is not inside any block; add it to blocks",
                point.fc as u8
            ));
        }
    }
}

/// Parses a user-defined profile given in the config as JSON.
pub fn from_value(value: &Value, name: &str) -> Result<Profile, Vec<ConfigError>> {
    let ctx = Ctx::default();
    let profile = read(&Section::root(&ctx, value), name);
    let (errors, _) = ctx.into_parts();
    if errors.is_empty() {
        Ok(profile)
    } else {
        Err(errors)
    }
}

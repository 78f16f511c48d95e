//! Writable registers, as data next to a profile's read points: what Stromwart may set on a
//! device, how a value is encoded, which values go in at start, and which writes each battery
//! mode stands for.
//!
//! ```yaml
//! controls:
//!   current_limit: { address: 261, type: u16, scale: -1, min: 0, max: 16 }
//!   standby: { address: 258, type: u16, value: 4 }
//! rewrite_interval: 25
//! modes:
//!   charge: [forcible_power = charge_limit, forcible_mode = 1]
//! ```

use super::value::{DataType, Fc, Order, Scale};
use crate::reader::Section;

/// The battery modes a profile may define, in the order Home Assistant offers them.
pub const MODES: [&str; 4] = ["auto", "hold", "charge", "discharge"];

/// A register and how its value is laid out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Register {
    /// Absolute, or counted from the model's ID register when the control names a model.
    pub address: u16,
    pub ty: DataType,
    pub order: Order,
    pub scale: Scale,
    /// A SunSpec scale-factor register, read before each write.
    pub sf: Option<u16>,
}

/// A register Stromwart writes.
#[derive(Debug, Clone, PartialEq)]
pub struct Writable {
    pub name: String,
    /// 6 (write single register) or 16 (write multiple): some devices accept only one.
    pub fc: u8,
    /// SunSpec model whose ID register `reg.address` and `sf` count from.
    pub model: Option<u16>,
    pub reg: Register,
    /// The range of the value in device units, after scaling; writes outside are refused.
    pub min: f64,
    pub max: f64,
    /// Written at start, before any command.
    pub value: Option<f64>,
    /// The value is a share of this register (SunSpec storage rates are % of WChaMax); the
    /// control is set in the register's unit and written as a percentage.
    pub percent_of: Option<Register>,
}

/// A number a mode writes: fixed, or one of the battery's limits (optionally negated).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Operand {
    Fixed(f64),
    ChargeLimit { negate: bool },
    DischargeLimit { negate: bool },
}

impl Operand {
    pub fn resolve(self, charge_limit: f64, discharge_limit: f64) -> f64 {
        let sign = |negate: bool| if negate { -1.0 } else { 1.0 };
        match self {
            Self::Fixed(v) => v,
            Self::ChargeLimit { negate } => sign(negate) * charge_limit,
            Self::DischargeLimit { negate } => sign(negate) * discharge_limit,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Write {
    /// Index into [`Controls::writable`].
    pub control: usize,
    pub value: Operand,
}

/// A register holding the device's state as a code, and what each code means.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub fc: Fc,
    pub reg: Register,
    pub values: Vec<(String, String)>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Controls {
    pub writable: Vec<Writable>,
    /// Battery modes in [`MODES`] order, with the writes that put the device in each.
    pub modes: Vec<(&'static str, Vec<Write>)>,
    pub status: Option<Status>,
    /// How often setpoints in force are written again, so that the device's own fallback
    /// timer never runs out.
    pub rewrite_interval_s: Option<f64>,
}

impl Controls {
    pub fn get(&self, name: &str) -> Option<&Writable> {
        self.writable.iter().find(|w| w.name == name)
    }

    pub fn mode(&self, name: &str) -> Option<&[Write]> {
        self.modes
            .iter()
            .find(|(m, _)| *m == name)
            .map(|(_, w)| w.as_slice())
    }
}

/// Reads `controls`, `modes`, `status` and `rewrite_interval` of a profile.
pub fn read(s: &Section<'_>) -> Controls {
    let mut c = Controls {
        rewrite_interval_s: s
            .has("rewrite_interval")
            .then(|| s.seconds("rewrite_interval", 30.0, 0.1, 3600.0)),
        ..Controls::default()
    };
    if s.has("controls") {
        let map = s.section("controls");
        for name in map.raw_keys() {
            let w = map.section_dyn(&name);
            if let Some(control) = read_writable(&w, &name) {
                c.writable.push(control);
            }
        }
        map.finish_dyn();
    }
    if s.has("modes") {
        let modes = s.section("modes");
        for mode in MODES {
            if !modes.has(mode) {
                continue;
            }
            let writes = modes
                .strings(mode)
                .into_iter()
                .filter_map(|(path, text)| read_write(s, &c.writable, &path, &text))
                .collect();
            c.modes.push((mode, writes));
        }
        modes.finish();
        if !c.modes.iter().any(|(m, _)| *m == "auto") {
            s.error(
                "modes",
                "a battery needs an 'auto' mode: what it does on its own",
            );
        }
    }
    if s.has("status") {
        let st = s.section("status");
        let fc = if st.int("fc", 3, 3, 4) == 4 {
            Fc::Input
        } else {
            Fc::Holding
        };
        let reg = read_register(&st);
        let values = st.section("values");
        let mut pairs = Vec::new();
        for code in values.raw_keys() {
            match values.raw_value(&code).and_then(|v| v.as_str()) {
                Some(m) => pairs.push((code, m.to_string())),
                None => values.error(&code, "expected text, e.g. charging"),
            }
        }
        st.finish();
        if let Some(reg) = reg {
            c.status = Some(Status {
                fc,
                reg,
                values: pairs,
            });
        }
    }
    c
}

fn read_register(s: &Section<'_>) -> Option<Register> {
    let errors_before = s.ctx().error_count();
    let address = s.opt_int("address", 0, 65535);
    let type_name = s.choice("type", DataType::NAMES, "u16");
    let len = s.int("length", 1, 1, 64) as u16;
    let order = Order::parse(s.choice("order", Order::NAMES, "abcd")).unwrap_or_default();
    let exp = s.int("scale", 0, -10, 10) as i32;
    let divisor = s.opt_float("divisor", 1e-9, 1e9).unwrap_or(1.0);
    let sf = s.opt_int("sf", 0, 65535).map(|a| a as u16);
    let Some(address) = address else {
        s.error("address", "required");
        return None;
    };
    if s.ctx().error_count() > errors_before {
        return None;
    }
    Some(Register {
        address: address as u16,
        ty: DataType::parse(type_name, len)?,
        order,
        scale: Scale { exp, divisor },
        sf,
    })
}

fn read_writable(s: &Section<'_>, name: &str) -> Option<Writable> {
    let fc = s.int("fc", 16, 6, 16) as u8;
    let model = s.opt_int("model", 1, 65535).map(|m| m as u16);
    let min = s.opt_float("min", -1e12, 1e12);
    let max = s.opt_float("max", -1e12, 1e12);
    let value = s.opt_float("value", -1e12, 1e12);
    let percent_of = s
        .has("percent_of")
        .then(|| read_register(&s.section("percent_of")))
        .flatten();
    let reg = read_register(s);
    s.finish();
    if fc != 6 && fc != 16 {
        s.error(
            "fc",
            "writes use function code 6 (one register) or 16 (several)",
        );
    }
    let reg = reg?;
    if fc == 6 && reg.ty.words() != 1 {
        s.error(
            "fc",
            "function code 6 writes one register; use 16 for this type",
        );
    }
    let (min, max) = (min.unwrap_or(f64::MIN), max.unwrap_or(f64::MAX));
    if min > max {
        s.error("min", "must not be above max");
    }
    if let Some(v) = value.filter(|v| !(min..=max).contains(v)) {
        s.error("value", format!("{v} is outside min..max"));
    }
    Some(Writable {
        name: name.to_string(),
        fc,
        model,
        reg,
        min,
        max,
        value,
        percent_of,
    })
}

/// `name = value`, where value is a number or `[-]charge_limit` / `[-]discharge_limit`.
fn read_write(s: &Section<'_>, controls: &[Writable], path: &str, text: &str) -> Option<Write> {
    let err = |m: String| s.ctx().error(path, m);
    let Some((name, value)) = text.split_once('=') else {
        err(format!("'{text}' should read 'control = value'"));
        return None;
    };
    let (name, value) = (name.trim(), value.trim());
    let Some(control) = controls.iter().position(|c| c.name == name) else {
        err(format!("'{name}' is not one of this profile's controls"));
        return None;
    };
    let (negate, word) = match value.strip_prefix('-') {
        Some(rest) if rest.parse::<f64>().is_err() => (true, rest.trim()),
        _ => (false, value),
    };
    let value = match word {
        "charge_limit" => Operand::ChargeLimit { negate },
        "discharge_limit" => Operand::DischargeLimit { negate },
        n => match n.parse::<f64>() {
            Ok(v) => Operand::Fixed(v),
            Err(_) => {
                err(format!(
                    "'{value}' is not a number, charge_limit or discharge_limit"
                ));
                return None;
            }
        },
    };
    Some(Write { control, value })
}

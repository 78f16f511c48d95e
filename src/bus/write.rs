//! Carrying out a write on a device: place the control (SunSpec models move), check its range,
//! scale it with the scale factors the device reports now, encode, write, and read it back.
//! Scale factors are read before every write because a SunSpec device may change them, and a
//! value written with a stale one is off by a power of ten (evcc #16008).

use std::time::Duration;

use super::connection::{Bus, ReadError};
use crate::modbus::control::{Register, Writable};
use crate::modbus::sunspec::Model;
use crate::modbus::value::{self, Fc, Raw, Scale};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WriteError {
    /// Stromwart refused before asking the device.
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Device(#[from] ReadError),
    #[error("the device did not take the value: wrote {wrote:?}, reads back {reads:?}")]
    NotTaken { wrote: Vec<u16>, reads: Vec<u16> },
}

/// One device's end of the bus: where its requests go and how long they may take.
pub struct Target<'a> {
    pub bus: &'a mut Bus,
    pub unit: u8,
    pub timeout: Duration,
    /// Wait before each request: RS-485 devices and gateways need a gap (Heidelberg: 100 ms).
    pub pause: Duration,
    /// SunSpec models found on the device, for controls that count from one.
    pub models: &'a [Model],
}

impl Target<'_> {
    /// Writes `value` (in the control's unit) and checks that the device holds it.
    pub async fn write(&mut self, c: &Writable, value: f64) -> Result<(), WriteError> {
        let reg = self.place(c.model, c.reg, &c.name)?;
        let mut v = value;
        if let Some(of) = c.percent_of {
            let of = self.place(c.model, of, &c.name)?;
            let base = self.read_number(&of).await?;
            if base.is_nan() || base <= 0.0 {
                return Err(WriteError::Refused(format!(
                    "{}: the device reports {base} as its maximum, so a share of it cannot be set",
                    c.name
                )));
            }
            v = value / base * 100.0;
        }
        if !(c.min..=c.max).contains(&v) {
            let shown = if c.percent_of.is_some() {
                format!("{value} ({v:.1} % of the device's maximum)")
            } else {
                format!("{value}")
            };
            return Err(WriteError::Refused(format!(
                "{}: {shown} is outside {}..{}",
                c.name, c.min, c.max
            )));
        }
        let scale = self.scale(&reg).await?;
        let device = v / 10f64.powi(scale.exp) * scale.divisor;
        let raw = match reg.ty {
            value::DataType::F32 | value::DataType::F64 => Raw::Float(device),
            _ => Raw::Int(device.round() as i128),
        };
        let words = value::encode(&raw, reg.ty, reg.order).ok_or_else(|| {
            WriteError::Refused(format!(
                "{}: {value} does not fit a {:?} register",
                c.name, reg.ty
            ))
        })?;
        pause(self.pause).await;
        self.bus
            .write(self.unit, c.fc, reg.address, &words, self.timeout)
            .await?;
        let reads = self.read_words(Fc::Holding, &reg).await?;
        if reads != words {
            return Err(WriteError::NotTaken {
                wrote: words,
                reads,
            });
        }
        Ok(())
    }

    /// The value a control holds now, in its unit (before any percent conversion).
    pub async fn read_control(&mut self, c: &Writable) -> Result<f64, WriteError> {
        let reg = self.place(c.model, c.reg, &c.name)?;
        let v = self.read_number(&reg).await?;
        match c.percent_of {
            None => Ok(v),
            Some(of) => {
                let of = self.place(c.model, of, &c.name)?;
                Ok(v * self.read_number(&of).await? / 100.0)
            }
        }
    }

    /// A register as text or number, for status codes.
    pub async fn read_raw(&mut self, fc: Fc, reg: &Register) -> Result<Option<Raw>, WriteError> {
        let words = self.read_words(fc, reg).await?;
        Ok(value::decode(&words, reg.ty, reg.order))
    }

    async fn read_number(&mut self, reg: &Register) -> Result<f64, WriteError> {
        let raw = self.read_raw(Fc::Holding, reg).await?;
        let scale = self.scale(reg).await?;
        raw.as_ref()
            .and_then(|r| value::apply(r, scale))
            .ok_or_else(|| {
                WriteError::Refused(format!(
                    "register {} holds no value (a 'not implemented' marker)",
                    reg.address
                ))
            })
    }

    async fn read_words(&mut self, fc: Fc, reg: &Register) -> Result<Vec<u16>, WriteError> {
        pause(self.pause).await;
        Ok(self
            .bus
            .read(self.unit, fc, reg.address, reg.ty.words(), self.timeout)
            .await?)
    }

    async fn scale(&mut self, reg: &Register) -> Result<Scale, WriteError> {
        let Some(sf) = reg.sf else {
            return Ok(reg.scale);
        };
        pause(self.pause).await;
        let word = self
            .bus
            .read(self.unit, Fc::Holding, sf, 1, self.timeout)
            .await?;
        let exp = value::sunspec_sf(word[0]).ok_or_else(|| {
            WriteError::Refused(format!(
                "the scale factor at {sf} reads {:#06x}, which is not a usable scale factor",
                word[0]
            ))
        })?;
        Ok(Scale {
            exp: reg.scale.exp + exp,
            ..reg.scale
        })
    }

    /// Moves a register that counts from a SunSpec model to where this device has it.
    fn place(&self, model: Option<u16>, reg: Register, name: &str) -> Result<Register, WriteError> {
        let Some(id) = model else { return Ok(reg) };
        let m = self.models.iter().find(|m| m.id == id).ok_or_else(|| {
            WriteError::Refused(format!(
                "{name}: the device does not announce SunSpec model {id}"
            ))
        })?;
        Ok(Register {
            address: m.address.saturating_add(reg.address),
            sf: reg.sf.map(|o| m.address.saturating_add(o)),
            ..reg
        })
    }
}

async fn pause(gap: Duration) {
    if !gap.is_zero() {
        tokio::time::sleep(gap).await;
    }
}

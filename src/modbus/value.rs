//! Register words to values: data types, byte and word orders, scaling, "not implemented"
//! sentinels. Pure functions, shared by reading and writing.

/// Which register table a value lives in, by the function code that reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fc {
    /// Bits, read as one word each (0 or 1), so that profiles decode them like registers.
    Coil = 1,
    Discrete = 2,
    Holding = 3,
    Input = 4,
}

impl Fc {
    pub fn from_code(code: i64) -> Option<Fc> {
        match code {
            1 => Some(Fc::Coil),
            2 => Some(Fc::Discrete),
            3 => Some(Fc::Holding),
            4 => Some(Fc::Input),
            _ => None,
        }
    }
}

/// How a value is laid out in registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataType {
    U16,
    I16,
    U32,
    I32,
    U64,
    I64,
    F32,
    F64,
    /// ASCII text in this many registers (two characters each).
    Str(u16),
}

impl DataType {
    pub const NAMES: &'static [&'static str] = &[
        "u16", "i16", "u32", "i32", "u64", "i64", "f32", "f64", "str",
    ];

    pub fn parse(name: &str, len: u16) -> Option<Self> {
        Some(match name {
            "u16" => Self::U16,
            "i16" => Self::I16,
            "u32" => Self::U32,
            "i32" => Self::I32,
            "u64" => Self::U64,
            "i64" => Self::I64,
            "f32" => Self::F32,
            "f64" => Self::F64,
            "str" => Self::Str(len.max(1)),
            _ => return None,
        })
    }

    /// Registers the value occupies.
    pub fn words(self) -> u16 {
        match self {
            Self::U16 | Self::I16 => 1,
            Self::U32 | Self::I32 | Self::F32 => 2,
            Self::U64 | Self::I64 | Self::F64 => 4,
            Self::Str(n) => n,
        }
    }
}

/// Byte and word order: ABCD is big-endian words, high word first (the Modbus default);
/// CDAB swaps words (Kostal, "low word first"); BADC swaps bytes; DCBA swaps both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    #[default]
    Abcd,
    Cdab,
    Badc,
    Dcba,
}

impl Order {
    pub const NAMES: &'static [&'static str] = &["abcd", "cdab", "badc", "dcba"];

    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "abcd" => Self::Abcd,
            "cdab" => Self::Cdab,
            "badc" => Self::Badc,
            "dcba" => Self::Dcba,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Raw {
    Int(i128),
    Float(f64),
    Text(String),
}

/// The bytes of `words` in big-endian order after undoing `order`.
fn bytes(words: &[u16], order: Order) -> Vec<u8> {
    let mut w: Vec<u16> = words.to_vec();
    if matches!(order, Order::Cdab | Order::Dcba) {
        w.reverse();
    }
    w.iter()
        .flat_map(|x| {
            let b = x.to_be_bytes();
            if matches!(order, Order::Badc | Order::Dcba) {
                [b[1], b[0]]
            } else {
                b
            }
        })
        .collect()
}

/// Decodes `words` (exactly `ty.words()` of them). `None` for a "not implemented" sentinel:
/// 0x8000, 0xFFFF, 0x80000000, 0xFFFFFFFF and their 64-bit forms, and NaN, which SunSpec, SMA and
/// Huawei devices use for values they do not have.
pub fn decode(words: &[u16], ty: DataType, order: Order) -> Option<Raw> {
    let b = bytes(words, order);
    let be = |n: usize| {
        b[..n]
            .iter()
            .fold(0u64, |acc, &x| (acc << 8) | u64::from(x))
    };
    Some(match ty {
        DataType::U16 => Raw::Int(i128::from(nonsentinel(be(2), u64::from(u16::MAX))?)),
        DataType::I16 => Raw::Int(i128::from(nonsentinel_signed(
            be(2) as u16 as i16 as i64,
            i64::from(i16::MIN),
        )?)),
        DataType::U32 => Raw::Int(i128::from(nonsentinel(be(4), u64::from(u32::MAX))?)),
        DataType::I32 => Raw::Int(i128::from(nonsentinel_signed(
            be(4) as u32 as i32 as i64,
            i64::from(i32::MIN),
        )?)),
        DataType::U64 => Raw::Int(i128::from(nonsentinel(be(8), u64::MAX)?)),
        DataType::I64 => Raw::Int(i128::from(nonsentinel_signed(be(8) as i64, i64::MIN)?)),
        DataType::F32 => Raw::Float(finite(as_written(f32::from_bits(be(4) as u32)))?),
        DataType::F64 => Raw::Float(finite(f64::from_bits(be(8)))?),
        DataType::Str(_) => {
            let text: String = b
                .iter()
                .take_while(|&&c| c != 0)
                .map(|&c| c as char)
                .collect();
            Raw::Text(text.trim().to_string())
        }
    })
}

/// Encodes a value as `ty` in `order`: the inverse of [`decode`]. `None` when it does not fit.
pub fn encode(raw: &Raw, ty: DataType, order: Order) -> Option<Vec<u16>> {
    let n = usize::from(ty.words()) * 2;
    let be: Vec<u8> = match (raw, ty) {
        (Raw::Int(v), DataType::U16) => u16::try_from(*v).ok()?.to_be_bytes().to_vec(),
        (Raw::Int(v), DataType::I16) => i16::try_from(*v).ok()?.to_be_bytes().to_vec(),
        (Raw::Int(v), DataType::U32) => u32::try_from(*v).ok()?.to_be_bytes().to_vec(),
        (Raw::Int(v), DataType::I32) => i32::try_from(*v).ok()?.to_be_bytes().to_vec(),
        (Raw::Int(v), DataType::U64) => u64::try_from(*v).ok()?.to_be_bytes().to_vec(),
        (Raw::Int(v), DataType::I64) => i64::try_from(*v).ok()?.to_be_bytes().to_vec(),
        (Raw::Float(f), DataType::F32) => (*f as f32).to_be_bytes().to_vec(),
        (Raw::Float(f), DataType::F64) => f.to_be_bytes().to_vec(),
        (Raw::Text(t), DataType::Str(_)) => {
            let mut b = t.as_bytes().to_vec();
            if b.len() > n {
                return None;
            }
            b.resize(n, 0);
            b
        }
        _ => return None,
    };
    let mut words: Vec<u16> = be
        .chunks(2)
        .map(|c| {
            let (hi, lo) = if matches!(order, Order::Badc | Order::Dcba) {
                (c[1], c[0])
            } else {
                (c[0], c[1])
            };
            u16::from_be_bytes([hi, lo])
        })
        .collect();
    if matches!(order, Order::Cdab | Order::Dcba) {
        words.reverse();
    }
    Some(words)
}

fn nonsentinel(v: u64, all_ones: u64) -> Option<u64> {
    (v != all_ones).then_some(v)
}

fn nonsentinel_signed(v: i64, min: i64) -> Option<i64> {
    (v != min).then_some(v)
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// Scaling of a raw value: ×10^exp and ÷divisor, with one rounding step for integers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale {
    pub exp: i32,
    pub divisor: f64,
}

impl Default for Scale {
    fn default() -> Self {
        Self {
            exp: 0,
            divisor: 1.0,
        }
    }
}

pub fn apply(raw: &Raw, scale: Scale) -> Option<f64> {
    let v = match *raw {
        Raw::Int(m) => {
            // Dividing two exact integers rounds once: 2301 × 10^-1 is exactly the double
            // nearest 230.1.
            let (num, den) = if scale.exp >= 0 {
                (m as f64 * 10f64.powi(scale.exp), scale.divisor)
            } else {
                (m as f64, scale.divisor * 10f64.powi(-scale.exp))
            };
            num / den
        }
        Raw::Float(f) => f * 10f64.powi(scale.exp) / scale.divisor,
        Raw::Text(_) => return None,
    };
    v.is_finite().then_some(v)
}

/// A SunSpec scale factor register (int16, 0x8000 = not implemented).
pub fn sunspec_sf(word: u16) -> Option<i32> {
    let sf = word as i16;
    (sf != i16::MIN && (-10..=10).contains(&sf)).then_some(i32::from(sf))
}

/// A float32 as the device meant it: the shortest decimal that reads back as the same float32
/// (240.1), not its exact binary value widened to 64 bits (240.10000610351563).
fn as_written(f: f32) -> f64 {
    f.to_string().parse().unwrap_or(f64::from(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_four_orders_of_a_float() {
        // 230.5 as f32 is 0x43668000.
        let abcd = [0x4366, 0x8000];
        assert_eq!(
            decode(&abcd, DataType::F32, Order::Abcd),
            Some(Raw::Float(230.5))
        );
        assert_eq!(
            decode(&[0x8000, 0x4366], DataType::F32, Order::Cdab),
            Some(Raw::Float(230.5))
        );
        assert_eq!(
            decode(&[0x6643, 0x0080], DataType::F32, Order::Badc),
            Some(Raw::Float(230.5))
        );
        assert_eq!(
            decode(&[0x0080, 0x6643], DataType::F32, Order::Dcba),
            Some(Raw::Float(230.5))
        );
    }

    #[test]
    fn encoding_is_the_inverse_of_decoding() {
        for order in [Order::Abcd, Order::Cdab, Order::Badc, Order::Dcba] {
            for (raw, ty) in [
                (Raw::Float(230.5), DataType::F32),
                (Raw::Float(-1.25e9), DataType::F64),
                (Raw::Int(-7), DataType::I32),
                (Raw::Int(123_456_789_012), DataType::U64),
                (Raw::Int(-2), DataType::I16),
            ] {
                let words = encode(&raw, ty, order).unwrap();
                assert_eq!(decode(&words, ty, order), Some(raw), "{ty:?} {order:?}");
            }
        }
        assert_eq!(encode(&Raw::Int(70_000), DataType::U16, Order::Abcd), None);
    }

    #[test]
    fn integers_and_sentinels() {
        assert_eq!(
            decode(&[0xfffe], DataType::I16, Order::Abcd),
            Some(Raw::Int(-2))
        );
        assert_eq!(decode(&[0x8000], DataType::I16, Order::Abcd), None);
        assert_eq!(decode(&[0xffff], DataType::U16, Order::Abcd), None);
        assert_eq!(decode(&[0x8000, 0x0000], DataType::I32, Order::Abcd), None);
        assert_eq!(decode(&[0xffff, 0xffff], DataType::U32, Order::Abcd), None);
        assert_eq!(decode(&[0xffff; 4], DataType::U64, Order::Abcd), None);
        assert_eq!(decode(&[0x7fc0, 0x0000], DataType::F32, Order::Abcd), None);
        assert_eq!(
            decode(&[0x0001, 0x0002], DataType::U32, Order::Cdab),
            Some(Raw::Int(0x0002_0001))
        );
        assert_eq!(
            decode(&[0, 0, 1, 0x86a0], DataType::U64, Order::Abcd),
            Some(Raw::Int(100_000))
        );
    }

    #[test]
    fn strings_stop_at_nul_and_trim() {
        let w = [0x4672, 0x6f6e, 0x6975, 0x7300, 0x0000];
        assert_eq!(
            decode(&w, DataType::Str(5), Order::Abcd),
            Some(Raw::Text("Fronius".into()))
        );
    }

    #[test]
    fn scaling_rounds_once() {
        assert_eq!(
            apply(
                &Raw::Int(2301),
                Scale {
                    exp: -1,
                    divisor: 1.0
                }
            ),
            Some(230.1)
        );
        assert_eq!(
            apply(
                &Raw::Int(5001),
                Scale {
                    exp: 0,
                    divisor: 100.0
                }
            ),
            Some(50.01)
        );
        assert_eq!(
            apply(
                &Raw::Int(12),
                Scale {
                    exp: 3,
                    divisor: 1.0
                }
            ),
            Some(12000.0)
        );
        assert_eq!(sunspec_sf(0xfffe), Some(-2));
        assert_eq!(sunspec_sf(0x8000), None);
    }
}

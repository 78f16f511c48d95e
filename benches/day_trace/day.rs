//! The two days the strategies run on, second by second: PV from a clear-sky curve (and the
//! same curve under passing clouds), and a house with the steps people make.
//!
//! Parameters, not measurements (a documented model rather than a recorded day, so anyone can
//! rebuild it): an 8 kWp plant peaking at 6.4 kW at local noon on a June day in Germany
//! (sunrise 05:00, sunset 21:30); the clear-sky shape sin(πx)^1.3 over the daylight hours;
//! clouds as a two-state process (sun → cloud with probability 1/240 per second, cloud → sun
//! 1/360) letting through 25 %, from a fixed seed. The house: 250 W base, a fridge drawing
//! 100 W for 15 min every 45 min, a kettle (2 kW, 3 min at 07:00 and 16:00), a washing machine
//! at 10:00 (2 kW for 20 min heating, then 200 W for 70 min), cooking (2.5 kW, 12:00–12:30 and
//! 18:30–19:00).

pub const SECONDS: usize = 86_400;

pub struct Day {
    pub name: &'static str,
    pub pv_w: Vec<f64>,
    pub base_w: Vec<f64>,
}

impl Day {
    /// PV and the house, each averaged over slots of `slot_s` seconds: what the programs of
    /// perfect foresight plan with.
    pub fn means(&self, slot_s: usize) -> (Vec<f64>, Vec<f64>) {
        let mean = |v: &[f64]| -> Vec<f64> {
            v.chunks(slot_s)
                .map(|c| c.iter().sum::<f64>() / c.len() as f64)
                .collect()
        };
        (mean(&self.pv_w), mean(&self.base_w))
    }
}

const PEAK_W: f64 = 6_400.0;
const SUNRISE_S: f64 = 5.0 * 3600.0;
const SUNSET_S: f64 = 21.5 * 3600.0;

fn clear_sky(t: usize) -> f64 {
    let x = (t as f64 - SUNRISE_S) / (SUNSET_S - SUNRISE_S);
    if !(0.0..=1.0).contains(&x) {
        return 0.0;
    }
    PEAK_W * (std::f64::consts::PI * x).sin().powf(1.3)
}

fn house(t: usize) -> f64 {
    let h = |hh: f64, mm: f64| ((hh * 60.0 + mm) * 60.0) as usize;
    let within = |from: usize, minutes: usize| t >= from && t < from + minutes * 60;
    let mut w = 250.0;
    if t % 2700 < 900 {
        w += 100.0;
    }
    if within(h(7.0, 0.0), 3) || within(h(16.0, 0.0), 3) {
        w += 2000.0;
    }
    if within(h(10.0, 0.0), 20) {
        w += 2000.0;
    } else if within(h(10.0, 20.0), 70) {
        w += 200.0;
    }
    if within(h(12.0, 0.0), 30) || within(h(18.0, 30.0), 30) {
        w += 2500.0;
    }
    w
}

/// xorshift64: a fixed sequence, so the cloudy day is the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

pub fn clear() -> Day {
    Day {
        name: "clear",
        pv_w: (0..SECONDS).map(clear_sky).collect(),
        base_w: (0..SECONDS).map(house).collect(),
    }
}

pub fn cloudy() -> Day {
    let mut rng = Rng(0x5EED_CAFE_F00D);
    let mut cloud = false;
    let pv_w = (0..SECONDS)
        .map(|t| {
            let flip = if cloud { 1.0 / 360.0 } else { 1.0 / 240.0 };
            if rng.next() < flip {
                cloud = !cloud;
            }
            clear_sky(t) * if cloud { 0.25 } else { 1.0 }
        })
        .collect();
    Day {
        name: "cloudy",
        pv_w,
        base_w: (0..SECONDS).map(house).collect(),
    }
}

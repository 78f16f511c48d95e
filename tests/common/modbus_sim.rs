//! A real Modbus TCP (or RTU-over-TCP) server in the test process, playing devices: register
//! images per unit id, holes that answer IllegalDataAddress, slow answers, dropped connections.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_modbus::{ExceptionCode, Request, Response, SlaveRequest};

#[derive(Default, Clone)]
pub struct Regs {
    pub holding: BTreeMap<u16, u16>,
    pub input: BTreeMap<u16, u16>,
    /// Bits (function codes 1 and 2), 0 or 1 each.
    pub coils: BTreeMap<u16, u16>,
    pub discrete: BTreeMap<u16, u16>,
}

impl Regs {
    fn table(&mut self, fc: u8) -> &mut BTreeMap<u16, u16> {
        match fc {
            1 => &mut self.coils,
            2 => &mut self.discrete,
            4 => &mut self.input,
            _ => &mut self.holding,
        }
    }
}

#[derive(Default)]
struct State {
    units: HashMap<u8, Regs>,
    delay: Duration,
    /// Reads longer than this are refused with IllegalDataAddress even without holes.
    max_read: Option<u16>,
    requests: u64,
    log: Vec<(u8, u8, u16, u16)>,
    /// When each unit was last asked anything, and when each register was last written.
    last_request: HashMap<u8, Instant>,
    last_write: HashMap<(u8, u16), Instant>,
    /// Told of every write: "unit:address:[words]".
    writes: Option<tokio::sync::mpsc::UnboundedSender<String>>,
}

#[derive(Clone)]
pub struct Sim {
    state: Arc<Mutex<State>>,
    kill: Arc<AtomicU64>,
    connections: Arc<AtomicU64>,
    pub addr: SocketAddr,
}

type Reply = Pin<Box<dyn Future<Output = Result<Response, ExceptionCode>> + Send>>;

#[derive(Clone)]
struct Service(Arc<Mutex<State>>);

impl tokio_modbus::server::Service for Service {
    type Request = SlaveRequest<'static>;
    type Response = Response;
    type Exception = ExceptionCode;
    type Future = Reply;

    fn call(&self, req: Self::Request) -> Self::Future {
        let mut s = self.0.lock().unwrap();
        s.requests += 1;
        let delay = s.delay;
        let result = answer(&mut s, req.slave, req.request);
        Box::pin(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            result
        })
    }
}

fn answer(s: &mut State, unit: u8, req: Request<'static>) -> Result<Response, ExceptionCode> {
    let (fc, start, count) = match &req {
        Request::ReadCoils(a, n) => (1, *a, *n),
        Request::ReadDiscreteInputs(a, n) => (2, *a, *n),
        Request::ReadHoldingRegisters(a, n) => (3, *a, *n),
        Request::ReadInputRegisters(a, n) => (4, *a, *n),
        Request::WriteSingleRegister(a, _) => (6, *a, 1),
        Request::WriteMultipleRegisters(a, w) => (16, *a, w.len() as u16),
        _ => return Err(ExceptionCode::IllegalFunction),
    };
    s.log.push((unit, fc, start, count));
    let now = Instant::now();
    s.last_request.insert(unit, now);
    if fc == 6 || fc == 16 {
        for i in 0..count {
            s.last_write.insert((unit, start.wrapping_add(i)), now);
        }
    }
    let max_read = s.max_read;
    let regs = s
        .units
        .get_mut(&unit)
        .ok_or(ExceptionCode::GatewayTargetDevice)?;
    match req {
        Request::ReadCoils(..) | Request::ReadDiscreteInputs(..) => {
            let map = regs.table(fc);
            let bits: Option<Vec<bool>> = (0..count)
                .map(|i| map.get(&start.wrapping_add(i)).map(|b| *b != 0))
                .collect();
            let bits = bits.ok_or(ExceptionCode::IllegalDataAddress)?;
            Ok(if fc == 1 {
                Response::ReadCoils(bits)
            } else {
                Response::ReadDiscreteInputs(bits)
            })
        }
        Request::ReadHoldingRegisters(..) | Request::ReadInputRegisters(..) => {
            if max_read.is_some_and(|m| count > m) {
                return Err(ExceptionCode::IllegalDataAddress);
            }
            let map = if fc == 3 { &regs.holding } else { &regs.input };
            let words: Option<Vec<u16>> = (0..count)
                .map(|i| map.get(&start.wrapping_add(i)).copied())
                .collect();
            let words = words.ok_or(ExceptionCode::IllegalDataAddress)?;
            Ok(if fc == 3 {
                Response::ReadHoldingRegisters(words)
            } else {
                Response::ReadInputRegisters(words)
            })
        }
        Request::WriteSingleRegister(a, w) => {
            regs.holding
                .get(&a)
                .ok_or(ExceptionCode::IllegalDataAddress)?;
            regs.holding.insert(a, w);
            Ok(Response::WriteSingleRegister(a, w))
        }
        Request::WriteMultipleRegisters(a, words) => {
            if let Some(tx) = &s.writes {
                let _ = tx.send(format!("{unit}:{a}:{:?}", words.as_ref()));
            }
            let regs = s
                .units
                .get_mut(&unit)
                .ok_or(ExceptionCode::GatewayTargetDevice)?;
            for (i, w) in words.iter().enumerate() {
                let at = a.wrapping_add(i as u16);
                regs.holding
                    .get(&at)
                    .ok_or(ExceptionCode::IllegalDataAddress)?;
                regs.holding.insert(at, *w);
            }
            Ok(Response::WriteMultipleRegisters(a, words.len() as u16))
        }
        _ => Err(ExceptionCode::IllegalFunction),
    }
}

/// A connection that turns into end-of-file once the test drops all connections.
struct Killable {
    inner: TcpStream,
    generation: u64,
    kill: Arc<AtomicU64>,
}

impl AsyncRead for Killable {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.kill.load(Ordering::SeqCst) != self.generation {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Killable {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl Sim {
    /// A Modbus TCP server on a free loopback port.
    pub async fn tcp() -> Self {
        Self::start(false).await
    }

    /// A gateway that speaks RTU frames over TCP.
    pub async fn rtu_over_tcp() -> Self {
        Self::start(true).await
    }

    async fn start(rtu: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let kill = Arc::new(AtomicU64::new(0));
        let connections = Arc::new(AtomicU64::new(0));
        let (st, k, c) = (state.clone(), kill.clone(), connections.clone());
        tokio::spawn(async move {
            let on_connected = |stream: TcpStream, _addr: SocketAddr| {
                c.fetch_add(1, Ordering::SeqCst);
                let service = Service(st.clone());
                let kill = k.clone();
                async move {
                    let generation = kill.load(Ordering::SeqCst);
                    Ok(Some((
                        service,
                        Killable {
                            inner: stream,
                            generation,
                            kill,
                        },
                    )))
                }
            };
            if rtu {
                let server = tokio_modbus::server::rtu_over_tcp::Server::new(listener);
                let _ = server.serve(&on_connected, |_| {}).await;
            } else {
                let server = tokio_modbus::server::tcp::Server::new(listener);
                let _ = server.serve(&on_connected, |_| {}).await;
            }
        });
        Self {
            state,
            kill,
            connections,
            addr,
        }
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::SeqCst)
    }

    pub fn url(&self, scheme: &str) -> String {
        format!("{scheme}://{}", self.addr)
    }

    pub fn set(&self, unit: u8, fc: u8, address: u16, words: &[u16]) {
        let mut s = self.state.lock().unwrap();
        let map = s.units.entry(unit).or_default().table(fc);
        for (i, w) in words.iter().enumerate() {
            map.insert(address + i as u16, *w);
        }
    }

    /// Zeros over a whole range, so block reads find no holes there.
    pub fn fill(&self, unit: u8, fc: u8, start: u16, count: u16) {
        self.set(unit, fc, start, &vec![0; usize::from(count)]);
    }

    pub fn set_f32(&self, unit: u8, fc: u8, address: u16, v: f32) {
        let b = v.to_bits();
        self.set(unit, fc, address, &[(b >> 16) as u16, b as u16]);
    }

    pub fn set_str(&self, unit: u8, address: u16, text: &str, words: u16) {
        let mut bytes = text.as_bytes().to_vec();
        bytes.resize(usize::from(words) * 2, 0);
        let w: Vec<u16> = bytes
            .chunks(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect();
        self.set(unit, 3, address, &w);
    }

    pub fn get(&self, unit: u8, address: u16) -> Option<u16> {
        self.state
            .lock()
            .unwrap()
            .units
            .get(&unit)?
            .holding
            .get(&address)
            .copied()
    }

    pub fn remove(&self, unit: u8, fc: u8, address: u16) {
        let mut s = self.state.lock().unwrap();
        if let Some(regs) = s.units.get_mut(&unit) {
            regs.table(fc).remove(&address);
        }
    }

    pub fn set_delay(&self, d: Duration) {
        self.state.lock().unwrap().delay = d;
    }

    pub fn set_max_read(&self, n: Option<u16>) {
        self.state.lock().unwrap().max_read = n;
    }

    /// Every open connection reads end-of-file from now on, as when a gateway reboots.
    pub fn drop_connections(&self) {
        self.kill.fetch_add(1, Ordering::SeqCst);
    }

    pub fn requests(&self) -> u64 {
        self.state.lock().unwrap().requests
    }

    /// (unit, function code, start, count) of every request so far.
    pub fn log(&self) -> Vec<(u8, u8, u16, u16)> {
        self.state.lock().unwrap().log.clone()
    }

    /// Plays a device's own timer: every 20 ms `tick` sees the unit's registers and whether it
    /// has been left alone for longer than `timeout` says, counting from the last request
    /// (`watched: None`) or the last write to one register. `timeout` returning `None` means
    /// the timer is off. A device that was never asked is not silent: it has nothing to lose.
    pub fn watchdog<T, F>(&self, unit: u8, watched: Option<u16>, timeout: T, tick: F)
    where
        T: Fn(&Regs) -> Option<Duration> + Send + 'static,
        F: Fn(&mut Regs, bool) + Send + 'static,
    {
        let state = self.state.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(20)).await;
                let mut s = state.lock().unwrap();
                let last = match watched {
                    None => s.last_request.get(&unit).copied(),
                    Some(a) => s.last_write.get(&(unit, a)).copied(),
                };
                let Some(regs) = s.units.get_mut(&unit) else {
                    continue;
                };
                let silent = match (timeout(regs), last) {
                    (Some(limit), Some(at)) => at.elapsed() >= limit,
                    _ => false,
                };
                tick(regs, silent);
            }
        });
    }

    /// Tells of every write with function code 16, as "unit:address:[words]".
    pub fn report_writes(&self) -> tokio::sync::mpsc::UnboundedReceiver<String> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        self.state.lock().unwrap().writes = Some(tx);
        rx
    }

    pub fn clear_log(&self) {
        let mut s = self.state.lock().unwrap();
        s.log.clear();
        s.requests = 0;
    }

    /// A Fronius-like SunSpec map: an int+SF inverter (103) with storage (124) on unit 1, a float
    /// meter (213) on unit 200.
    pub fn fronius_image(&self) {
        let sim = self;
        let marker = [0x5375, 0x6e53];
        // Inverter, unit 1.
        sim.set(1, 3, 40000, &marker);
        sim.set(1, 3, 40002, &[1, 66]);
        sim.fill(1, 3, 40004, 66);
        sim.set_str(1, 40004, "Fronius", 16);
        sim.set_str(1, 40020, "Symo GEN24 10.0", 16);
        sim.set_str(1, 40044, "1.28.7-1", 8);
        sim.set_str(1, 40052, "34112233", 16);
        let m103 = 40070;
        sim.set(1, 3, m103, &[103, 50]);
        sim.fill(1, 3, m103 + 2, 50);
        sim.set(1, 3, m103 + 2, &[1234]); // A
        sim.set(1, 3, m103 + 6, &[(-2i16) as u16]); // A_SF
        sim.set(1, 3, m103 + 10, &[2301, 2312, 2299]); // PhVphA..C
        sim.set(1, 3, m103 + 13, &[(-1i16) as u16]); // V_SF
        sim.set(1, 3, m103 + 14, &[4567, 0]); // W, W_SF
        sim.set(1, 3, m103 + 16, &[5001, (-2i16) as u16]); // Hz, Hz_SF
        sim.set(1, 3, m103 + 22, &[998, (-1i16) as u16]); // PF 99.8 %, PF_SF
        sim.set(1, 3, m103 + 24, &[0x00bc, 0x614e, 1]); // WH = 12345678, WH_SF = 1
        sim.set(1, 3, m103 + 31, &[4800, 0]); // DCW, DCW_SF
        sim.set(1, 3, m103 + 33, &[415]); // TmpCab
        sim.set(1, 3, m103 + 37, &[(-1i16) as u16]); // Tmp_SF
        let m124 = m103 + 52;
        sim.set(1, 3, m124, &[124, 24]);
        sim.fill(1, 3, m124 + 2, 24);
        sim.set(1, 3, m124 + 8, &[655]); // ChaState
        sim.set(1, 3, m124 + 10, &[0xffff]); // InBatV: not implemented
        sim.set(1, 3, m124 + 22, &[(-1i16) as u16]); // ChaState_SF
        sim.set(1, 3, m124 + 26, &[0xffff, 0]);
        // Meter, unit 200.
        sim.set(200, 3, 40000, &marker);
        sim.set(200, 3, 40002, &[1, 65]);
        sim.fill(200, 3, 40004, 65);
        sim.set_str(200, 40052, "M0123", 16);
        let m213 = 40069;
        sim.set(200, 3, m213, &[213, 124]);
        sim.fill(200, 3, m213 + 2, 124);
        sim.set_f32(200, 3, m213 + 12, 231.2);
        sim.set_f32(200, 3, m213 + 28, -850.5);
        sim.set_f32(200, 3, m213 + 60, 2_000_000.0);
        sim.set_f32(200, 3, m213 + 68, 5_000_000.0);
        sim.set(200, 3, m213 + 126, &[0xffff, 0]);
    }

    /// A SolarEdge-style unit 1: an inverter (common block, model 103) and, behind it on the same
    /// unit, its meter (a second common block, model 203), as SolarEdge chains them.
    pub fn inverter_with_meter_image(&self) {
        let sim = self;
        sim.set(1, 3, 40000, &[0x5375, 0x6e53]);
        let common = |at: u16, model: &str, serial: &str| {
            sim.set(1, 3, at, &[1, 66]);
            sim.fill(1, 3, at + 2, 66);
            sim.set_str(1, at + 2, "SolarEdge", 16);
            sim.set_str(1, at + 18, model, 16);
            sim.set_str(1, at + 50, serial, 16);
        };
        common(40002, "SE10K", "7E123456");
        let m103 = 40070;
        sim.set(1, 3, m103, &[103, 50]);
        sim.fill(1, 3, m103 + 2, 50);
        sim.set(1, 3, m103 + 14, &[4567, 0]); // W, W_SF
        sim.set(1, 3, m103 + 24, &[0x00bc, 0x614e, 1]); // WH = 12345678, WH_SF = 1
        common(m103 + 52, "SE-MTR-3Y", "606123");
        let m203 = m103 + 52 + 68;
        sim.set(1, 3, m203, &[203, 105]);
        sim.fill(1, 3, m203 + 2, 105);
        sim.set(1, 3, m203 + 8, &[2312, 2305, 2299]); // PhVphA..C
        sim.set(1, 3, m203 + 15, &[(-1i16) as u16]); // V_SF
        sim.set(1, 3, m203 + 18, &[(-850i16) as u16]); // W: exporting
        sim.set(1, 3, m203 + 22, &[0]); // W_SF
        sim.set(1, 3, m203 + 38, &[0, 20_000]); // TotWhExp
        sim.set(1, 3, m203 + 46, &[0, 50_000]); // TotWhImp
        sim.set(1, 3, m203 + 54, &[2]); // TotWh_SF
        sim.set(1, 3, m203 + 107, &[0xffff, 0]);
    }
}

/// Waits until the simulated device holds `want` at `address` (unit 1, holding registers).
pub async fn holds(sim: &Sim, address: u16, want: &[u16], what: &str) {
    for _ in 0..400 {
        let now: Option<Vec<u16>> = (0..want.len() as u16)
            .map(|i| sim.get(1, address + i))
            .collect();
        if now.as_deref() == Some(want) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let now: Vec<Option<u16>> = (0..want.len() as u16)
        .map(|i| sim.get(1, address + i))
        .collect();
    panic!("{what}: register {address} holds {now:?}, expected {want:?}");
}

/// A Heidelberg Energy Control: input registers for what it measures, holding registers for
/// its settings, and a watchdog that drops the current to the FailSafe current once nobody
/// has asked anything for register 257's milliseconds.
pub fn heidelberg(sim: &Sim) {
    sim.fill(1, 4, 5, 14);
    sim.set(1, 4, 5, &[7]); // C2: charging
    sim.set(1, 4, 17, &[0, 12345]); // Wh
    sim.fill(1, 3, 257, 6);
    sim.watchdog(
        1,
        None,
        |r| {
            let ms = r.holding[&257];
            (ms > 0).then(|| Duration::from_millis(u64::from(ms)))
        },
        |r, silent| {
            if silent {
                r.holding.insert(261, r.holding[&262]);
            }
            let deci_amps = r.holding[&261];
            for phase in 6..=8 {
                r.input.insert(phase, deci_amps);
            }
            r.input.insert(14, deci_amps * 69); // three phases at 230 V
        },
    );
}

/// A Huawei LUNA2000 behind its inverter: SoC, power, limits, and a forced-charge watchdog
/// that ends forcing after a second of silence.
pub fn huawei(sim: &Sim) {
    sim.fill(1, 3, 37758, 26);
    sim.set(1, 3, 37760, &[655]); // SoC 65.5 %
    sim.set(1, 3, 37765, &[0, 1500]); // charging at 1500 W, Huawei's sign
    sim.fill(1, 3, 47075, 4);
    sim.fill(1, 3, 47083, 1);
    sim.fill(1, 3, 47100, 1);
    sim.fill(1, 3, 47246, 5);
    sim.watchdog(
        1,
        Some(47100),
        |_| Some(Duration::from_secs(1)),
        |r, silent| {
            if silent {
                r.holding.insert(47100, 0);
            }
        },
    );
}

/// The registers of a Heidelberg wallbox on unit 1 and a Huawei LUNA2000 battery on unit 2,
/// without their timers: one connection for the benches that drive both.
pub fn wallbox_and_battery(sim: &Sim) {
    sim.fill(1, 4, 5, 14);
    sim.fill(1, 3, 257, 6);
    sim.fill(2, 3, 37758, 26);
    sim.fill(2, 3, 47075, 4);
    sim.fill(2, 3, 47083, 1);
    sim.fill(2, 3, 47100, 1);
    sim.fill(2, 3, 47246, 5);
}

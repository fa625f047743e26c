//! The bench's device side: the board (firmware core) and register banks
//! served over Modbus TCP, HTTP cameras, and what each device served when
//! (the instants every timing is read from).
use super::*;

/// Bounded log of instants a device served something.
#[derive(Default)]
pub(super) struct ServeLog(pub(super) VecDeque<Instant>);

impl ServeLog {
    fn push(&mut self, t: Instant) {
        if self.0.len() == 256 {
            self.0.pop_front();
        }
        self.0.push_back(t);
    }
    pub(super) fn first_after(&self, t: Instant) -> Option<Instant> {
        self.0.iter().copied().find(|x| *x > t)
    }
}

/// The board firmware core with marks taken where the lane sees it: the
/// first read of the arrival loop, the RAISE write, "all free" after the
/// truck left, the red light after the raise.
pub(super) struct BoardProbe {
    pub(super) board: Board,
    pub(super) armed: Cell<bool>,
    pub(super) arrival_seen: Cell<Option<Instant>>,
    pub(super) raise: Cell<Option<Instant>>,
    pub(super) clear_armed: Cell<bool>,
    pub(super) clear_seen: Cell<Option<Instant>>,
    pub(super) finish: Cell<Option<Instant>>,
}

impl BoardProbe {
    fn new() -> Self {
        let mut board = Board::new();
        for (a, v) in [
            (hr::DEBOUNCE_MS, DEBOUNCE_MS),
            (hr::AUTO_CLOSE_DELAY_MS, AUTO_CLOSE_MS),
        ] {
            board
                .write_holding_register(a, v)
                .expect("board setting in range");
        }
        Self {
            board,
            armed: Cell::new(false),
            arrival_seen: Cell::new(None),
            raise: Cell::new(None),
            clear_armed: Cell::new(false),
            clear_seen: Cell::new(None),
            finish: Cell::new(None),
        }
    }
    pub(super) fn arm(&self) {
        self.armed.set(true);
        self.arrival_seen.set(None);
        self.raise.set(None);
        self.clear_armed.set(false);
        self.clear_seen.set(None);
        self.finish.set(None);
    }
}

impl DataModel for BoardProbe {
    fn read_coil(&self, addr: u16) -> Result<bool, Exception> {
        self.board.read_coil(addr)
    }
    fn read_discrete_input(&self, addr: u16) -> Result<bool, Exception> {
        let v = self.board.read_discrete_input(addr)?;
        if addr == di::ARRIVAL_LOOP {
            let now = Instant::now();
            if v && self.armed.get() && self.arrival_seen.get().is_none() {
                self.arrival_seen.set(Some(now));
            }
            if self.clear_armed.get() && self.clear_seen.get().is_none() {
                let free = [
                    di::ARRIVAL_LOOP,
                    di::SAFETY_LOOP,
                    di::EXIT_LOOP,
                    di::PHOTOCELL,
                ]
                .iter()
                .all(|a| self.board.read_discrete_input(*a) == Ok(false));
                if free {
                    self.clear_seen.set(Some(now));
                }
            }
        }
        Ok(v)
    }
    fn read_holding_register(&self, addr: u16) -> Result<u16, Exception> {
        self.board.read_holding_register(addr)
    }
    fn read_input_register(&self, addr: u16) -> Result<u16, Exception> {
        self.board.read_input_register(addr)
    }
    fn write_coil(&mut self, addr: u16, value: bool) -> Result<(), Exception> {
        self.board.write_coil(addr, value)?;
        let now = Instant::now();
        if self.armed.get() {
            if addr == coil::RAISE && value && self.raise.get().is_none() {
                self.raise.set(Some(now));
            }
            if addr == coil::LIGHT_GREEN
                && !value
                && self.raise.get().is_some()
                && self.finish.get().is_none()
            {
                self.finish.set(Some(now));
            }
        }
        Ok(())
    }
    fn write_holding_register(&mut self, addr: u16, value: u16) -> Result<(), Exception> {
        self.board.write_holding_register(addr, value)
    }
    fn check_write_coils(&self, start: u16, count: u16) -> Result<(), Exception> {
        self.board.check_write_coils(start, count)
    }
    fn check_write_registers(&self, start: u16, values: &[u16]) -> Result<(), Exception> {
        self.board.check_write_registers(start, values)
    }
}

/// A register bank (weighbridge, RFID reader) that logs when register
/// `probe` is read.
pub(super) struct BankProbe {
    pub(super) mem: MemoryModel,
    pub(super) probe: u16,
    pub(super) log: RefCell<ServeLog>,
}

impl DataModel for BankProbe {
    fn read_coil(&self, addr: u16) -> Result<bool, Exception> {
        self.mem.read_coil(addr)
    }
    fn read_discrete_input(&self, addr: u16) -> Result<bool, Exception> {
        self.mem.read_discrete_input(addr)
    }
    fn read_holding_register(&self, addr: u16) -> Result<u16, Exception> {
        if addr == self.probe {
            self.log.borrow_mut().push(Instant::now());
        }
        self.mem.read_holding_register(addr)
    }
    fn read_input_register(&self, addr: u16) -> Result<u16, Exception> {
        self.mem.read_input_register(addr)
    }
    fn write_coil(&mut self, addr: u16, value: bool) -> Result<(), Exception> {
        self.mem.write_coil(addr, value)
    }
    fn write_holding_register(&mut self, addr: u16, value: u16) -> Result<(), Exception> {
        self.mem.write_holding_register(addr, value)
    }
    fn check_write_coils(&self, start: u16, count: u16) -> Result<(), Exception> {
        self.mem.check_write_coils(start, count)
    }
    fn check_write_registers(&self, start: u16, values: &[u16]) -> Result<(), Exception> {
        self.mem.check_write_registers(start, values)
    }
}

pub(super) fn set_weight(m: &mut MemoryModel, kg: u32) {
    m.holding_registers[0] = (kg >> 16) as u16;
    m.holding_registers[1] = (kg & 0xFFFF) as u16;
    m.holding_registers[2] = 1;
}

/// RFID map of config/profiles/rfid-*.toml: header + slot 0.
pub(super) fn set_tag(m: &mut MemoryModel, kind: u16, epc: Option<&[u8; 12]>, seal_intact: bool) {
    m.holding_registers.iter_mut().for_each(|r| *r = 0);
    m.holding_registers[4] = kind;
    m.holding_registers[0] = 1; // rf on
    if let Some(epc) = epc {
        m.holding_registers[0] = 3;
        m.holding_registers[1] = 1;
        m.holding_registers[16] = 1;
        for i in 0..6 {
            m.holding_registers[17 + i] = u16::from_be_bytes([epc[2 * i], epc[2 * i + 1]]);
        }
        m.holding_registers[23] = 0xE280;
        m.holding_registers[27] = (-450i16) as u16;
        m.holding_registers[29] = 12;
        m.holding_registers[30] = if seal_intact { 1 } else { 0 };
        m.holding_registers[31] = 5;
    }
}

/// One HTTP camera: `/snapshot.jpg` (a fixed JPEG) and `/recognition`
/// (JSON set by the bench), HTTP/1.1 keep-alive.
pub(super) struct CamState {
    pub(super) recognition: String,
    /// When a recognition carrying a subject was answered.
    pub(super) answered: ServeLog,
}

pub(super) async fn camera_conn(mut s: TcpStream, jpeg: Arc<Vec<u8>>, st: Arc<Mutex<CamState>>) {
    let mut buf = Vec::with_capacity(2048);
    let mut chunk = [0u8; 2048];
    loop {
        let end = loop {
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            if buf.len() > 16 * 1024 {
                return;
            }
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        buf.drain(..end);
        let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
        let (ctype, body): (&str, Vec<u8>) = match path.as_str() {
            "/snapshot.jpg" => ("image/jpeg", jpeg.to_vec()),
            "/recognition" => {
                let mut g = st.lock().expect("camera state");
                let body = g.recognition.clone().into_bytes();
                if g.recognition != "null" {
                    g.answered.push(Instant::now());
                }
                ("application/json", body)
            }
            _ => ("text/plain", Vec::new()),
        };
        let status = if ctype == "text/plain" {
            "404 Not Found"
        } else {
            "200 OK"
        };
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        if s.write_all(head.as_bytes()).await.is_err() || s.write_all(&body).await.is_err() {
            return;
        }
    }
}

pub(super) async fn camera_server(jpeg: Arc<Vec<u8>>) -> (String, Arc<Mutex<CamState>>) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind camera");
    let addr = l.local_addr().expect("camera addr");
    let st = Arc::new(Mutex::new(CamState {
        recognition: "null".into(),
        answered: ServeLog::default(),
    }));
    let st2 = st.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let _ = s.set_nodelay(true);
            tokio::spawn(camera_conn(s, jpeg.clone(), st2.clone()));
        }
    });
    (format!("http://{addr}"), st)
}

pub(super) async fn serve_bank<M: DataModel + Send + 'static>(model: Shared<M>) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind modbus");
    let port = l.local_addr().expect("addr").port();
    tokio::spawn(serve_tcp(l, model, None, Arc::new(FaultSwitch::default())));
    port
}

/// One lane's devices.
pub(super) struct LaneDevices {
    pub(super) board: Shared<BoardProbe>,
    pub(super) inputs: Arc<Mutex<RawInputs>>,
    pub(super) arm_up: Arc<AtomicBool>,
    pub(super) arm_down: Arc<AtomicBool>,
    pub(super) stop: Arc<AtomicBool>,
    pub(super) wb: Shared<BankProbe>,
    pub(super) etag: Shared<BankProbe>,
    pub(super) eseal: Shared<BankProbe>,
    pub(super) cams: Vec<(&'static str, Device, String, Arc<Mutex<CamState>>)>,
    pub(super) ports: Ports,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct Ports {
    pub(super) board: u16,
    pub(super) wb: u16,
    pub(super) etag: u16,
    pub(super) eseal: u16,
    /// (camera name, base URL)
    pub(super) cams: Vec<(String, String)>,
}

pub(super) async fn lane_devices(jpeg: Arc<Vec<u8>>) -> LaneDevices {
    let board = Arc::new(Mutex::new(BoardProbe::new()));
    let inputs = Arc::new(Mutex::new(RawInputs::default()));
    let (arm_up, arm_down, stop) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(true)),
        Arc::new(AtomicBool::new(false)),
    );
    {
        // Board control ticks every millisecond; the arm follows the motor.
        let (b, i, up, down, stop) = (
            board.clone(),
            inputs.clone(),
            arm_up.clone(),
            arm_down.clone(),
            stop.clone(),
        );
        std::thread::spawn(move || {
            let t0 = Instant::now();
            let mut arm = Arm::new(TRAVEL_MS);
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(1));
                let now = t0.elapsed().as_millis() as u64;
                let field = *i.lock().expect("inputs");
                let raw = arm.tick(&mut b.lock().expect("board").board, now, field);
                up.store(raw.up_limit, Ordering::Relaxed);
                down.store(raw.down_limit, Ordering::Relaxed);
            }
        });
    }
    let bank = |size: usize, probe: u16| {
        Arc::new(Mutex::new(BankProbe {
            mem: MemoryModel::new(0, 0, size, 0),
            probe,
            log: RefCell::new(ServeLog::default()),
        }))
    };
    let (wb, etag, eseal) = (bank(8, 0), bank(80, 16), bank(80, 16));
    set_weight(&mut wb.lock().expect("wb").mem, 0);
    set_tag(&mut etag.lock().expect("etag").mem, 1, None, false);
    set_tag(&mut eseal.lock().expect("eseal").mem, 2, None, false);
    let mut cams = Vec::new();
    let mut cam_ports = Vec::new();
    for (name, role) in CAMERAS {
        let (url, st) = camera_server(jpeg.clone()).await;
        cam_ports.push((name.to_owned(), url.clone()));
        cams.push((name, role, url, st));
    }
    let ports = Ports {
        board: serve_bank(board.clone()).await,
        wb: serve_bank(wb.clone()).await,
        etag: serve_bank(etag.clone()).await,
        eseal: serve_bank(eseal.clone()).await,
        cams: cam_ports,
    };
    LaneDevices {
        board,
        inputs,
        arm_up,
        arm_down,
        stop,
        wb,
        etag,
        eseal,
        cams,
        ports,
    }
}

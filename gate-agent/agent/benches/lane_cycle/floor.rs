//! The floor: a hand-written one-task lane loop (this binary re-executed
//! with `--floor-child`) doing the same device round trips, lookup and
//! decide, journal and outbox writes as the agent, and nothing else.
use super::*;

#[derive(Serialize, Deserialize)]
pub(super) struct FloorCfg {
    pub(super) db: PathBuf,
    pub(super) ports: Ports,
    /// Decide online (the agent's link is up) and drain the outbox.
    pub(super) online: bool,
}

pub(super) fn now_ms() -> u64 {
    gate_proto::time::now_unix_ms().max(0) as u64
}

/// The peer: a minimal hand-written lane loop (one task, everything in
/// sequence) doing the work a lane cannot avoid, with the same crates.
pub(super) fn floor_child(cfg_json: &str) -> Result<()> {
    let cfg: FloorCfg = serde_json::from_str(cfg_json).context("floor config")?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(floor_loop(cfg))
}

pub(super) async fn floor_loop(cfg: FloorCfg) -> Result<()> {
    use tokio_modbus::prelude::*;
    let store = Store::open(&cfg.db, StoreConfig::default())?;
    let addr = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
    let mut board = tcp::connect_slave(addr(cfg.ports.board), Slave(1)).await?;
    let mut wb = tcp::connect_slave(addr(cfg.ports.wb), Slave(1)).await?;
    let mut etag = tcp::connect_slave(addr(cfg.ports.etag), Slave(1)).await?;
    let mut eseal = tcp::connect_slave(addr(cfg.ports.eseal), Slave(1)).await?;
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()?;
    let policy = Policy::default();
    let idle_led = gate_core::lane::LaneConfig::default().idle_led;
    let topic = format!("gate/{SITE}/{LANE}/event");
    let wall = |ms: u64| ms as i64;

    async fn led(board: &mut tokio_modbus::client::Context, text: &str) -> Result<()> {
        let (len, regs) = gate_drivers::board::led_registers(text);
        if !regs.is_empty() {
            board
                .write_multiple_registers(hr::LED_TEXT, &regs)
                .await??;
        }
        board.write_single_register(hr::LED_LEN, len).await??;
        Ok(())
    }
    led(&mut board, &idle_led).await?;
    board.write_single_coil(coil::LIGHT_GREEN, false).await??;

    enum State {
        Idle,
        Released,
        Passing,
    }
    struct Open {
        event_id: String,
        arrived: u64,
        decided: u64,
        identified: Identified,
        decision: Decision,
        photos: Vec<Photo>,
    }
    let mut state = State::Idle;
    let mut open: Option<Open> = None;
    let mut tick = tokio::time::interval(Duration::from_millis(POLL_MS));
    let mut hb = tokio::time::interval(Duration::from_secs(1));
    let mut beat = 0u16;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = hb.tick() => {
                beat = beat.wrapping_add(1);
                board.write_single_register(hr::HEARTBEAT, beat).await??;
                continue;
            }
        }
        let dis = board.read_discrete_inputs(0, di::COUNT).await??;
        let _irs = board.read_input_registers(0, ir::COUNT).await??;
        let at = |a: u16| dis.get(usize::from(a)).copied().unwrap_or(false);
        match state {
            State::Idle if at(di::ARRIVAL_LOOP) => {
                let arrived = now_ms();
                let event_id = gate_store::new_event_id();
                let no_photos: [Photo; 0] = [];
                let c = EventContext {
                    event_id: &event_id,
                    site: SITE,
                    lane: LANE,
                    direction: Direction::Exit,
                    wall_ms: &wall,
                    clock_synced: true,
                    photos: &no_photos,
                    whitelist_version: 1,
                };
                let draft = event::lane_event(&event::draft_record(arrived), &c);
                let v = serde_json::to_value(&draft)?;
                store.journal_start(LANE, &draft.event_id, &draft.arrived_at, &v)?;
                // Every device at once: four recognitions, two readers, the scale.
                let recs = futures_util::future::join_all(cfg.ports.cams.iter().map(|(_, url)| {
                    let http = http.clone();
                    let url = format!("{url}/recognition");
                    async move {
                        let body = http.get(url).send().await?.bytes().await?;
                        Ok::<_, anyhow::Error>(body)
                    }
                }));
                let (recs, tag, seal, w) = tokio::join!(
                    recs,
                    etag.read_holding_registers(0, 32),
                    eseal.read_holding_registers(0, 32),
                    wb.read_holding_registers(0, 3),
                );
                let mut id = Identified::default();
                for ((_, role), body) in CAMERAS.iter().zip(recs) {
                    let r = gate_drivers::camera::recognition::parse_recognition(&body?)
                        .map_err(|e| anyhow!(e))?;
                    for read in gate_agent::runtime::devices::recognition_reads(*role, &r) {
                        match read {
                            Read::Plate(p) => id.plates.push(p),
                            Read::Container(c) => id.containers.push(c),
                            _ => {}
                        }
                    }
                }
                let epc = |regs: &[u16]| -> Option<Vec<u8>> {
                    (regs.get(16) == Some(&1))
                        .then(|| regs[17..23].iter().flat_map(|r| r.to_be_bytes()).collect())
                };
                let (tag, seal, w) = (tag??, seal??, w??);
                if let Some(e) = epc(&tag) {
                    id.etags.push(event::hex(&e).to_uppercase());
                }
                if let Some(e) = epc(&seal) {
                    let text: String = e.iter().filter(|b| **b != 0).map(|b| *b as char).collect();
                    id.eseal = Some(EsealRead {
                        id: text,
                        intact: seal.get(30) == Some(&1),
                    });
                }
                let kg = (u32::from(w[0]) << 16) | u32::from(w[1]);
                id.weight = Some(WeightRead {
                    gross_kg: f64::from(kg),
                    stable: w[2] & 1 == 1,
                });
                let view = store.lookup(&LookupKeys::from(&id))?;
                let d = decide(
                    &id,
                    &view,
                    &policy,
                    gate_proto::time::now_unix_ms(),
                    cfg.online,
                );
                let decided = now_ms();
                let ed = event::event_decision(Some(&d), 1);
                let at_s = gate_proto::time::format_unix_ms(decided as i64);
                let jctx = serde_json::json!({ "decision": d.details, "plate": d.plate, "gate_pass": d.gate_pass });
                store.journal_decided(&event_id, &ed, &at_s, &jctx)?;
                led(&mut board, &d.led_text).await?;
                let release = d.result != DecisionResult::Hold;
                board
                    .write_single_coil(coil::LIGHT_GREEN, release)
                    .await??;
                if release {
                    board.write_single_coil(coil::RAISE, true).await??;
                }
                // Evidence after the raise, off the decision's path.
                let shots =
                    futures_util::future::join_all(cfg.ports.cams.iter().map(|(name, url)| {
                        let http = http.clone();
                        let url = format!("{url}/snapshot.jpg");
                        async move {
                            let jpeg = http.get(url).send().await.ok()?.bytes().await.ok()?;
                            Some(Photo {
                                camera: name.clone(),
                                jpeg,
                            })
                        }
                    }))
                    .await;
                open = Some(Open {
                    event_id,
                    arrived,
                    decided,
                    identified: id,
                    decision: d,
                    photos: shots.into_iter().flatten().collect(),
                });
                state = State::Released;
            }
            State::Released if at(di::SAFETY_LOOP) || at(di::PHOTOCELL) || at(di::EXIT_LOOP) => {
                state = State::Passing;
            }
            State::Passing
                if !(at(di::ARRIVAL_LOOP)
                    || at(di::SAFETY_LOOP)
                    || at(di::PHOTOCELL)
                    || at(di::EXIT_LOOP)) =>
            {
                if let Some(o) = open.take() {
                    let finished = now_ms();
                    let rec = EventRecord {
                        seq: 0,
                        arrived_ms: o.arrived,
                        decided_ms: Some(o.decided),
                        finished_ms: finished,
                        identified: o.identified,
                        decision: Some(o.decision),
                        outcome: Outcome::Passed,
                        officer: None,
                        note: None,
                        tailgating: false,
                        stopped_short: false,
                        alarms: Vec::new(),
                    };
                    let c = EventContext {
                        event_id: &o.event_id,
                        site: SITE,
                        lane: LANE,
                        direction: Direction::Exit,
                        wall_ms: &wall,
                        clock_synced: true,
                        photos: &o.photos,
                        whitelist_version: 1,
                    };
                    let ev = event::lane_event(&rec, &c);
                    for p in &o.photos {
                        store.outbox_enqueue(&gate_store::OutboxMessage::new(
                            gate_store::OutboxKind::Photo,
                            format!("gate/{SITE}/{LANE}/photo/{}/{}", o.event_id, p.camera),
                            p.jpeg.to_vec(),
                        ))?;
                    }
                    store.journal_finish(&ev, &topic)?;
                    // An instant link: everything queued is acknowledged
                    // (the agent's outbox drains to Mosquitto).
                    if cfg.online {
                        for item in store.outbox_peek(None, 64)? {
                            store.outbox_ack(item.id)?;
                        }
                    }
                }
                board.write_single_coil(coil::LIGHT_GREEN, false).await??;
                led(&mut board, &idle_led).await?;
                state = State::Idle;
            }
            _ => {}
        }
    }
}

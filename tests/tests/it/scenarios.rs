//! Every scenario of sim/scenarios/ that the lane meets today, run end to
//! end: the simulated devices over their real protocols (the I/O board runs
//! the firmware core), the simulated platform over MQTT, and the real
//! gate-agent in between. Each test fails when any truck's decision,
//! reasons or outcome differs from the scenario's expectation, when the
//! platform sees a missing, duplicated or schema-invalid event, or when the
//! arm ever comes down on a truck.
//!
//! Scenarios not listed here do not pass yet; the README lists them and why.

use std::path::Path;

/// `[scenario files...], [other tests...]` as `(name, body)` pairs.
macro_rules! scenarios {
    ([$($file:ident),* $(,)?], [$($test:ident),* $(,)?]) => {
        [
            $((
                concat!("scenarios::", stringify!($file)),
                (|| run_scenario(stringify!($file))) as fn(),
            ),)*
            $((concat!("scenarios::", stringify!($test)), $test as fn()),)*
        ]
    };
}

use sim::runner::{self, RunOptions};
use sim::scenario::{RecognitionSetup, Scenario};

fn options(time_scale: Option<f64>) -> RunOptions {
    RunOptions {
        broker: None,
        platform_broker: None,
        live: false,
        time_scale,
        lane_override: None,
        console: None,
    }
}

fn run_scenario(name: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../sim/scenarios")
        .join(format!("{name}.toml"));
    let s = Scenario::load(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    // Five minutes, or twice the scenario's real duration plus the model
    // load (on-board recognition runs at a low time scale) if longer.
    let limit = std::time::Duration::from_secs_f64(
        (s.end_s() / s.lane.time_scale * 2.0 + 120.0).max(300.0),
    );
    let run = || {
        rt.block_on(async { tokio::time::timeout(limit, runner::run(&s, &options(None), 1)).await })
    };
    let reports = if s.lane.recognition == RecognitionSetup::Onboard {
        crate::cpu_heavy(run)
    } else {
        run()
    }
    .unwrap_or_else(|_| panic!("{name}: did not finish within {} s", limit.as_secs()))
    .unwrap_or_else(|e| panic!("{name}: {e:#}"));
    let summary = runner::summary(&reports);
    let r = &reports[0];
    assert!(
        r.violations.is_empty(),
        "{name}: safety violations {:?}",
        r.violations
    );
    assert!(
        r.platform.gaps.is_empty(),
        "{name}: seq gaps {:?}",
        r.platform.gaps
    );
    assert!(
        r.platform.schema_errors.is_empty(),
        "{name}: schema errors {:?}",
        r.platform.schema_errors
    );
    assert_eq!(
        r.platform.events.len(),
        s.trucks.len(),
        "{name}: one event per truck"
    );
    assert!(r.passed, "{name}: expectations not met:{summary}");
}

/// This suite's tests, the longest first (the binary runs several at once:
/// see main.rs): one per scenario file, then the runs of other shapes.
pub const TESTS: &[crate::Test] = &scenarios!(
    [
        demo,
        reasons_cargo,
        fault_each_device,
        fault_device_offline,
        fault_broker_down,
        reasons_identity,
        reasons_risk,
        whitelist_deltas,
        stray_messages,
        fault_device_timeout,
        behaviours,
        commands,
        console,
        fault_camera_dark,
    ],
    [
        two_lanes_with_their_evidence,
        runs_on_one_external_broker_are_isolated,
        the_readme_hand_run_steps_work_as_written,
        drives_an_agent_it_did_not_start,
    ]
);

/// Two independent lanes of one port in one process (`--lanes 2`, one
/// platform); every photo an event lists reaches the platform with the same
/// sha256 and size.
fn two_lanes_with_their_evidence() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../sim/scenarios/fault_camera_dark.toml");
    let s = Scenario::load(&path).expect("scenario");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let reports = rt
        .block_on(async {
            tokio::time::timeout(
                std::time::Duration::from_secs(300),
                runner::run(&s, &options(None), 2),
            )
            .await
        })
        .expect("finishes")
        .expect("runs");
    assert_eq!(reports.len(), 2, "two independent lanes");
    for r in &reports {
        assert!(r.platform.photos_ok > 0, "{}: no photo arrived", r.lane);
        // One platform serves both lanes: a lane's report, taken when its
        // own trucks are done, may see the other lane's photos that came
        // ahead of their event (photos are queued before it). Each lane
        // answers for its own evidence.
        let own: Vec<_> = r
            .platform
            .photos_bad
            .iter()
            .filter(|p| p.lane == r.lane)
            .collect();
        assert!(own.is_empty(), "{}: {:?}", r.lane, own);
        assert!(r.violations.is_empty(), "{}: {:?}", r.lane, r.violations);
        assert_eq!(r.platform.events.len(), s.trucks.len(), "{}", r.lane);
    }
}

/// One released truck: a short run for the isolation test.
const ONE_TRUCK: &str = r#"
[scenario]
name = "one-truck"
seed = 5

[lane]
site = "HK-ISOL"
lane = "L01"
time_scale = 10.0

[whitelist]
version = 77

[[whitelist.gate_passes]]
pass_no = "HKIS251218000001"
plate = "琼A10B27"
etag = "E28011606000021080F56C5A"
trailer_plate = "琼A1027挂"
containers = ["CSLU9379330"]
declared_total_kg = 41100
goods_category = "zero_tariff"
valid_from = "-1d"
valid_until = "+1d"

[[trucks]]
at_s = 5
plate = "琼A10B27"
etag = "E28011606000021080F56C5A"
tare_kg = 8700
trailer = { plate = "琼A1027挂", tare_kg = 6500 }
containers = [{ number = "CSLU9379330", size_type = "45G1", position = "front" }]
cargo_kg = 22000
expect = { decision = "release", reasons = ["R00"], outcome = "passed", alarms = [] }
"#;

/// Issue 16: runs on one external broker (a real Mosquitto) are isolated:
/// two runs of the same lane one after the other both pass, the lane's
/// retained status is cleared after each, and a retained whitelist batch
/// that another party left on the site's topic stops the run with an error
/// naming the topic instead of feeding it to the lane.
fn runs_on_one_external_broker_are_isolated() {
    use sim::chaos::procs::{free_port, Mosquitto};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let s = Scenario::parse(ONE_TRUCK, "one-truck.toml").expect("scenario");
    let dir = std::env::temp_dir().join(format!("gate-isolation-{}", std::process::id()));
    rt.block_on(async {
        let port = free_port().expect("port");
        let _m = Mosquitto::start(&dir, port).await.expect("mosquitto");
        let broker = sim::broker::BrokerAddr {
            host: "127.0.0.1".into(),
            port,
        };
        let mut o = options(None);
        o.broker = Some(broker.clone());
        for n in 1..=2 {
            let r = runner::run(&s, &o, 1).await.expect("run");
            assert!(
                r[0].passed,
                "run {n} on the shared broker failed:{}",
                runner::summary(&r)
            );
            let status = sim::isolation::retained(
                &broker,
                "test-probe",
                &["gate/v1/HK-ISOL/L01/status".to_string()],
            )
            .await
            .expect("probe");
            assert!(
                status.iter().all(|(_, p)| p.is_empty()),
                "run {n} left the lane's status retained: {status:?}"
            );
        }
        // A port's probe: the whitelist and 39 lanes' command topics in
        // one go (it hung from 8 topics on: the client's request queue).
        let topics: Vec<String> = std::iter::once("gate/v1/HK-ISOL/whitelist".to_string())
            .chain((1..=39).map(|l| format!("gate/v1/HK-ISOL/L{l:02}/command")))
            .collect();
        let probe = tokio::time::timeout(
            std::time::Duration::from_secs(15),
            sim::isolation::retained(&broker, "test-port-probe", &topics),
        )
        .await
        .expect("the probe of 40 topics answers")
        .expect("probe");
        assert!(probe.iter().all(|(_, p)| p.is_empty()), "{probe:?}");
        // Someone else's retained whitelist on the site topic.
        let (client, mut ev) = rumqttc_client(&broker);
        client
            .publish(
                "gate/v1/HK-ISOL/whitelist",
                rumqttc::QoS::AtLeastOnce,
                true,
                br#"{"body":"{\"kind\":\"delta\",\"version\":9}","sig":"x","kid":"k"}"#.to_vec(),
            )
            .await
            .expect("publish");
        loop {
            if let rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_)) =
                ev.poll().await.expect("poll")
            {
                break;
            }
        }
        let err = runner::run(&s, &o, 1)
            .await
            .expect_err("a retained foreign whitelist must stop the run");
        let msg = format!("{err:#}");
        assert!(
            msg.contains("RETAINED") && msg.contains("gate/v1/HK-ISOL/whitelist"),
            "{msg}"
        );
    });
    let _ = std::fs::remove_dir_all(&dir);
}

fn rumqttc_client(b: &sim::broker::BrokerAddr) -> (rumqttc::AsyncClient, rumqttc::EventLoop) {
    let o = rumqttc::MqttOptions::new("test-foreign-platform", b.host.clone(), b.port);
    rumqttc::AsyncClient::new(o, 8)
}

/// Issue 16: `gate-sim devices --drive` runs a scenario against an agent it
/// did not start. Here the agent is the real `gate-agent` binary started as
/// a separate process with the configuration the simulator wrote (as a field
/// engineer would start it by hand, or systemd would); the run checks the
/// truck's event as `run` does.
fn drives_an_agent_it_did_not_start() {
    let agent_bin = std::env::current_exe()
        .ok()
        .and_then(|p| Some(p.parent()?.parent()?.join("gate-agent")))
        .filter(|p| p.exists())
        .expect("target/debug/gate-agent (built by `cargo test --workspace`)");
    let s = Scenario::parse(ONE_TRUCK, "one-truck.toml").expect("scenario");
    let dir = tempdir();
    let cfg = dir.join("etc").join("lane.toml");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let child: std::cell::RefCell<Option<std::process::Child>> = std::cell::RefCell::new(None);
    let log = dir.join("agent.log");
    let r = rt.block_on(runner::run_external(&s, &options(None), &cfg, |path| {
        let out = std::fs::File::create(&log).expect("log");
        let c = std::process::Command::new(&agent_bin)
            .arg("--config")
            .arg(path)
            .stdout(out.try_clone().expect("log"))
            .stderr(out)
            .spawn()
            .expect("start gate-agent");
        *child.borrow_mut() = Some(c);
    }));
    if let Some(mut c) = child.borrow_mut().take() {
        let _ = c.kill();
        let _ = c.wait();
    }
    let r = r.unwrap_or_else(|e| {
        panic!(
            "{e:#}\nagent log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        )
    });
    assert!(
        r.passed,
        "the driven agent's run failed:{}",
        runner::summary(std::slice::from_ref(&r))
    );
    assert_eq!(r.platform.events.len(), 1);
    assert!(
        cfg.parent()
            .expect("dir")
            .join("profiles/rfid-etag.toml")
            .exists(),
        "the profiles the configuration names are written beside it"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempdir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "gate-drive-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    std::fs::create_dir_all(&d).expect("tmp");
    d
}

/// Issue 18: the README's "Running a lane agent" hand-run steps, run as
/// written: the three commands of its code block, taken from README.md
/// itself, each through `sh -c` from the repository root with the
/// workspace's binaries first on PATH (what `cargo install` puts there);
/// the one change is the directory (`/tmp/lane` becomes a fresh one, so
/// runs do not collide). The simulator serves the devices and writes the
/// configuration, the agent starts on it as-is, and `gatectl -c` on the
/// same file finds the agent, which is idle, connected to the simulated
/// platform and holding its whitelist.
fn the_readme_hand_run_steps_work_as_written() {
    use std::process::{Command, Stdio};
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let block: Vec<String> = readme
        .lines()
        .skip_while(|l| !l.starts_with("To run an agent by hand"))
        .skip(1)
        .skip_while(|l| l.trim().is_empty())
        .take_while(|l| l.starts_with("    "))
        .map(|l| l.split(" # ").next().unwrap_or(l).trim().to_owned())
        .collect();
    assert_eq!(block.len(), 3, "the README's hand-run block: {block:?}");
    assert!(block[0].starts_with("gate-sim devices"), "{block:?}");
    assert!(block[1].starts_with("gate-agent --config"), "{block:?}");
    assert!(block[2].starts_with("gatectl -c"), "{block:?}");
    let bins = std::env::current_exe()
        .ok()
        .and_then(|p| Some(p.parent()?.parent()?.to_path_buf()))
        .expect("target/debug");
    for b in ["gate-sim", "gate-agent", "gatectl"] {
        assert!(
            bins.join(b).exists(),
            "{b} in {} (built by `cargo test --workspace`)",
            bins.display()
        );
    }
    let dir = tempdir();
    let lane = dir.join("lane");
    let path = format!(
        "{}:{}",
        bins.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let step = |i: usize| -> Command {
        let line = block[i].replace("/tmp/lane", &lane.display().to_string());
        let mut c = Command::new("sh");
        c.args(["-c", &format!("exec {line}")])
            .current_dir(&root)
            .env("PATH", &path)
            .env("NO_COLOR", "1");
        c
    };
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let sim_log = std::fs::File::create(dir.join("sim.log")).expect("log");
    let _sim = Kill(
        step(0)
            .stdout(sim_log.try_clone().expect("log"))
            .stderr(sim_log)
            .spawn()
            .expect("gate-sim devices"),
    );
    let config = lane.join("lane.toml");
    let waited = std::time::Instant::now();
    while !config.exists() {
        assert!(
            waited.elapsed() < std::time::Duration::from_secs(60),
            "gate-sim devices wrote no {}: {}",
            config.display(),
            std::fs::read_to_string(dir.join("sim.log")).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let agent_log = std::fs::File::create(dir.join("agent.log")).expect("log");
    let mut agent = Kill(
        step(1)
            .stdout(agent_log.try_clone().expect("log"))
            .stderr(agent_log)
            .spawn()
            .expect("gate-agent"),
    );
    let waited = std::time::Instant::now();
    loop {
        let out = step(2)
            .stdin(Stdio::null())
            .output()
            .expect("gatectl status");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let row = |name: &str| {
            text.lines()
                .find(|l| l.split_whitespace().next() == Some(name))
                .map(|l| l[name.len()..].trim().to_owned())
                .unwrap_or_default()
        };
        if out.status.success()
            && row("state") == "idle"
            && row("link") == "connected"
            && row("whitelist").starts_with("version ")
        {
            break;
        }
        if let Ok(Some(exit)) = agent.0.try_wait() {
            panic!(
                "the agent exited ({exit}) on the configuration the README's first command wrote:\n{}",
                std::fs::read_to_string(dir.join("agent.log")).unwrap_or_default()
            );
        }
        assert!(
            waited.elapsed() < std::time::Duration::from_secs(120),
            "`{}` never showed an idle, connected lane with a whitelist; last:\n{text}{}\nagent log:\n{}",
            block[2],
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(dir.join("agent.log")).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    assert!(
        lane.join("profiles")
            .read_dir()
            .is_ok_and(|mut d| d.next().is_some()),
        "the profiles beside the configuration"
    );
    assert!(
        lane.join("lane.db").exists(),
        "the lane database beside the configuration, not in the working directory"
    );
    drop(agent);
    let _ = std::fs::remove_dir_all(&dir);
}

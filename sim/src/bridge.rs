//! A port broker bridged to a central broker, both Mosquitto child
//! processes running the configuration shipped in `config/mosquitto/`
//! (port-bridge.conf, central.conf) with only what a test machine needs
//! changed: loopback ports, a
//! persistence directory of the run, a log file, anonymous plain MQTT
//! instead of TLS with client certificates (the TLS and ACL lines are
//! dropped; docs/deployment.md shows them in use), and the bridge's
//! `address` pointed at a relay in front of the central broker: the
//! uplink, which [`BridgedPort::uplink`] can cut. Used by the port bench
//! (sim/benches/port.rs) and the outage test (tests/tests/it/port_bridge.rs).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use crate::broker::{BrokerAddr, BrokerRelay};

/// The site the shipped configuration is written for (its topic mapping
/// and bridge names).
pub const SHIPPED_SITE: &str = "HK-XINHAI";

/// TLS and authentication directives left out (plain MQTT on loopback,
/// anonymous).
const TLS_AND_AUTH: &[&str] = &[
    "cafile",
    "certfile",
    "keyfile",
    "require_certificate",
    "use_identity_as_username",
    "tls_version",
    "acl_file",
];
const BRIDGE_TLS: &[&str] = &[
    "bridge_cafile",
    "bridge_certfile",
    "bridge_keyfile",
    "bridge_tls_version",
    "bridge_insecure",
];

/// A Mosquitto child process on a configuration file; killed on drop.
pub struct Mosquitto {
    child: Child,
    dir: PathBuf,
}

impl Mosquitto {
    /// Write `conf` to `dir/mosquitto.conf` and start Mosquitto on it;
    /// waits until it listens on 127.0.0.1:`port`.
    pub fn start(dir: &Path, conf: &str, port: u16) -> Result<Mosquitto> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join("mosquitto.conf");
        std::fs::write(&path, conf).with_context(|| format!("writing {}", path.display()))?;
        let prog = if Path::new("/usr/sbin/mosquitto").exists() {
            "/usr/sbin/mosquitto"
        } else {
            "mosquitto"
        };
        let log = std::fs::File::create(dir.join("stdout.log")).context("broker log")?;
        let mut child = Command::new(prog)
            .arg("-c")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("broker log")?)
            .stderr(log)
            .spawn()
            .context("starting mosquitto (Debian package `mosquitto`; `cargo xtask install`)")?;
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let t0 = Instant::now();
        while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
            if let Ok(Some(st)) = child.try_wait() {
                bail!("mosquitto exited at start ({st}): {}", logs(dir));
            }
            if t0.elapsed() > Duration::from_secs(10) {
                let _ = child.kill();
                let _ = child.wait();
                bail!("mosquitto not listening on {addr}: {}", logs(dir));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Mosquitto {
            child,
            dir: dir.to_owned(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its output and log file.
    pub fn logs(&self) -> String {
        logs(&self.dir)
    }
}

fn logs(dir: &Path) -> String {
    ["stdout.log", "mosquitto.log"]
        .iter()
        .map(|f| std::fs::read_to_string(dir.join(f)).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The shipped configuration `name` (in `config/mosquitto/`), made
/// runnable here: every directive in `replace` is replaced (it must be in
/// the file), every one in `drop` is commented out (each must be in the
/// file too, so that a changed file is noticed).
pub fn render(name: &str, replace: &[(&str, String)], drop: &[&str]) -> Result<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../config/mosquitto")
        .join(name);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = String::from("# rendered by sim::bridge\nuser root\n");
    let mut seen = BTreeSet::new();
    for line in text.lines() {
        let key = line.split_whitespace().next().unwrap_or("");
        if line.trim_start().starts_with('#') || key.is_empty() {
            out.push_str(line);
        } else if let Some((k, v)) = replace.iter().find(|(k, _)| *k == key) {
            seen.insert(*k);
            out.push_str(&format!("{k} {v}"));
        } else if drop.contains(&key) {
            seen.insert(key);
            out.push_str(&format!("# (dropped) {line}"));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    for k in replace.iter().map(|(k, _)| *k).chain(drop.iter().copied()) {
        if !seen.contains(k) {
            return Err(anyhow!("{name} has no `{k}` directive any more"));
        }
    }
    Ok(out)
}

/// The central broker, the uplink relay and the port broker bridged
/// through it, all on loopback. Dropped: both brokers are killed.
pub struct BridgedPort {
    /// Where the platform connects.
    pub central: BrokerAddr,
    /// Where the lanes' agents connect.
    pub port: BrokerAddr,
    /// The bridge's way to the centre: `set_down(true)` cuts it.
    pub uplink: BrokerRelay,
    pub central_broker: Mosquitto,
    pub port_broker: Mosquitto,
}

impl BridgedPort {
    /// Start both brokers with their files under `dir` (`central/`,
    /// `port/`).
    pub fn start(dir: &Path) -> Result<BridgedPort> {
        let free = crate::chaos::procs::free_port;
        let (central_port, port_port) = (free()?, free()?);
        let central = BrokerAddr::new("127.0.0.1", central_port);
        let port = BrokerAddr::new("127.0.0.1", port_port);
        let cdir = dir.join("central");
        let conf = render(
            "central.conf",
            &[
                ("listener", format!("{central_port} 127.0.0.1")),
                ("allow_anonymous", "true".into()),
                ("persistence_location", format!("{}/", cdir.display())),
                ("log_dest", format!("file {}/mosquitto.log", cdir.display())),
            ],
            TLS_AND_AUTH,
        )?;
        let central_broker = Mosquitto::start(&cdir, &conf, central_port)?;
        let uplink = BrokerRelay::start(&central).context("the uplink relay")?;
        let pdir = dir.join("port");
        let drops: Vec<&str> = TLS_AND_AUTH.iter().chain(BRIDGE_TLS).copied().collect();
        let conf = render(
            "port-bridge.conf",
            &[
                ("listener", format!("{port_port} 127.0.0.1")),
                ("allow_anonymous", "true".into()),
                ("persistence_location", format!("{}/", pdir.display())),
                ("log_dest", format!("file {}/mosquitto.log", pdir.display())),
                ("address", uplink.addr().to_string()),
            ],
            &drops,
        )?;
        let port_broker = Mosquitto::start(&pdir, &conf, port_port)?;
        Ok(BridgedPort {
            central,
            port,
            uplink,
            central_broker,
            port_broker,
        })
    }

    /// Wait until the bridge is connected: its retained state
    /// notification at the centre says `1`.
    pub async fn wait_connected(&self, timeout: Duration) -> Result<()> {
        use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
        let mut o = MqttOptions::new(
            format!("bridge-probe-{}", std::process::id()),
            self.central.host.clone(),
            self.central.port,
        );
        o.set_clean_session(true)
            .set_keep_alive(Duration::from_secs(10));
        let (client, mut ev) = AsyncClient::new(o, 16);
        let topic = format!("$SYS/broker/connection/bridge-{SHIPPED_SITE}/state");
        client
            .subscribe(&topic, QoS::AtLeastOnce)
            .await
            .context("subscribe")?;
        let wait = async {
            loop {
                match ev.poll().await {
                    Ok(Event::Incoming(Packet::Publish(p))) if &p.payload[..] == b"1" => {
                        return;
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        };
        let r = tokio::time::timeout(timeout, wait).await;
        let _ = client.disconnect().await;
        r.map_err(|_| {
            anyhow!(
                "the bridge did not connect within {} s: {}",
                timeout.as_secs(),
                self.port_broker.logs()
            )
        })
    }
}

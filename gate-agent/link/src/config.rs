//! The link's configuration (the `[link]` part of the agent's configuration)
//! and how it becomes rumqttc options.
//!
//! Layer: configuration data and validation; builds `rumqttc::MqttOptions`
//! but opens no connection.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use gate_proto::topics::LaneTopics;
use rumqttc::{LastWill, MqttOptions, QoS, TlsConfiguration, Transport};
use serde::Deserialize;

use crate::error::LinkError;

/// PEM files for TLS with a client certificate.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// CA certificate(s) the broker's certificate must chain to.
    pub ca_file: PathBuf,
    /// The lane's client certificate chain (with `key_file`; both or neither).
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    /// The lane's private key (PKCS#8, PKCS#1 or SEC1).
    #[serde(default)]
    pub key_file: Option<PathBuf>,
}

/// Link settings. Every duration is in milliseconds; defaults in brackets.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkConfig {
    /// Port id, `[A-Z0-9-]{1,16}`.
    pub site: String,
    /// Lane id, `[A-Z0-9-]{1,16}`.
    pub lane: String,
    /// Broker host name or IP address (also the TLS server name).
    pub host: String,
    /// Broker port [1883; 8883 usual with TLS].
    #[serde(default = "d_port")]
    pub port: u16,
    /// TLS files; plain TCP when absent (tests and the demo only).
    #[serde(default)]
    pub tls: Option<TlsFiles>,
    /// MQTT keep-alive [30 000].
    #[serde(default = "d_keep_alive")]
    pub keep_alive_ms: u64,
    /// TCP + TLS + CONNACK deadline for one attempt [10 000].
    #[serde(default = "d_connect_timeout")]
    pub connect_timeout_ms: u64,
    /// Reconnect backoff base [250] and cap [30 000] (full jitter).
    #[serde(default = "d_backoff_base")]
    pub backoff_base_ms: u64,
    #[serde(default = "d_backoff_cap")]
    pub backoff_cap_ms: u64,
    /// A connection up this long resets the backoff [10 000].
    #[serde(default = "d_stable")]
    pub stable_after_ms: u64,
    /// Outbox items in flight (published, PUBACK pending) at most [64].
    #[serde(default = "d_window")]
    pub window: usize,
    /// Outbox payload bytes in flight at most [4 MiB].
    #[serde(default = "d_window_bytes")]
    pub window_bytes: usize,
    /// Largest outgoing MQTT packet [16 MiB]; a larger outbox item is dropped
    /// with a critical alarm (it could never be sent).
    #[serde(default = "d_max_out")]
    pub max_packet_out: usize,
    /// Period of the retained status [30 000]; changes are published sooner,
    /// at most once per `status_min_interval_ms` [1 000].
    #[serde(default = "d_status")]
    pub status_interval_ms: u64,
    #[serde(default = "d_status_min")]
    pub status_min_interval_ms: u64,
    /// While the whitelist is out of date, ask again this often when no batch
    /// arrives [60 000].
    #[serde(default = "d_resync")]
    pub resync_interval_ms: u64,
    /// Clock skew allowed on command `issued_at` / `expires_at` [30 000].
    #[serde(default = "d_skew")]
    pub clock_skew_ms: u64,
    /// Commands waiting for the agent at most [8]; more are refused "busy".
    #[serde(default = "d_cmd_queue")]
    pub command_queue: usize,
    /// The agent must answer a command within this [60 000]; else the reply
    /// is ok=false "timeout".
    #[serde(default = "d_cmd_timeout")]
    pub command_timeout_ms: u64,
}

fn d_port() -> u16 {
    1883
}
fn d_keep_alive() -> u64 {
    30_000
}
fn d_connect_timeout() -> u64 {
    10_000
}
fn d_backoff_base() -> u64 {
    250
}
fn d_backoff_cap() -> u64 {
    30_000
}
fn d_stable() -> u64 {
    10_000
}
fn d_window() -> usize {
    64
}
fn d_window_bytes() -> usize {
    4 << 20
}
fn d_max_out() -> usize {
    16 << 20
}
fn d_status() -> u64 {
    30_000
}
fn d_status_min() -> u64 {
    1_000
}
fn d_resync() -> u64 {
    60_000
}
fn d_skew() -> u64 {
    30_000
}
fn d_cmd_queue() -> usize {
    8
}
fn d_cmd_timeout() -> u64 {
    60_000
}

/// Direct (non-outbox) publishes in flight at most: status and sync requests.
pub(crate) const DIRECT_SLOTS: usize = 8;
/// Largest incoming packet: the biggest signed envelope plus the MQTT header
/// and topic, so that an oversized message is read and refused (with an
/// alarm) instead of breaking the connection on every redelivery.
pub(crate) const MAX_PACKET_IN: usize = gate_proto::sign::MAX_ENVELOPE_BYTES + 64 * 1024;
/// Most outbox items the window may hold (rumqttc packet ids are u16).
pub const MAX_WINDOW: usize = 10_000;

impl LinkConfig {
    /// A configuration with every default, plain TCP.
    pub fn new(site: &str, lane: &str, host: &str, port: u16) -> Self {
        Self {
            site: site.to_owned(),
            lane: lane.to_owned(),
            host: host.to_owned(),
            port,
            tls: None,
            keep_alive_ms: d_keep_alive(),
            connect_timeout_ms: d_connect_timeout(),
            backoff_base_ms: d_backoff_base(),
            backoff_cap_ms: d_backoff_cap(),
            stable_after_ms: d_stable(),
            window: d_window(),
            window_bytes: d_window_bytes(),
            max_packet_out: d_max_out(),
            status_interval_ms: d_status(),
            status_min_interval_ms: d_status_min(),
            resync_interval_ms: d_resync(),
            clock_skew_ms: d_skew(),
            command_queue: d_cmd_queue(),
            command_timeout_ms: d_cmd_timeout(),
        }
    }

    /// Check every value; returns all problems at once.
    pub fn validate(&self) -> Result<(), LinkError> {
        let mut errs = Vec::new();
        if !gate_proto::valid_id(&self.site) {
            errs.push(format!("site `{}` is not [A-Z0-9-]{{1,16}}", self.site));
        }
        if !gate_proto::valid_id(&self.lane) {
            errs.push(format!("lane `{}` is not [A-Z0-9-]{{1,16}}", self.lane));
        }
        if self.host.trim().is_empty() {
            errs.push("host is empty".into());
        }
        if self.port == 0 {
            errs.push("port is 0".into());
        }
        if !(1_000..=65_535_000).contains(&self.keep_alive_ms) {
            errs.push("keep_alive_ms must be 1 000..=65 535 000".into());
        }
        if self.connect_timeout_ms < 100 {
            errs.push("connect_timeout_ms must be at least 100".into());
        }
        if self.backoff_base_ms == 0 || self.backoff_cap_ms < self.backoff_base_ms {
            errs.push("backoff_base_ms must be > 0 and <= backoff_cap_ms".into());
        }
        if !(1..=MAX_WINDOW).contains(&self.window) {
            errs.push(format!("window must be 1..={MAX_WINDOW}"));
        }
        if self.window_bytes == 0 {
            errs.push("window_bytes is 0".into());
        }
        if self.max_packet_out < 1024 {
            errs.push("max_packet_out must be at least 1024".into());
        }
        if self.status_interval_ms < 100 || self.status_min_interval_ms > self.status_interval_ms {
            errs.push("status_interval_ms must be >= 100 and >= status_min_interval_ms".into());
        }
        if self.resync_interval_ms < 100 {
            errs.push("resync_interval_ms must be at least 100".into());
        }
        if !(1..=1024).contains(&self.command_queue) {
            errs.push("command_queue must be 1..=1024".into());
        }
        if self.command_timeout_ms < 100 {
            errs.push("command_timeout_ms must be at least 100".into());
        }
        if let Some(t) = &self.tls {
            if t.cert_file.is_some() != t.key_file.is_some() {
                errs.push("tls: cert_file and key_file go together".into());
            }
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(LinkError::Config(errs.join("; ")))
        }
    }

    pub fn topics(&self) -> LaneTopics {
        LaneTopics::new(&self.site, &self.lane)
    }

    pub(crate) fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    /// rumqttc's in-flight limit: our window plus the direct publishes, so
    /// rumqttc never blocks a publish the window allowed.
    pub(crate) fn rumqttc_inflight(&self) -> u16 {
        u16::try_from(self.window + DIRECT_SLOTS).unwrap_or(u16::MAX)
    }

    /// rumqttc options: client id `gate-{site}-{lane}`, persistent session,
    /// retained offline will, manual acks (an incoming message is acknowledged
    /// only after the link has handled it), TLS when configured.
    pub(crate) fn mqtt_options(&self, tls: Option<Arc<rustls::ClientConfig>>) -> MqttOptions {
        let t = self.topics();
        let mut o = MqttOptions::new(t.client_id(), self.host.clone(), self.port);
        o.set_clean_session(false)
            .set_keep_alive(Self::ms(self.keep_alive_ms))
            .set_manual_acks(true)
            .set_inflight(self.rumqttc_inflight())
            .set_max_packet_size(MAX_PACKET_IN, self.max_packet_out)
            .set_last_will(LastWill::new(
                t.status(),
                crate::OFFLINE_STATUS,
                QoS::AtLeastOnce,
                true,
            ));
        if let Some(cfg) = tls {
            o.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(cfg)));
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let c = LinkConfig::new("HK-XINHAI", "L03", "127.0.0.1", 1883);
        c.validate().unwrap();
        let o = c.mqtt_options(None);
        assert_eq!(o.client_id(), "gate-HK-XINHAI-L03");
        assert!(!o.clean_session());
        assert_eq!(o.inflight(), 72);
        let will = o.last_will().unwrap();
        assert_eq!(will.topic, "gate/v1/HK-XINHAI/L03/status");
        assert!(will.retain);
        assert_eq!(&will.message[..], br#"{"state":"offline"}"#);
    }

    #[test]
    fn from_toml_with_defaults() {
        let c: LinkConfig = serde_json::from_value(serde_json::json!({
            "site": "HK", "lane": "L1", "host": "broker", "window": 16,
            "tls": {"ca_file": "/etc/ca.pem", "cert_file": "/c.pem", "key_file": "/k.pem"}
        }))
        .unwrap();
        assert_eq!(c.window, 16);
        assert_eq!(c.port, 1883);
        c.validate().unwrap();
    }

    #[test]
    fn invalid_values_all_reported() {
        let mut c = LinkConfig::new("hk", "L1", "", 1883);
        c.window = 0;
        c.tls = Some(TlsFiles {
            ca_file: "/ca".into(),
            cert_file: Some("/c".into()),
            key_file: None,
        });
        let e = c.validate().unwrap_err().to_string();
        for part in ["site", "host", "window", "cert_file"] {
            assert!(e.contains(part), "{e}");
        }
    }
}

//! Issue 5: TLS with rustls (ring provider) and a client certificate,
//! against mosquitto with `require_certificate true`; certificates are made
//! by the `openssl` CLI for the test.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use crate::support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use gate_link::memory::{MemCommandLog, MemOutbox, MemWhitelist};
use gate_link::{
    Link, LinkConfig, LinkDeps, LinkHandle, Outbox, OutboxKind, OutboxMessage, TlsFiles,
};
use support::*;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate.
fn make_certs(dir: &Path, ca_name: &str) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut a = vec!["req", "-x509", "-days", "2", "-subj"];
    let subj = format!("/CN={ca_name}");
    a.push(&subj);
    a.extend(ec);
    a.extend(["-keyout", "ca.key", "-out", "ca.pem"]);
    openssl(dir, &a);
    std::fs::write(dir.join("server.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    for (name, cn) in [("server", "127.0.0.1"), ("client", "gate-HK-XINHAI-L03")] {
        let subj = format!("/CN={cn}");
        let key = format!("{name}.key");
        let csr = format!("{name}.csr");
        let mut a = vec!["req", "-subj", &subj];
        a.extend(ec);
        a.extend(["-keyout", &key, "-out", &csr]);
        openssl(dir, &a);
        let pem = format!("{name}.pem");
        let ext = format!("{name}.ext");
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-out",
                &pem,
                "-extfile",
                &ext,
            ],
        );
    }
}

fn spawn(port: u16, tls: TlsFiles) -> (LinkHandle, std::sync::Arc<MemOutbox>) {
    let mut cfg = LinkConfig::new(SITE, LANE, "127.0.0.1", port);
    cfg.tls = Some(tls);
    cfg.backoff_base_ms = 50;
    cfg.backoff_cap_ms = 200;
    let outbox = MemOutbox::new();
    let (h, _rx) = Link::spawn(
        cfg,
        LinkDeps {
            outbox: outbox.clone(),
            whitelist: MemWhitelist::new(1),
            commands: MemCommandLog::new(MemOutbox::new()),
            keyring: keyring(),
        },
    )
    .unwrap();
    (h, outbox)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_client_certificate() {
    init_tracing();
    require_tool("openssl");
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    let other = dir.path().join("other");
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::create_dir_all(&other).unwrap();
    make_certs(&certs, "lane-test-ca");
    make_certs(&other, "some-other-ca");
    let tls_port = free_port();
    let c = certs.display();
    let broker = Broker::start_with(
        dir.path(),
        free_port(),
        &format!(
            "listener {tls_port} 127.0.0.1\ncafile {c}/ca.pem\ncertfile {c}/server.pem\n\
             keyfile {c}/server.key\nrequire_certificate true\n"
        ),
    );
    let ev = format!("gate/v1/{SITE}/{LANE}/event");
    let seen = Collector::spawn(broker.port, "platform-tls", &[&ev], true);
    assert!(wait_for(Duration::from_secs(5), || seen.is_connected()).await);

    // With the client certificate: connects and delivers.
    let (h, outbox) = spawn(
        tls_port,
        TlsFiles {
            ca_file: certs.join("ca.pem"),
            cert_file: Some(certs.join("client.pem")),
            key_file: Some(certs.join("client.key")),
        },
    );
    assert!(
        wait_for(Duration::from_secs(5), || h.state().connected).await,
        "{:?}",
        h.state()
    );
    outbox
        .enqueue(&OutboxMessage::new(
            OutboxKind::Event,
            ev.clone(),
            event_payload(1),
        ))
        .unwrap();
    h.notify_outbox();
    assert!(wait_for(Duration::from_secs(5), || seen.count_on(&ev) == 1).await);
    h.shutdown().await;

    // Without a client certificate: the broker refuses the handshake.
    let (h, _) = spawn(
        tls_port,
        TlsFiles {
            ca_file: certs.join("ca.pem"),
            cert_file: None,
            key_file: None,
        },
    );
    assert!(wait_for(Duration::from_secs(5), || h.state().last_error.is_some()).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(h.state().connects, 0, "{:?}", h.state());
    h.shutdown().await;

    // A broker certificate from another CA: the link refuses it.
    let (h, _) = spawn(
        tls_port,
        TlsFiles {
            ca_file: other.join("ca.pem"),
            cert_file: Some(other.join("client.pem")),
            key_file: Some(other.join("client.key")),
        },
    );
    assert!(wait_for(Duration::from_secs(5), || h.state().last_error.is_some()).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(h.state().connects, 0);
    let e = h.state().last_error.unwrap();
    assert!(
        e.to_lowercase().contains("tls") || e.contains("certificate"),
        "{e}"
    );
    h.shutdown().await;
}

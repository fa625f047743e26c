//! The platform link: the outbox and the whitelist sync.

use crate::out::{ago, bytes, Out, Style};
use gate_control::protocol::{OutboxData, SyncData};

pub fn outbox(o: &Out, d: &OutboxData) {
    let pst = match d.pressure.as_str() {
        "normal" => Style::Good,
        "warn" => Style::Warn,
        _ => Style::Bad,
    };
    let mut rows = vec![
        (
            "depth",
            format!("{} item(s), {}", d.depth, bytes(d.bytes)),
            Style::Bold,
        ),
        (
            "events",
            format!("{} ({})", d.events, bytes(d.event_bytes)),
            Style::Plain,
        ),
        (
            "photos",
            format!(
                "{} ({}), {} evicted since start",
                d.photos,
                bytes(d.photo_bytes),
                d.evicted_photos
            ),
            Style::Plain,
        ),
        (
            "other",
            format!("{} (alarms, replies, status, sync)", d.other),
            Style::Plain,
        ),
        (
            "oldest",
            match (&d.oldest_at, d.oldest_age_s) {
                (Some(a), Some(s)) => format!("{a} ({} ago)", ago(s * 1000)),
                _ => "-".into(),
            },
            Style::Plain,
        ),
        (
            "quota",
            format!(
                "{} used of {}",
                format_pct(d.used_percent),
                bytes(d.quota_bytes)
            ),
            Style::Plain,
        ),
        ("pressure", d.pressure.clone(), pst),
    ];
    if let Some(l) = &d.link {
        rows.push((
            "link",
            format!(
                "{}, {} in flight, {} acked, {} dropped, {} connects{}",
                if l.connected { "connected" } else { "offline" },
                l.in_flight,
                l.acked,
                l.dropped,
                l.connects,
                l.last_error
                    .as_ref()
                    .map(|e| format!(", last error: {e}"))
                    .unwrap_or_default()
            ),
            if l.connected {
                Style::Good
            } else {
                Style::Warn
            },
        ));
    }
    o.pairs(&rows);
}

fn format_pct(p: f64) -> String {
    format!("{p:.1} %")
}

pub fn sync(o: &Out, d: &SyncData) {
    let mut rows = vec![
        (
            "whitelist",
            format!("version {}", d.whitelist_version),
            if d.whitelist_version == 0 {
                Style::Warn
            } else {
                Style::Bold
            },
        ),
        (
            "state",
            if d.out_of_date {
                "out of date: resync in progress".to_owned()
            } else {
                "up to date as far as the lane knows".to_owned()
            },
            if d.out_of_date {
                Style::Warn
            } else {
                Style::Good
            },
        ),
        (
            "link",
            if d.link_connected {
                "connected"
            } else {
                "offline"
            }
            .to_owned(),
            if d.link_connected {
                Style::Good
            } else {
                Style::Warn
            },
        ),
    ];
    if let Some(c) = &d.counts {
        rows.push((
            "records",
            format!(
                "{} passes ({} containers), {} vehicles, {} enterprises, {} controls",
                c.passes, c.containers, c.vehicles, c.enterprises, c.controls
            ),
            Style::Plain,
        ));
    }
    rows.push((
        "staging",
        match &d.staging {
            Some(s) => format!(
                "snapshot version {}: {}/{} chunks{}",
                s.version,
                s.received,
                s.count,
                if s.missing.is_empty() {
                    String::new()
                } else {
                    format!(", missing {:?}", s.missing)
                }
            ),
            None => "none".into(),
        },
        Style::Plain,
    ));
    if d.resync_requested {
        rows.push(("resync", "requested from the platform".into(), Style::Good));
    }
    o.pairs(&rows);
}

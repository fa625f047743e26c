//! Alarm expectations (`trucks[].expect.alarms`, docs/scenarios.md,
//! "Alarms"): which alarms the platform received during a truck's passage,
//! and whether they are the ones the scenario states.
//!
//! Layer: scenario data, pure. The runner gives the lane's alarms and the
//! closing time of each truck's event; this module attributes every alarm to
//! a passage and compares. Times are the lane's clock (unix ms): an alarm's
//! `at` and an event's `finished_at`, so alarms queued while the broker was
//! down are attributed by when they were raised, not delivered.

use std::fmt;

use gate_proto::messages::{Alarm, Severity};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

/// Every alarm kind the lane raises (docs/lane-sequence.md, docs/link.md).
pub const KNOWN_KINDS: &[&str] = &[
    "tailgating",
    "stuck_vehicle",
    "device_fault",
    "device_recovered",
    "barrier_fault",
    "decision_timeout",
    "store_error",
    "outbox_filling",
    "outbox_item_dropped",
    "rejected_message",
    "subscription_refused",
];

/// Lane seconds after a truck's event closes during which an alarm still
/// belongs to that truck (alarms are queued by a task of their own).
pub const GRACE_S: f64 = 2.0;

/// One expected alarm: `"device_fault"`, or a table
/// `{ kind, severity?, detail?, count? }`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AlarmExpect {
    pub kind: String,
    /// The alarm's severity must be this one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    /// The alarm's detail must contain this text (case-insensitive).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Exactly this many alarms match (default: at least one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AlarmTable {
    kind: String,
    #[serde(default)]
    severity: Option<Severity>,
    #[serde(default)]
    detail: Option<String>,
    #[serde(default)]
    count: Option<u32>,
}

impl<'de> Deserialize<'de> for AlarmExpect {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = AlarmExpect;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "an alarm kind (a string) or a table { kind, severity?, detail?, count? }",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<AlarmExpect, E> {
                Ok(AlarmExpect::kind(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, m: A) -> Result<AlarmExpect, A::Error> {
                let t = AlarmTable::deserialize(de::value::MapAccessDeserializer::new(m))?;
                Ok(AlarmExpect {
                    kind: t.kind,
                    severity: t.severity,
                    detail: t.detail,
                    count: t.count,
                })
            }
        }
        d.deserialize_any(V)
    }
}

impl AlarmExpect {
    /// Any alarm of this kind.
    pub fn kind(kind: &str) -> Self {
        Self {
            kind: kind.to_owned(),
            severity: None,
            detail: None,
            count: None,
        }
    }

    pub fn matches(&self, a: &Alarm) -> bool {
        a.kind == self.kind
            && self.severity.is_none_or(|s| s == a.severity)
            && self
                .detail
                .as_ref()
                .is_none_or(|d| a.detail.to_lowercase().contains(d.to_lowercase().as_str()))
    }
}

impl fmt::Display for AlarmExpect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind)?;
        if let Some(s) = self.severity {
            write!(f, " ({})", severity_str(s))?;
        }
        if let Some(d) = &self.detail {
            write!(f, " with detail containing {d:?}")?;
        }
        if let Some(n) = self.count {
            write!(f, " x{n}")?;
        }
        Ok(())
    }
}

pub fn severity_str(s: Severity) -> &'static str {
    match s {
        Severity::Info => "info",
        Severity::Warning => "warning",
        Severity::Critical => "critical",
    }
}

/// One alarm as a short text for messages.
pub fn describe(a: &Alarm) -> String {
    format!("{} ({}): {}", a.kind, severity_str(a.severity), a.detail)
}

/// The alarms of a passage: the index of each alarm whose `at` lies in
/// `(opens_ms, closes_ms]`. A truck's window opens where the window of the
/// truck whose event closed before it closes (the start of the run for the
/// first) and closes at its own event's `finished_at` plus [`GRACE_S`];
/// see [`windows`].
pub fn in_window(alarms: &[Alarm], opens_ms: i64, closes_ms: i64) -> Vec<usize> {
    alarms
        .iter()
        .enumerate()
        .filter(|(_, a)| {
            gate_proto::time::parse_unix_ms(&a.at).is_some_and(|t| t > opens_ms && t <= closes_ms)
        })
        .map(|(i, _)| i)
        .collect()
}

/// Windows `(opens_ms, closes_ms]` for trucks whose events closed at
/// `closes_ms` (None: no event). The windows partition the run: a truck's
/// window opens at the latest close strictly before its own (`start_ms` if
/// none), so every alarm belongs to the first passage that closes after it.
/// Passages closing at the same instant (a tailgater and the truck it
/// followed) share one window.
pub fn windows(start_ms: i64, closes_ms: &[Option<i64>]) -> Vec<Option<(i64, i64)>> {
    closes_ms
        .iter()
        .map(|c| {
            c.map(|close| {
                let opens = closes_ms
                    .iter()
                    .flatten()
                    .copied()
                    .filter(|o| *o < close)
                    .max()
                    .unwrap_or(start_ms)
                    .max(start_ms);
                (opens, close)
            })
        })
        .collect()
}

/// Compare a passage's alarms with the expectation: every expected alarm
/// was received (exactly `count` times when given), and every alarm received
/// is expected (the list is the exact set). One message per difference.
pub fn compare(want: &[AlarmExpect], got: &[&Alarm]) -> Vec<String> {
    let mut problems = Vec::new();
    for w in want {
        let n = got.iter().filter(|a| w.matches(a)).count();
        match w.count {
            Some(c) if n != c as usize => problems.push(format!(
                "alarm {w}: {n} received during the passage, expected {c}"
            )),
            None if n == 0 => problems.push(format!(
                "alarm {w} expected but not received during the passage{}",
                received(got)
            )),
            _ => {}
        }
    }
    for a in got {
        if !want.iter().any(|w| w.matches(a)) {
            problems.push(format!(
                "unexpected alarm {} during the passage (expect.alarms lists every alarm of the passage)",
                describe(a)
            ));
        }
    }
    problems
}

fn received(got: &[&Alarm]) -> String {
    if got.is_empty() {
        " (none received)".into()
    } else {
        format!(
            " (received: {})",
            got.iter()
                .map(|a| describe(a))
                .collect::<Vec<_>>()
                .join("; ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alarm(kind: &str, sev: Severity, at_ms: i64, detail: &str) -> Alarm {
        Alarm {
            alarm_id: format!("a{at_ms}"),
            kind: kind.into(),
            severity: sev,
            at: gate_proto::time::format_unix_ms(at_ms),
            detail: detail.into(),
        }
    }

    #[test]
    fn windows_partition_the_run_and_tailgaters_share() {
        let w = windows(
            1000,
            &[Some(5000), None, Some(9000), Some(9000), Some(12000)],
        );
        assert_eq!(
            w,
            vec![
                Some((1000, 5000)),
                None,
                Some((5000, 9000)),
                Some((5000, 9000)),
                Some((9000, 12000))
            ]
        );
        let a = [
            alarm("device_fault", Severity::Warning, 1000, "x"),
            alarm("device_fault", Severity::Warning, 1001, "x"),
            alarm("tailgating", Severity::Critical, 9000, "y"),
        ];
        assert_eq!(in_window(&a, 1000, 5000), vec![1]);
        assert_eq!(in_window(&a, 5000, 9000), vec![2]);
    }

    #[test]
    fn compare_is_exact_with_filters() {
        let f = alarm(
            "device_fault",
            Severity::Warning,
            1,
            "scale: weighbridge not answering",
        );
        let r = alarm(
            "device_recovered",
            Severity::Info,
            2,
            "scale: answering again",
        );
        let want = vec![AlarmExpect {
            detail: Some("SCALE".into()),
            ..AlarmExpect::kind("device_fault")
        }];
        assert!(compare(&want, &[&f]).is_empty());
        let p = compare(&want, &[&f, &r]);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].contains("unexpected alarm device_recovered"), "{p:?}");
        let p = compare(&want, &[]);
        assert!(p[0].contains("expected but not received"), "{p:?}");
        let want = vec![AlarmExpect {
            severity: Some(Severity::Critical),
            ..AlarmExpect::kind("device_fault")
        }];
        assert_eq!(compare(&want, &[&f]).len(), 2);
        let want = vec![AlarmExpect {
            count: Some(2),
            ..AlarmExpect::kind("device_fault")
        }];
        assert!(compare(&want, &[&f])[0].contains("1 received"));
        assert!(compare(&[], &[]).is_empty());
    }

    #[test]
    fn string_or_table() {
        #[derive(Deserialize)]
        struct T {
            a: Vec<AlarmExpect>,
        }
        let t: T = toml::from_str(
            "a = [\"tailgating\", { kind = \"device_fault\", severity = \"warning\", detail = \"scale\", count = 1 }]",
        )
        .expect("parses");
        assert_eq!(t.a[0], AlarmExpect::kind("tailgating"));
        assert_eq!(t.a[1].severity, Some(Severity::Warning));
        assert_eq!(t.a[1].count, Some(1));
        let e = toml::from_str::<T>("a = [{ kind = \"x\", colour = 1 }]")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("unknown field `colour`"), "{e}");
    }
}

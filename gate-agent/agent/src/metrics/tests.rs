//! Unit tests of `metrics` (kept beside it so the module stays readable).

use super::*;
use gate_link::LinkObserver as _;

#[test]
fn decisions_count_once_per_reason_and_a_bare_release_as_none() {
    let m = Metrics::new();
    m.decision(DecisionResult::Hold, &[Reason::H08, Reason::H01]);
    m.decision(DecisionResult::Hold, &[Reason::H08]);
    m.decision(DecisionResult::Release, &[]);
    m.decision(DecisionResult::Inspect, &[Reason::I01]);
    let t = m.encode_for_test();
    for line in [
        "# TYPE gate_decisions_total counter",
        "gate_decisions_total{result=\"hold\",reason=\"H08\"} 2",
        "gate_decisions_total{result=\"hold\",reason=\"H01\"} 1",
        "gate_decisions_total{result=\"release\",reason=\"none\"} 1",
        "gate_decisions_total{result=\"inspect\",reason=\"I01\"} 1",
    ] {
        assert!(t.contains(line), "{line}\n{t}");
    }
}

#[test]
fn histograms_take_seconds_in_the_latency_buckets() {
    let m = Metrics::new();
    m.arrival_to_decision(Duration::from_millis(1500));
    m.decision_to_raise(Duration::from_micros(800));
    m.recognition(Duration::from_secs(45));
    m.recognition_dropped();
    let t = m.encode_for_test();
    for line in [
        "# TYPE gate_arrival_to_decision_seconds histogram",
        "gate_arrival_to_decision_seconds_bucket{le=\"1\"} 0",
        "gate_arrival_to_decision_seconds_bucket{le=\"2.5\"} 1",
        "gate_arrival_to_decision_seconds_sum 1.5",
        "gate_decision_to_raise_seconds_bucket{le=\"0.001\"} 1",
        "gate_recognition_seconds_bucket{le=\"30\"} 0",
        "gate_recognition_seconds_bucket{le=\"+Inf\"} 1",
        "gate_recognition_dropped_total 1",
    ] {
        assert!(t.contains(line), "{line}\n{t}");
    }
}

#[test]
fn the_link_observer_counts_reconnects_acks_and_the_whitelist_applied() {
    let m = Metrics::new();
    m.connected(1);
    m.connected(2);
    m.connected(3);
    m.outbox_acked(Duration::from_millis(20));
    assert_eq!(m.whitelist_age(7), None, "nothing applied yet");
    m.whitelist_applied(7);
    assert!(m
        .whitelist_age(7)
        .is_some_and(|a| a < Duration::from_secs(5)));
    assert_eq!(m.whitelist_age(8), None, "another version");
    let t = m.encode_for_test();
    for line in [
        "gate_link_reconnects_total 2",
        "gate_link_publish_ack_seconds_count 1",
        "gate_link_publish_ack_seconds_bucket{le=\"0.025\"} 1",
    ] {
        assert!(t.contains(line), "{line}\n{t}");
    }
}

#[test]
fn openmetrics_is_asked_for_by_accept() {
    let mut h = HeaderMap::new();
    assert!(!wants_openmetrics(&h));
    h.insert(
        header::ACCEPT,
        "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
            .parse()
            .expect("header"),
    );
    assert!(wants_openmetrics(&h));
    let m = Metrics::new();
    m.passage_finished();
    let mut r = Registry::default();
    m.register(&mut r);
    let om = encode(&r, true).expect("encodes");
    assert!(om.contains("# TYPE gate_passages counter\n"), "{om}");
    assert!(om.contains("gate_passages_total 1\n"), "{om}");
    assert!(om.ends_with("# EOF\n"), "{om}");
}

#[test]
fn a_registry_with_metrics_counts_and_times_each_exchange() {
    use crate::drivers::error::{DeviceError, ErrorClass};
    use crate::drivers::health::HealthCell;
    use crate::drivers::HealthRegistry;
    let metrics = Arc::new(Metrics::new());
    let reg = HealthRegistry::observed(metrics.clone());
    let cell = reg.register("board");
    cell.ok(Duration::from_millis(3));
    cell.ok(Duration::from_millis(40));
    cell.err(&DeviceError::Timeout(Duration::from_millis(100)));
    reg.register("board")
        .err_text(ErrorClass::Data, "bad frame");
    let text = metrics.encode_for_test();
    for line in [
        "gate_device_exchanges_total{device=\"board\"} 2",
        "gate_device_errors_total{device=\"board\"} 2",
        "gate_device_latency_seconds_count{device=\"board\"} 2",
        "gate_device_latency_seconds_bucket{device=\"board\",le=\"0.005\"} 1",
        "gate_device_latency_seconds_bucket{device=\"board\",le=\"0.05\"} 2",
    ] {
        assert!(text.contains(line), "{line}\n{text}");
    }
    // A cell outside the registry has no series.
    HealthCell::detached("other").ok(Duration::from_millis(1));
    assert!(!metrics.encode_for_test().contains("other"));
}

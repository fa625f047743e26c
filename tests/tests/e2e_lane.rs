//! The thin end-to-end slice: trucks through a simulated lane with the real
//! gate-agent over the real protocols (Modbus TCP board running the firmware
//! core, Modbus weighbridge and RFID readers, HTTP cameras, MQTT to the
//! simulated platform through an embedded broker).
//!
//! What this guards today: every truck produces exactly one schema-valid
//! event on the broker, `seq` is gapless, nothing is duplicated, the arm
//! never comes down on a truck, and a whitelisted truck is released and
//! passes (barrier raised by the agent, truck through, event "passed").
//! The full expectation check of every scenario (decision, reasons,
//! outcome per truck) is `gate-sim run`; see the README for its status.

use gate_proto::messages::{DecisionResult, Outcome};
use sim::runner::{self, RunOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_lane_end_to_end() {
    let s = runner::demo_scenario().expect("demo scenario parses");
    let opts = RunOptions {
        broker: None,
        live: false,
        time_scale: Some(10.0),
        lane_override: None,
    };
    let reports = tokio::time::timeout(
        std::time::Duration::from_secs(240),
        runner::run(&s, &opts, 1),
    )
    .await
    .expect("the demo finishes within 4 minutes")
    .expect("the demo runs");
    let r = &reports[0];
    println!("{}", runner::summary(&reports));
    assert!(
        r.violations.is_empty(),
        "safety violations: {:?}",
        r.violations
    );
    assert_eq!(
        r.platform.events.len(),
        s.trucks.len(),
        "one event per truck"
    );
    assert!(
        r.platform.gaps.is_empty(),
        "seq gaps: {:?}",
        r.platform.gaps
    );
    assert!(
        r.platform.schema_errors.is_empty(),
        "schema errors: {:?}",
        r.platform.schema_errors
    );
    assert!(
        r.platform.conflicts.is_empty(),
        "conflicting duplicates: {:?}",
        r.platform.conflicts
    );
    assert!(
        r.trucks.iter().all(|t| t.event_id.is_some()),
        "every truck matched an event"
    );
    let released_and_passed = r
        .platform
        .events
        .iter()
        .filter(|e| e.decision.result == DecisionResult::Release && e.outcome == Outcome::Passed)
        .count();
    assert!(
        released_and_passed >= 1,
        "at least one truck released through the barrier"
    );
    // Every event names the whitelist version it was decided with.
    assert!(r
        .platform
        .events
        .iter()
        .all(|e| e.decision.whitelist_version >= s.whitelist.version));
}

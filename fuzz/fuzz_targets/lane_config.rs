//! Fuzz target: the lane configuration loader (gate-config: TOML parse with
//! unknown keys refused, path resolution, every semantic check, errors
//! located at file:line:column), as `gate-agent --config` and
//! `--check-config` run it on a file's text.
//!
//! Invariants: no panic; every error names the file and a line/column
//! inside the text; an accepted configuration passes `check()` and, written
//! back as TOML, loads again to the same configuration.
#![no_main]

use std::path::Path;

use gate_config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return; // the agent reads its config with read_to_string
    };
    let path = Path::new("/etc/gate/lane.toml");
    match Config::parse(path, text) {
        Ok(cfg) => {
            assert!(cfg.check().is_empty());
            assert!(cfg.store.path.is_absolute());
            assert!(cfg.devices.profiles_dir.is_absolute());
            if let Ok(again) = toml::to_string(&cfg) {
                match Config::parse(path, &again) {
                    Ok(back) => assert_eq!(back, cfg, "written back as:\n{again}"),
                    Err(e) => panic!("written back config refused: {e:?}\n{again}"),
                }
            }
        }
        Err(errors) => {
            assert!(!errors.is_empty());
            let lines = text.lines().count() + 1;
            for e in &errors {
                assert_eq!(e.file, path);
                if let (Some(l), Some(c)) = (e.line, e.column) {
                    assert!((1..=lines).contains(&l) && c >= 1, "{e}");
                }
                let _ = e.to_string();
            }
        }
    }
});

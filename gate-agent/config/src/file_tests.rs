//! Unit tests of the whole configuration file (parsing, validation, error
//! locations), kept beside the crate root so `lib.rs` stays readable.

use super::*;

const MINIMAL: &str = r#"
[lane]
site = "HK-XINHAI"
lane = "L03"

[store]
path = "lane.db"

[platform]
broker = "mqtt://127.0.0.1:1883"
keys = { p1 = "/Bk1XwRk/dZW0AZjIvUjz+h9+/hR5O4fs8ilHOzBXm0=" }

[devices]
buses = [{ name = "board", tcp = "127.0.0.1:1502" }]
board = { bus = "board" }
"#;

#[test]
fn minimal_config_loads_with_defaults() {
    let cfg = Config::parse(Path::new("/etc/gate/lane.toml"), MINIMAL).expect("valid");
    assert_eq!(cfg.lane.site, "HK-XINHAI");
    assert_eq!(cfg.store.path, PathBuf::from("/etc/gate/lane.db"));
    assert_eq!(cfg.policy, Policy::default());
    assert_eq!(cfg.sequence, LaneConfig::default());
    assert!(cfg.control.is_none());
}

#[test]
fn unknown_key_is_located() {
    let text = MINIMAL.replace("lane = \"L03\"", "lane = \"L03\"\nlanes = 2");
    let errs = Config::parse(Path::new("lane.toml"), &text).expect_err("unknown key");
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].line, Some(5), "{}", errs[0]);
    assert!(
        errs[0].message.contains("unknown field `lanes`"),
        "{}",
        errs[0]
    );
}

#[test]
fn semantic_errors_are_all_reported_and_located() {
    let text = MINIMAL
        .replace("\"HK-XINHAI\"", "\"hk xinhai\"")
        .replace("mqtt://127.0.0.1:1883", "tcp://x")
        .replace("/Bk1Xw", "!Bk1Xw");
    let errs = Config::parse(Path::new("lane.toml"), &text).expect_err("invalid");
    let shown: Vec<String> = errs.iter().map(ToString::to_string).collect();
    assert!(
        shown
            .iter()
            .any(|e| e.starts_with("lane.toml:3:1: lane.site")),
        "{shown:?}"
    );
    assert!(
        shown
            .iter()
            .any(|e| e.starts_with("lane.toml:10:1: platform.broker")),
        "{shown:?}"
    );
    assert!(
        shown.iter().any(|e| e.contains("platform.keys.p1")),
        "{shown:?}"
    );
}

#[test]
fn shipped_example_config_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/lane.example.toml");
    let cfg = Config::load(&path).unwrap_or_else(|errs| {
        panic!(
            "{}",
            errs.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        )
    });
    assert_eq!(cfg.roles.assigned().len(), 6);
    assert!(cfg.platform.tls.is_some());
    assert!(cfg.devices.profiles_dir.ends_with("profiles"));
    use crate::devices::RecognitionMode;
    let modes: Vec<RecognitionMode> = cfg
        .devices
        .cameras
        .iter()
        .map(|c| c.recognition_mode())
        .collect();
    assert_eq!(
        modes[..2],
        [RecognitionMode::Onboard, RecognitionMode::Camera]
    );
    assert_eq!(cfg.recognition.frames, 3);
}

#[test]
fn recognition_section_and_camera_modes() {
    let cfg = Config::parse(Path::new("/etc/gate/lane.toml"), MINIMAL).expect("valid");
    assert_eq!(cfg.recognition, RecognitionSection::default());
    assert_eq!((cfg.recognition.frames, cfg.recognition.workers), (3, 1));
    let text = format!(
        "{MINIMAL}\n[recognition]\nmodels_dir = \"models\"\nframes = 5\nmax_frames = 10\nfetch = false\n\n\
         [[devices.cameras]]\nname = \"front\"\nsnapshot_url = \"http://c/s.jpg\"\n"
    );
    let cfg = Config::parse(Path::new("/etc/gate/lane.toml"), &text).expect("valid");
    assert_eq!(
        cfg.recognition.models_dir,
        Some(PathBuf::from("/etc/gate/models"))
    );
    assert_eq!((cfg.recognition.frames, cfg.recognition.fetch), (5, false));
    assert_eq!(
        cfg.devices.cameras[0].recognition_mode(),
        crate::devices::RecognitionMode::Onboard
    );
}

#[test]
fn bad_recognition_values_are_located() {
    // A value that is no mode: serde's error, at the value.
    let cams = "\n[[devices.cameras]]\nname = \"a\"\nsnapshot_url = \"http://c/a.jpg\"\n\n\
                [[devices.cameras]]\nname = \"b\"\nsnapshot_url = \"http://c/b.jpg\"\n";
    let text = format!("{MINIMAL}{cams}recognition = \"ocr\"\n");
    let errs = Config::parse(Path::new("lane.toml"), &text).expect_err("bad mode");
    assert_eq!(errs[0].line, Some(24), "{}", errs[0]);
    assert!(
        errs[0].message.contains("unknown variant `ocr`"),
        "{}",
        errs[0]
    );
    // A mode the camera cannot do: at its `recognition` key, second camera.
    let text = format!("{MINIMAL}{cams}recognition = \"camera\"\n");
    let errs = Config::parse(Path::new("lane.toml"), &text).expect_err("no url");
    let shown: Vec<String> = errs.iter().map(ToString::to_string).collect();
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert!(
        shown[0].starts_with("lane.toml:24:1: devices.cameras[1].recognition: camera `b`"),
        "{shown:?}"
    );
    // Out-of-range section values.
    let text = format!("{MINIMAL}\n[recognition]\nframes = 0\nworkers = 9\n");
    let errs = Config::parse(Path::new("lane.toml"), &text).expect_err("range");
    let shown: Vec<String> = errs.iter().map(ToString::to_string).collect();
    assert!(
        shown
            .iter()
            .any(|e| e.starts_with("lane.toml:18:1: recognition.frames")),
        "{shown:?}"
    );
    assert!(
        shown
            .iter()
            .any(|e| e.starts_with("lane.toml:19:1: recognition.workers")),
        "{shown:?}"
    );
}

#[test]
fn roles_must_name_devices() {
    let text = format!("{MINIMAL}\n[roles]\nplate_front = \"cam-x\"\n");
    let errs = Config::parse(Path::new("lane.toml"), &text).expect_err("bad role");
    assert!(
        errs[0].to_string().contains("roles.plate_front"),
        "{}",
        errs[0]
    );
}

/// Issue 20: the "exactly one of" choices are typed after the checks, so a
/// wrong one is reported where and as it always was: by the `[devices]`
/// check, at `devices`, beside the file's other problems, and after the
/// section problems that come before it.
#[test]
fn a_wrong_choice_is_reported_among_the_checks() {
    let shown = |text: &str| -> Vec<String> {
        Config::parse(Path::new("lane.toml"), text)
            .expect_err("invalid")
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    let base = MINIMAL.replace(
        "[devices]\nbuses = [{ name = \"board\", tcp = \"127.0.0.1:1502\" }]\nboard = { bus = \"board\" }\n",
        "[[devices.buses]]\nname = \"board\"\ntcp = \"127.0.0.1:1502\"\n\n[devices.board]\nbus = \"board\"\n",
    );
    let both = "\n[[devices.buses]]\nname = \"x\"\ntcp = \"127.0.0.1:1600\"\nrtu = { path = \"/dev/ttyS1\" }\n";
    let text = format!("{base}{both}").replace("\"HK-XINHAI\"", "\"hk x\"");
    assert_eq!(
        shown(&text),
        [
            "lane.toml:3:1: lane.site: `hk x` is not [A-Z0-9-]{1,16}",
            "lane.toml:13:3: devices: bus `x`: give exactly one of `tcp` and `rtu`",
        ]
    );
    // A problem of an earlier bus comes first (one `[devices]` problem).
    let text = base.replace(
        "tcp = \"127.0.0.1:1502\"",
        "tcp = \"127.0.0.1:1502\"\nretries = 9",
    );
    let text = format!("{text}{both}");
    assert_eq!(
        shown(&text),
        ["lane.toml:13:3: devices: bus `board`: retries 9 > 5"]
    );
    let wb = "\n[devices.weighbridge]\nname = \"wb\"\n";
    assert_eq!(
        shown(&format!("{base}{wb}")),
        ["lane.toml:13:3: devices: weighbridge `wb`: give exactly one of `modbus` and `ascii`"]
    );
    // A camera with two sources still has frames for its recognition; one
    // with none and `onboard` recognition is two problems.
    let cam = "\n[[devices.cameras]]\nname = \"c\"\n";
    let text =
        format!("{base}{cam}snapshot_url = \"http://c/s.jpg\"\nmjpeg_url = \"http://c/m\"\n");
    assert_eq!(
        shown(&text),
        ["lane.toml:13:3: devices: camera `c`: give exactly one of `snapshot_url`, `mjpeg_url` and `usb`"]
    );
    let text = format!("{base}{cam}recognition = \"onboard\"\n");
    assert_eq!(
        shown(&text),
        [
            "lane.toml:22:1: devices.cameras[0].recognition: camera `c`: recognition = \"onboard\" needs frames (`snapshot_url`, `mjpeg_url` or `usb`)",
            "lane.toml:13:3: devices: camera `c`: give exactly one of `snapshot_url`, `mjpeg_url` and `usb`",
        ]
    );
}

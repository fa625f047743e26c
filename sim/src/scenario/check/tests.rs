//! Unit tests of `check` (kept beside it so the module stays readable).

use super::*;

#[test]
fn key_paths_print() {
    let p = KeyPath::root("trucks")
        .i(3)
        .k("containers")
        .i(0)
        .k("number");
    assert_eq!(p.to_string(), "trucks[3].containers[0].number");
}

#[test]
fn etags() {
    assert!(etag_ok("E28011606000020A1B2C3D4E"));
    assert!(!etag_ok("e28011606000020a1b2c3d4e"));
    assert!(!etag_ok("E28011606000020A1B2C3D4"));
    assert!(!etag_ok("E28011606000020A1B2C3D4G"));
}

//! The LED board's text for a decision: the primary reason in Chinese and
//! English, the plate in front when it fits.

use gate_proto::messages::{DecisionResult, Reason};

use super::LED_MAX_BYTES;

/// The LED hint (Chinese + English) for the primary reason, with the plate
/// in front when it fits in [`LED_MAX_BYTES`].
pub fn led_text(primary: Reason, result: DecisionResult, plate: Option<&str>) -> String {
    let (zh, en) = match (primary, result) {
        (Reason::R00, _) => ("放行", "Go"),
        (Reason::E00, _) => ("空车放行", "Empty, go"),
        (Reason::H01, _) => ("无通行单", "No gate pass"),
        (Reason::H02, _) => ("通行单无效", "Pass not valid"),
        (Reason::H03, _) => ("车辆信息不符", "ID mismatch"),
        (Reason::H04, _) => ("箱号不符", "Container mismatch"),
        (Reason::H05, _) => ("关锁异常", "E-seal problem"),
        (Reason::H06, _) => ("重量超差", "Weight mismatch"),
        (Reason::H07, DecisionResult::Inspect) => ("请去查验区", "To inspection"),
        (Reason::H07, _) => ("请等待查验", "Please wait"),
        (Reason::H08, _) => ("信息不全请稍候", "Data incomplete"),
        (Reason::H09, _) => ("系统离线请等待", "Offline, wait"),
        (Reason::H10, _) => ("海关指令请等待", "Customs hold"),
        (Reason::I01, _) => ("请去查验区", "To inspection"),
        (Reason::O01, DecisionResult::Inspect) => ("人工放行去查验", "To inspection"),
        (Reason::O01, _) => ("人工放行", "Officer release"),
        (Reason::O02, _) => ("人工拦停", "Officer hold"),
    };
    if let Some(p) = plate {
        let with_plate = format!("{p} {zh} {en}");
        if with_plate.len() <= LED_MAX_BYTES {
            return with_plate;
        }
    }
    truncate_utf8(&format!("{zh} {en}"), LED_MAX_BYTES)
}

/// Cut at a character boundary so that at most `max` bytes remain.
pub fn truncate_utf8(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

//! How records map to columns: identifier normalisation and the text form
//! of the contract's enums (the same strings as their JSON). Pure functions;
//! no SQL here.

use std::borrow::Cow;

use gate_proto::messages::{
    ControlAction, Credit, GoodsCategory, PassKind, PassStatus, PassUses, PlateColour, TargetKind,
};

/// The form identifiers are stored and looked up in: whitespace removed,
/// ASCII letters upper-cased (CJK characters such as the province prefix
/// of a plate are unchanged). Borrowed when already normal.
pub fn normalize_key(s: &str) -> Cow<'_, str> {
    if s.bytes()
        .any(|b| b.is_ascii_lowercase() || b.is_ascii_whitespace())
        || s.chars().any(char::is_whitespace)
    {
        Cow::Owned(
            s.chars()
                .filter(|c| !c.is_whitespace())
                .map(|c| c.to_ascii_uppercase())
                .collect(),
        )
    } else {
        Cow::Borrowed(s)
    }
}

/// `normalize_key` for an optional field.
pub(crate) fn norm_opt(s: &Option<String>) -> Option<Cow<'_, str>> {
    s.as_deref().map(normalize_key)
}

/// An enum stored as text.
pub(crate) trait TextEnum: Sized + Copy + 'static {
    /// Every variant (tests check the text against serde).
    #[cfg_attr(not(test), allow(dead_code))]
    const ALL: &'static [Self];
    fn to_text(self) -> &'static str;
    fn from_text(s: &str) -> Option<Self>;
}

macro_rules! text_enum {
    ($t:ident { $($v:ident => $s:literal),+ $(,)? }) => {
        impl TextEnum for $t {
            const ALL: &'static [Self] = &[$($t::$v),+];
            fn to_text(self) -> &'static str {
                match self { $($t::$v => $s),+ }
            }
            fn from_text(s: &str) -> Option<Self> {
                match s { $($s => Some($t::$v),)+ _ => None }
            }
        }
    };
}

text_enum!(PassStatus { Approved => "approved", Used => "used", Void => "void", Deleted => "deleted" });
text_enum!(PassKind { Goods => "goods", Empty => "empty" });
text_enum!(GoodsCategory { ZeroTariff => "zero_tariff", Relaxed => "relaxed", ValueAdded => "value_added" });
text_enum!(PassUses { Single => "single", Multi => "multi" });
text_enum!(Credit { Aeo => "aeo", Whitelist => "whitelist", General => "general", Focus => "focus" });
text_enum!(TargetKind { Plate => "plate", PassNo => "pass_no", Enterprise => "enterprise", Container => "container" });
text_enum!(ControlAction { Inspect => "inspect", Hold => "hold" });
text_enum!(PlateColour {
    Blue => "blue", Yellow => "yellow", Green => "green",
    YellowGreen => "yellow_green", White => "white", Black => "black",
});

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;

    fn same_as_serde<T: TextEnum + Serialize>() {
        for v in T::ALL {
            let json = serde_json::to_value(v).expect("ser");
            assert_eq!(json.as_str(), Some(v.to_text()));
            assert!(T::from_text(v.to_text()).is_some());
        }
        assert!(T::from_text("no-such-value").is_none());
    }

    #[test]
    fn enum_text_is_the_json_text() {
        same_as_serde::<PassStatus>();
        same_as_serde::<PassKind>();
        same_as_serde::<GoodsCategory>();
        same_as_serde::<PassUses>();
        same_as_serde::<Credit>();
        same_as_serde::<TargetKind>();
        same_as_serde::<ControlAction>();
        same_as_serde::<PlateColour>();
    }

    #[test]
    fn normalisation() {
        assert!(matches!(normalize_key("琼A12345"), Cow::Borrowed(_)));
        assert_eq!(normalize_key(" 琼a 123 45\t"), "琼A12345");
        assert_eq!(normalize_key("csqu 305438 3"), "CSQU3054383");
        assert_eq!(normalize_key("琼\u{3000}A1"), "琼A1");
        assert_eq!(normalize_key(""), "");
    }
}

//! MQTT topics of the platform contract (shared/spec/platform.md, "Topics").

/// Topic names for one lane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LaneTopics {
    pub site: String,
    pub lane: String,
}

impl LaneTopics {
    pub fn new(site: &str, lane: &str) -> Self {
        Self {
            site: site.to_owned(),
            lane: lane.to_owned(),
        }
    }
    fn base(&self) -> String {
        format!("gate/v1/{}/{}", self.site, self.lane)
    }
    pub fn event(&self) -> String {
        format!("{}/event", self.base())
    }
    pub fn photo(&self, event_id: &str, camera: &str) -> String {
        format!("{}/photo/{}/{}", self.base(), event_id, camera)
    }
    pub fn status(&self) -> String {
        format!("{}/status", self.base())
    }
    pub fn alarm(&self) -> String {
        format!("{}/alarm", self.base())
    }
    pub fn sync(&self) -> String {
        format!("{}/sync", self.base())
    }
    pub fn command(&self) -> String {
        format!("{}/command", self.base())
    }
    pub fn reply(&self) -> String {
        format!("{}/reply", self.base())
    }
    /// The site-wide whitelist topic.
    pub fn whitelist(&self) -> String {
        whitelist(&self.site)
    }
    /// MQTT client id: `gate-{site}-{lane}`.
    pub fn client_id(&self) -> String {
        format!("gate-{}-{}", self.site, self.lane)
    }
}

pub fn whitelist(site: &str) -> String {
    format!("gate/v1/{site}/whitelist")
}

/// What a lane-side topic is, parsed from a topic string (for the platform side).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LaneTopic {
    Event,
    Photo { event_id: String, camera: String },
    Status,
    Alarm,
    Sync,
    Reply,
    Command,
}

/// Parse `gate/v1/{site}/{lane}/...` into (site, lane, kind).
pub fn parse_lane_topic(topic: &str) -> Option<(String, String, LaneTopic)> {
    let parts: Vec<&str> = topic.split('/').collect();
    if parts.len() < 5 || parts[0] != "gate" || parts[1] != "v1" {
        return None;
    }
    let (site, lane) = (parts[2].to_owned(), parts[3].to_owned());
    let kind = match &parts[4..] {
        ["event"] => LaneTopic::Event,
        ["status"] => LaneTopic::Status,
        ["alarm"] => LaneTopic::Alarm,
        ["sync"] => LaneTopic::Sync,
        ["reply"] => LaneTopic::Reply,
        ["command"] => LaneTopic::Command,
        ["photo", e, c] => LaneTopic::Photo {
            event_id: (*e).to_owned(),
            camera: (*c).to_owned(),
        },
        _ => return None,
    };
    Some((site, lane, kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let t = LaneTopics::new("HK-XINHAI", "L03");
        assert_eq!(t.event(), "gate/v1/HK-XINHAI/L03/event");
        assert_eq!(
            t.photo("01J", "plate_front"),
            "gate/v1/HK-XINHAI/L03/photo/01J/plate_front"
        );
        assert_eq!(t.whitelist(), "gate/v1/HK-XINHAI/whitelist");
        assert_eq!(t.client_id(), "gate-HK-XINHAI-L03");
        assert_eq!(
            parse_lane_topic(&t.photo("E1", "c")),
            Some((
                "HK-XINHAI".into(),
                "L03".into(),
                LaneTopic::Photo {
                    event_id: "E1".into(),
                    camera: "c".into()
                }
            ))
        );
        assert_eq!(parse_lane_topic("gate/v1/HK/L1/other"), None);
        assert_eq!(parse_lane_topic("gate/v1/HK/whitelist"), None);
    }
}

//! The trucks the bench drives: picked from the generated whitelist (a mix
//! of passes), what each device answers for them, and what the lane reads.

use super::*;

#[derive(Clone, Debug)]
pub(super) struct Truck {
    pub(super) plate: String,
    pub(super) etag: [u8; 12],
    pub(super) eseal: String,
    pub(super) container: String,
    pub(super) gross_kg: u32,
}

pub(super) fn epc_bytes(hex: &str) -> Option<[u8; 12]> {
    let mut out = [0u8; 12];
    if hex.len() != 24 {
        return None;
    }
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

pub(super) fn plate_json(t: &Truck, frame: u64) -> String {
    serde_json::json!({"plate": t.plate, "colour": "yellow", "confidence": 0.95, "frame": frame})
        .to_string()
}

pub(super) fn codes_json(t: &Truck, frame: u64) -> String {
    serde_json::json!({"codes": [{"text": t.container, "confidence": 0.9, "layout": "horizontal"}], "frame": frame})
        .to_string()
}

/// What the lane reads of `t` (the floor builds the same from the wire).
pub(super) fn identified_for(t: &Truck) -> Identified {
    let mut id = Identified::default();
    for (_, role) in CAMERAS {
        match role {
            Device::PlateFront | Device::PlateRear => id.plates.push(PlateSeen {
                text: t.plate.clone(),
                confidence: 0.95,
                colour: Some(gate_proto::messages::PlateColour::Yellow),
                camera: role,
            }),
            _ => id.containers.push(gate_core::identified::ContainerSeen {
                number: t.container.clone(),
                position: if role == Device::ContainerBack {
                    ContainerPosition::Back
                } else {
                    ContainerPosition::Front
                },
                confidence: 0.9,
            }),
        }
    }
    id.etags.push(event::hex(&t.etag).to_uppercase());
    id.eseal = Some(EsealRead {
        id: t.eseal.clone(),
        intact: true,
    });
    id.weight = Some(WeightRead {
        gross_kg: f64::from(t.gross_kg),
        stable: true,
    });
    id
}

/// `n` passes of the synthetic whitelist that the lane releases: one
/// container, an e-tag, an e-seal, no trailer; checked with the store's
/// lookup and `decide` as the agent will.
pub(super) fn pick_trucks(
    store: &Store,
    mix: &wl::Mix,
    n: usize,
    online: bool,
) -> Result<Vec<Truck>> {
    let policy = Policy::default();
    let mut out = Vec::new();
    let mut i = 0u64;
    while out.len() < n && i < mix.passes {
        let cand = i;
        i += 4;
        if cand % 20 >= 10
            || cand.is_multiple_of(17)
            || cand.is_multiple_of(23)
            || cand >= mix.vehicles
        {
            continue;
        }
        let p = wl::gate_pass(cand, mix, 0);
        let (Some(etag), Some(eseal), Some(kg)) =
            (p.etag.clone(), p.eseal.clone(), p.declared_total_kg)
        else {
            continue;
        };
        let Some(etag) = epc_bytes(&etag) else {
            continue;
        };
        let t = Truck {
            plate: p.plate.clone(),
            etag,
            eseal,
            container: p.containers.first().cloned().unwrap_or_default(),
            gross_kg: kg as u32,
        };
        let id = identified_for(&t);
        let view = store.lookup(&LookupKeys::from(&id))?;
        let d = decide(&id, &view, &policy, gate_proto::time::now_unix_ms(), online);
        if d.result == DecisionResult::Release {
            out.push(t);
        }
    }
    if out.len() < n {
        bail!(
            "only {} releasable passes in the whitelist (want {n})",
            out.len()
        );
    }
    Ok(out)
}

pub(super) fn build_whitelist(db: &Path, mix: &wl::Mix) -> Result<Store> {
    let store = Store::open(db, StoreConfig::default()).context("open store")?;
    let chunk = 50_000u64;
    let count = u32::try_from(mix.total().div_ceil(chunk)).context("chunks")?;
    for i in 0..count {
        let b = wl::snapshot_chunk(mix, 1, 0, i, count);
        store.apply_batch(&b).context("apply snapshot chunk")?;
    }
    Ok(store)
}

//! Placeholder until the firmware build lands.
pub fn firmware() -> anyhow::Result<()> {
    anyhow::bail!("firmware build not wired yet")
}

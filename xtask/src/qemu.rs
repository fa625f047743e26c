//! Placeholder until the QEMU self-test lands.
pub fn qemu() -> anyhow::Result<()> {
    anyhow::bail!("qemu self-test not wired yet")
}

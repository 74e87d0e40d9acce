//! Standalone mode: runs the loaded connectors until interrupted.

use anyhow::Result;

pub fn run(connectors: Vec<lakesink_config::Loaded>) -> Result<()> {
    for c in &connectors {
        for w in &c.warnings {
            tracing::warn!(connector = %c.config.name, "{w}");
        }
    }
    anyhow::bail!("the sink runtime is not built yet")
}

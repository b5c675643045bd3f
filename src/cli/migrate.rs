//! `tessera migrate`: applies the database migrations and exits.

use crate::config::Config;
use crate::store;

pub(super) async fn migrate(config: Config) -> anyhow::Result<()> {
    let described = config.database.describe();
    let store = store::connect(&config.database).await?;
    store.migrate().await?;
    store.close().await;
    println!("migrations applied to {described}");
    Ok(())
}

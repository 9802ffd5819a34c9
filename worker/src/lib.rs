//! The worker role: trains ensembles and forecasts with them, from the fleet's job queue
//! ([`run`], until its [`fleet::shutdown::Shutdown`] is triggered). Stateless: any number of
//! workers, on any host, share a queue.

mod metrics;
mod model_cache;
pub mod payload;
mod pointers;
mod pool;
mod running;
mod serve;
mod snapshot_cache;

pub use serve::{Config, WorkerError, run};

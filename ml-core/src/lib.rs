//! boltfleet's core library: the data and model halves of the ML pipeline, with no network
//! I/O. Bars come in; features, labels and model artifacts come out.
//!
//! - [`bar`]: `Bar`, `Timeframe` and the validated `Symbol`.
//! - [`ingest`]: bar files as users bring them, validated, with a report.
//! - [`resample`]: bars to a coarser timeframe.
//! - [`features`]: the versioned, causal technical feature set (polars).
//! - [`labels`]: 3-class direction labels from the forward return.
//! - [`model`]: the RF + gradient-boosting ensemble, its evaluation, artifacts and forecasts.
//! - [`snapshot`]: the Parquet bar snapshots jobs read.
//! - [`job`]: the job and result payloads the fleet's processes exchange.

pub mod bar;
pub mod features;
pub mod ingest;
pub mod job;
pub mod labels;
pub mod model;
pub mod resample;
pub mod snapshot;

pub use bar::{Bar, Symbol, Timeframe};

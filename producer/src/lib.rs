//! The producer role: everything that feeds the fleet. It loads bar files into the database
//! ([`ingest`]), triggers runs ([`trigger`]: train, forecast, ping; one job per pair into
//! the queue) and follows them ([`wait`]), scores live forecasts and watches for drift
//! ([`evaluate`]), fires those on cron schedules ([`schedule`]), lists and prunes models
//! ([`models`]) and writes feature frames for inspection ([`features`]).
//!
//! Each verb takes a plain settings struct; `boltfleet` fills them from its command line.

pub mod evaluate;
pub mod features;
pub mod ingest;
pub mod models;
pub mod schedule;
pub mod trigger;
pub mod wait;

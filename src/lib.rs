//! Stromwart: a local energy bridge from German electricity meters and Modbus devices to Home
//! Assistant and openHAB over MQTT.
//!
//! Sources decode bytes into readings, the pure [`core`] turns events into messages, and the
//! edges do the I/O. See `docs/architecture.md`.

pub mod app;
pub mod bus;
pub mod config;
pub mod control;
pub mod core;
pub mod demo;
pub mod drivers;
pub mod ha;
pub mod health;
pub mod http;
pub mod journal;
pub mod message;
pub mod modbus;
pub mod model;
pub mod mqtt;
pub mod quantity;
pub mod reader;
pub mod redact;
pub mod sink;

pub mod sml;
pub mod source;
pub mod supervisor;

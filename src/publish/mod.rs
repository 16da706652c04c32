//! Publishing counts off the device: the MQTT client thread, its bounded outbox (on disk
//! with a count store) and the topic layout (Home Assistant discovery included). Only the
//! counts and visit objects that `facecounter` also writes as JSON lines are ever published.

pub mod config;
pub mod durable;
pub mod mqtt;
pub mod queue;

//! Publishing counts off the device: the MQTT client thread, its bounded outbox and the
//! topic layout (Home Assistant discovery included). Only the counts and visit objects
//! that `facecounter` also writes as JSON lines are ever published.

pub mod config;
pub mod mqtt;
pub mod queue;

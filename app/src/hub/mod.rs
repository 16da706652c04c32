//! `footfall hub`: the head office's side. Sites publish their visits and cameras' state
//! to their own broker, bridged to the head office's; the hub subscribes there (a
//! persistent session, QoS 1, acknowledged only after the database committed), writes
//! every visit once into PostgreSQL ([`db`]) whatever the broker redelivers, and serves
//! the chain's API and dashboard from there ([`http`], [`query`]).

pub mod db;
pub mod http;
mod http_api;
pub mod message;
pub mod query;

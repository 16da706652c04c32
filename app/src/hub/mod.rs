//! `footfall hub`: the head office's side. Sites publish their visits to their own broker,
//! bridged to the head office's; the hub subscribes there (a persistent session, QoS 1,
//! acknowledged only after the database committed) and writes every visit once into
//! PostgreSQL ([`db`]), whatever the broker redelivers.

pub mod db;
pub mod message;

//! Switchboard: a telephone exchange whose call logic is WebAssembly.
//!
//! Layers (DESIGN §2), dependencies pointing down: `api` and `flow` use `call` and `store`;
//! `call` uses `sip` and `media`. `exchange` and `serve` wire them together.

pub mod admin;
pub mod api;
pub mod call;
pub mod callbacks;
pub mod cluster;
pub mod companies;
pub mod config;
pub mod console;
pub mod exchange;
pub mod explore;
pub mod flow;
pub mod icm;
pub mod known_caller;
pub mod live;
pub mod location;
pub mod mail;
pub mod mailbox;
pub mod media;
pub mod missed_hook;
pub mod new_flow;
pub mod offices;
pub mod records;
pub mod reports;
pub mod schedule;
pub mod serve;
pub mod simulate;
pub mod sip;
pub mod store;
pub mod tenant;
pub mod throttle;
pub mod web;

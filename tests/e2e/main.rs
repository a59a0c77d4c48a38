//! End-to-end tests: the real `switchboard` binary on loopback, driven by sipp callers, a
//! harness-owned RTP endpoint replaying sip-tester's pcaps, and the HTTP API.

mod api;
mod baresip;
mod calls;
// Several nodes behind Kamailio: tests/cluster/, with this binary's harness.
#[path = "../cluster/mod.rs"]
mod cluster;
mod console;
mod contacts;
mod departments;
mod employee_calls;
mod employees;
mod fax;
mod harness;
mod hunt;
mod icm;
mod mail;
mod media;
mod mwi;
mod openapi;
mod overflow;
mod postgres;
mod protos;
mod queue;
mod registrar;
mod rfc4475;
mod sandbox;
mod schedule;
mod secretary;
mod security;
mod signalling;
mod simulate;
mod sipp;
mod supervisor;
mod tenancy;

//! The WASI a flow may import, linked one interface at a time: what Rust's standard library
//! needs to start (`wasi:cli` — no arguments, no environment, output discarded — and `wasi:io`),
//! clocks and random numbers. No filesystem and no sockets: a flow reaches the world only
//! through our own imports (a CRM over the allow-listed `http`), and a component that imports
//! anything else is refused at upload, naming the import.

use wasmtime::component::{HasData, Linker, ResourceTable};
use wasmtime_wasi::cli::WasiCli;
use wasmtime_wasi::clocks::WasiClocks;
use wasmtime_wasi::p2::bindings::{cli, clocks, random};
use wasmtime_wasi::random::WasiRandom;
use wasmtime_wasi::{WasiView, cli::WasiCliView, clocks::WasiClocksView};

use super::host::FlowState;

/// `wasi:io` works on the call's resource table.
struct Io;

impl HasData for Io {
    type Data<'a> = &'a mut ResourceTable;
}

pub(super) fn add_to_linker(l: &mut Linker<FlowState>) -> wasmtime::Result<()> {
    use wasmtime_wasi_io::bindings::wasi::io;
    io::error::add_to_linker::<FlowState, Io>(l, |s| s.ctx().table)?;
    io::poll::add_to_linker::<FlowState, Io>(l, |s| s.ctx().table)?;
    io::streams::add_to_linker::<FlowState, Io>(l, |s| s.ctx().table)?;
    clocks::wall_clock::add_to_linker::<FlowState, WasiClocks>(l, FlowState::clocks)?;
    clocks::monotonic_clock::add_to_linker::<FlowState, WasiClocks>(l, FlowState::clocks)?;
    random::random::add_to_linker::<FlowState, WasiRandom>(l, |s| s.ctx().ctx.random())?;
    random::insecure::add_to_linker::<FlowState, WasiRandom>(l, |s| s.ctx().ctx.random())?;
    random::insecure_seed::add_to_linker::<FlowState, WasiRandom>(l, |s| s.ctx().ctx.random())?;
    cli::exit::add_to_linker::<FlowState, WasiCli>(l, FlowState::cli)?;
    cli::environment::add_to_linker::<FlowState, WasiCli>(l, FlowState::cli)?;
    cli::stdin::add_to_linker::<FlowState, WasiCli>(l, FlowState::cli)?;
    cli::stdout::add_to_linker::<FlowState, WasiCli>(l, FlowState::cli)?;
    cli::stderr::add_to_linker::<FlowState, WasiCli>(l, FlowState::cli)?;
    cli::terminal_input::add_to_linker::<FlowState, WasiCli>(l, FlowState::cli)?;
    cli::terminal_output::add_to_linker::<FlowState, WasiCli>(l, FlowState::cli)?;
    cli::terminal_stdin::add_to_linker::<FlowState, WasiCli>(l, FlowState::cli)?;
    cli::terminal_stdout::add_to_linker::<FlowState, WasiCli>(l, FlowState::cli)?;
    cli::terminal_stderr::add_to_linker::<FlowState, WasiCli>(l, FlowState::cli)?;
    Ok(())
}

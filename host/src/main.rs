use clap::{Parser, Subcommand};
use switchboard::config::ServeArgs;
use switchboard::simulate::{Simulation, simulate};

#[derive(Parser)]
#[command(
    name = "switchboard",
    version,
    about = "A telephone exchange whose call logic is WebAssembly"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the exchange: SIP, media, flows and the HTTP API.
    Serve(Box<ServeArgs>),
    /// Work with flows.
    Flow {
        #[command(subcommand)]
        command: FlowCommand,
    },
    /// Compile the component on stdin under the upload limits and exit 0 when it compiled (the
    /// exchange's trial compile of an upload; not for people).
    #[command(hide = true)]
    CompileCheck,
}

#[derive(Subcommand)]
enum FlowCommand {
    /// Run a flow against a scripted call on a virtual clock and print what it does.
    ///
    /// Script steps, separated by `;`: `<time> press <digits>`, `<time> hangup`,
    /// `dial answered [employee] [talk <time>] | busy | no-answer | unavailable | failed <why>`,
    /// `clock <YYYY-MM-DDTHH:MM> [<timezone>]`, `schedule <id> open|closed`.
    /// Example: --script "2s press 1; dial busy; 30s hangup"
    Simulate {
        /// A component (.wasm file) or a built-in flow's name (e.g. `ivr`).
        flow: String,
        /// The flow's settings as JSON.
        #[arg(long, default_value = "{}")]
        settings: String,
        /// What the caller does.
        #[arg(long, default_value = "")]
        script: String,
        #[arg(long, default_value = "+15550100001")]
        caller: String,
        #[arg(long, default_value = "+15550100100")]
        dialled: String,
    },
    /// Make a new flow crate NAME (from the template: settings, schema, tests) in DIR.
    New {
        name: String,
        #[arg(long, default_value = ".")]
        dir: std::path::PathBuf,
    },
}

/// jemalloc, so memory freed after a busy hour goes back to the system (see host/Cargo.toml).
#[cfg(all(unix, not(target_env = "musl")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's settings, read at its start (the crate prefixes jemalloc's symbols with `_rjem_`):
/// a background thread purges freed pages (without it, only the next allocation would), after
/// 5 s unused, straight back to the kernel (muzzy 0: no MADV_FREE pages left counting as ours).
/// `_RJEM_MALLOC_CONF` in the environment overrides it.
#[cfg(all(unix, not(target_env = "musl")))]
#[unsafe(export_name = "_rjem_malloc_conf")]
pub static MALLOC_CONF: &[u8] = b"background_thread:true,dirty_decay_ms:5000,muzzy_decay_ms:0\0";

/// The heap in use and the memory the allocator holds, for /metrics: when resident memory
/// stays high after a load, these say whether something still holds it or the allocator does.
#[cfg(all(unix, not(target_env = "musl")))]
fn report_heap() {
    use tikv_jemalloc_ctl::{epoch, stats};
    let read = || -> Result<(usize, usize), tikv_jemalloc_ctl::Error> {
        epoch::advance()?;
        Ok((stats::allocated::read()?, stats::resident::read()?))
    };
    let spawned = std::thread::Builder::new().name("heap-report".into()).spawn(move || {
        loop {
            if let Ok((allocated, resident)) = read() {
                metrics::gauge!("switchboard_heap_allocated_bytes").set(allocated as f64);
                metrics::gauge!("switchboard_heap_resident_bytes").set(resident as f64);
            }
            std::thread::sleep(std::time::Duration::from_secs(5));
        }
    });
    if let Err(e) = spawned {
        tracing::warn!("no heap figures in /metrics: {e}");
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // The simulator prints its own report; the server logs what it does.
    let default_filter = match cli.command {
        Command::Serve(_) => "info,rsipstack=warn,sqlx=warn,wasmtime=warn,cranelift_codegen=warn",
        Command::Flow { .. } | Command::CompileCheck => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default_filter.into()),
        )
        .with_writer(std::io::stderr)
        // Colours for a person at a terminal; plain text for files and journals.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let result = match cli.command {
        Command::Serve(args) => {
            #[cfg(all(unix, not(target_env = "musl")))]
            report_heap();
            args
            .resolve()
            .and_then(|config| tokio::runtime::Runtime::new()?.block_on(switchboard::serve::serve(config)))
        }
        Command::Flow {
            command:
                FlowCommand::Simulate {
                    flow,
                    settings,
                    script,
                    caller,
                    dialled,
                },
        } => simulate(&Simulation {
            flow,
            settings,
            script,
            caller,
            dialled,
        })
        .map(|(report, ok)| {
            print!("{report}");
            if !ok {
                std::process::exit(1);
            }
        }),
        Command::CompileCheck => {
            return switchboard::flow::admission::compile_check_main(switchboard::flow::FlowEngine::compile_only);
        }
        Command::Flow {
            command: FlowCommand::New { name, dir },
        } => switchboard::new_flow::create(&name, &dir).map(|made| {
            println!("made {}", made.display());
            println!("  cargo test                                  # the flow's tests, natively");
            println!("  cargo build --release --target wasm32-wasip2  # the component");
            println!("  switchboard flow simulate target/wasm32-wasip2/release/{}.wasm --script \"1s press 101#; dial answered\"", name.replace('-', "_"));
        }),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

//! What an uploaded component must pass before the exchange compiles it. A component is a
//! stranger's code, and compiling is work it makes us do before any limit of a call applies: a
//! component built to make Cranelift slow or hungry (one huge function, a million small ones,
//! thousands of modules) must not stall the API or the calls on this machine.
//!
//! 1. **Size and declarations** ([`check_declared`]): read with `wasmparser`, without compiling
//!    — the component's size, and how many core modules, instances, functions, tables and
//!    memories it declares, its largest function body, and its memories' and tables' initial
//!    sizes. Our own flows use a small fraction of each limit (see the test).
//! 2. **A trial compile in a child process** ([`trial_compile`]): `switchboard compile-check`
//!    compiles the component under `setrlimit` caps on CPU time and address space, and the
//!    exchange kills it after [`COMPILE_WALL`]. Only a component that compiled there is then
//!    compiled in the exchange itself (its compiled code is not taken from the child: the
//!    exchange runs only what it compiled). Built-in flows skip the trial: they are ours.
//!
//! A refusal names the limit (HTTP 413 on upload).

use std::io::Read;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

/// The largest component accepted: our flows are 100–260 KiB; a flow with a big dependency tree
/// stays within a few MiB.
pub const MAX_COMPONENT_BYTES: usize = 8 << 20;
/// Core modules in one component (ours have 3–4: the flow, the WASI adapter, its shims).
pub const MAX_CORE_MODULES: u32 = 16;
/// Nested components.
pub const MAX_COMPONENTS: u32 = 16;
/// Core and component instances declared.
pub const MAX_INSTANCES: u32 = 128;
/// Functions defined over all core modules (each is compiled on its own).
pub const MAX_FUNCTIONS: u32 = 50_000;
/// One function body's size: Cranelift's time grows faster than linearly with a function's
/// size, so one huge body is the cheapest way to make it slow.
pub const MAX_FUNCTION_BYTES: usize = 512 << 10;
/// Tables and memories declared in one core module (a flow instance may hold one memory).
pub const MAX_TABLES_PER_MODULE: u32 = 4;
pub const MAX_MEMORIES_PER_MODULE: u32 = 1;
/// A table's elements: what a component may declare, and what the engine lets a table grow
/// to (its pool and each call's store limits use this too).
pub const MAX_TABLE_ELEMENTS: usize = 10_000;

/// The trial compile's limits: wall time (the exchange kills the child then), CPU time (the
/// kernel stops it; compiling is parallel, so CPU may exceed wall time), and address space.
pub const COMPILE_WALL: Duration = Duration::from_secs(30);
pub const COMPILE_CPU_SECS: u64 = 60;
pub const COMPILE_ADDRESS_SPACE: u64 = 3 << 30;

/// Checks what `wasm` declares against the limits above; `Err` names the first limit exceeded
/// (or says that it is not a well-formed binary). `memory_bytes` is the sandbox's linear-memory
/// cap (a memory must start below it).
pub fn check_declared(wasm: &[u8], memory_bytes: usize) -> Result<(), Refusal> {
    if wasm.len() > MAX_COMPONENT_BYTES {
        return Err(Refusal::OverLimit(format!(
            "the component is {} bytes, at most {MAX_COMPONENT_BYTES} ({} MiB)",
            wasm.len(),
            MAX_COMPONENT_BYTES >> 20
        )));
    }
    let declared = Declared::of(wasm).map_err(Refusal::Invalid)?;
    declared.check(memory_bytes).map_err(Refusal::OverLimit)
}

/// What a component declares, counted over all its nested modules and components.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Declared {
    pub core_modules: u32,
    pub components: u32,
    pub instances: u32,
    pub functions: u32,
    pub largest_function: usize,
    /// The most tables and memories one core module declares.
    pub tables_per_module: u32,
    pub memories_per_module: u32,
    pub largest_table: u64,
    /// The largest initial memory, in 64 KiB pages.
    pub largest_memory_pages: u64,
}

impl Declared {
    /// Reads the declarations (a malformed binary is an error: it would not compile either).
    pub fn of(wasm: &[u8]) -> Result<Self, String> {
        use wasmparser::Payload;
        let mut d = Declared::default();
        // Tables and memories of the core module being read (imports included).
        let (mut tables, mut memories) = (0u32, 0u32);
        for payload in wasmparser::Parser::new(0).parse_all(wasm) {
            match payload.map_err(|e| format!("not a valid component: {e}"))? {
                Payload::Version { .. } => (tables, memories) = (0, 0),
                Payload::ModuleSection { .. } => d.core_modules += 1,
                Payload::ComponentSection { .. } => d.components += 1,
                Payload::InstanceSection(s) => d.instances += s.count(),
                Payload::ComponentInstanceSection(s) => d.instances += s.count(),
                Payload::FunctionSection(s) => d.functions += s.count(),
                Payload::CodeSectionEntry(body) => d.largest_function = d.largest_function.max(body.range().len()),
                Payload::ImportSection(s) => {
                    for import in s.into_imports() {
                        match import.map_err(|e| e.to_string())?.ty {
                            wasmparser::TypeRef::Table(t) => {
                                tables += 1;
                                d.largest_table = d.largest_table.max(t.initial);
                            }
                            wasmparser::TypeRef::Memory(m) => {
                                memories += 1;
                                d.largest_memory_pages = d.largest_memory_pages.max(m.initial);
                            }
                            _ => {}
                        }
                    }
                }
                Payload::TableSection(s) => {
                    for table in s {
                        tables += 1;
                        d.largest_table = d.largest_table.max(table.map_err(|e| e.to_string())?.ty.initial);
                    }
                }
                Payload::MemorySection(s) => {
                    for memory in s {
                        memories += 1;
                        d.largest_memory_pages = d.largest_memory_pages.max(memory.map_err(|e| e.to_string())?.initial);
                    }
                }
                _ => {}
            }
            d.tables_per_module = d.tables_per_module.max(tables);
            d.memories_per_module = d.memories_per_module.max(memories);
        }
        Ok(d)
    }

    /// `Err` names the first limit exceeded.
    pub fn check(&self, memory_bytes: usize) -> Result<(), String> {
        let over = |what: &str, n: u64, max: u64| Err(format!("the component declares {n} {what}, at most {max}"));
        if self.core_modules > MAX_CORE_MODULES {
            return over("core modules", self.core_modules.into(), MAX_CORE_MODULES.into());
        }
        if self.components > MAX_COMPONENTS {
            return over("nested components", self.components.into(), MAX_COMPONENTS.into());
        }
        if self.instances > MAX_INSTANCES {
            return over("instances", self.instances.into(), MAX_INSTANCES.into());
        }
        if self.functions > MAX_FUNCTIONS {
            return over("functions", self.functions.into(), MAX_FUNCTIONS.into());
        }
        if self.largest_function > MAX_FUNCTION_BYTES {
            return Err(format!(
                "a function body is {} bytes, at most {MAX_FUNCTION_BYTES}",
                self.largest_function
            ));
        }
        if self.tables_per_module > MAX_TABLES_PER_MODULE {
            return over(
                "tables in one module",
                self.tables_per_module.into(),
                MAX_TABLES_PER_MODULE.into(),
            );
        }
        if self.memories_per_module > MAX_MEMORIES_PER_MODULE {
            return over(
                "memories in one module",
                self.memories_per_module.into(),
                MAX_MEMORIES_PER_MODULE.into(),
            );
        }
        if self.largest_table > MAX_TABLE_ELEMENTS as u64 {
            return Err(format!(
                "a table starts with {} elements, at most {MAX_TABLE_ELEMENTS}",
                self.largest_table
            ));
        }
        let memory_pages = (memory_bytes >> 16) as u64;
        if self.largest_memory_pages > memory_pages {
            return Err(format!(
                "a memory starts at {} KiB, more than a flow may use ({} KiB)",
                self.largest_memory_pages * 64,
                memory_pages * 64
            ));
        }
        Ok(())
    }
}

/// Why a trial compile refused a component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Over a limit, named.
    OverLimit(String),
    /// It does not compile (the compiler's error).
    Invalid(String),
}

/// Compiles `wasm` in a child process (`exe compile-check`) under the limits above, killing it
/// after `wall` ([`COMPILE_WALL`]); `Err` says which limit stopped it, or why the component does
/// not compile.
pub async fn trial_compile(exe: &Path, wasm: &[u8], wall: Duration) -> Result<(), Refusal> {
    use Refusal::{Invalid, OverLimit};
    let mut child = tokio::process::Command::new(exe)
        .arg("compile-check")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| OverLimit(format!("cannot start the compiler process: {e}")))?;
    let mut stdin = child.stdin.take().expect("piped");
    let wasm = wasm.to_vec();
    let feed = async move {
        // A child that dies early closes the pipe: its exit status says why.
        let _ = stdin.write_all(&wasm).await;
    };
    let finished = tokio::time::timeout(wall, async {
        let ((), output) = tokio::join!(feed, child.wait_with_output());
        output
    })
    .await;
    let output = match finished {
        Err(_) => {
            return Err(OverLimit(format!(
                "compiling took longer than {} s",
                wall.as_secs_f32()
            )));
        }
        Ok(output) => output.map_err(|e| OverLimit(format!("the compiler process: {e}")))?,
    };
    if output.status.success() {
        return Ok(());
    }
    let said = String::from_utf8_lossy(&output.stderr);
    let said = said.lines().last().unwrap_or_default();
    use std::os::unix::process::ExitStatusExt;
    let out_of_memory = || {
        OverLimit(format!(
            "compiling needed more than {} MiB of memory",
            COMPILE_ADDRESS_SPACE >> 20
        ))
    };
    match output.status.signal() {
        Some(libc::SIGXCPU | libc::SIGKILL) => Err(OverLimit(format!(
            "compiling used more than {COMPILE_CPU_SECS} s of CPU"
        ))),
        // Rust aborts when an allocation fails.
        Some(libc::SIGABRT) => Err(out_of_memory()),
        Some(signal) => Err(OverLimit(format!("the compiler process died (signal {signal})"))),
        None if said.contains("memory allocation") => Err(out_of_memory()),
        None => Err(Invalid(said.chars().take(1000).collect())),
    }
}

/// The child's side (`switchboard compile-check`): limits itself, compiles stdin, exits 0 when
/// it compiled; prints why not otherwise.
pub fn compile_check_main(compile: impl FnOnce(&[u8]) -> Result<(), String>) -> std::process::ExitCode {
    limit(libc::RLIMIT_CPU, COMPILE_CPU_SECS);
    limit(libc::RLIMIT_AS, COMPILE_ADDRESS_SPACE);
    let mut wasm = Vec::new();
    let read = std::io::stdin()
        .take(MAX_COMPONENT_BYTES as u64 + 1)
        .read_to_end(&mut wasm);
    if let Err(e) = read {
        eprintln!("reading the component: {e}");
        return std::process::ExitCode::FAILURE;
    }
    match compile(&wasm) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("{why}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn limit(resource: libc::__rlimit_resource_t, max: u64) {
    let cap = libc::rlimit {
        rlim_cur: max,
        rlim_max: max,
    };
    // SAFETY: setrlimit reads the struct it is given and changes only this process's limits.
    let done = unsafe { libc::setrlimit(resource, &cap) };
    if done != 0 {
        eprintln!("setrlimit: {}", std::io::Error::last_os_error());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEMORY: usize = 16 << 20;

    #[test]
    fn our_own_flows_are_well_within_every_limit() {
        for (name, wasm) in crate::flow::BUILTIN_FLOWS {
            let d = Declared::of(wasm).unwrap();
            assert!(d.check(MEMORY).is_ok(), "{name}: {d:?}");
            assert!(d.core_modules <= MAX_CORE_MODULES / 2, "{name}: {d:?}");
            assert!(d.functions <= MAX_FUNCTIONS / 10, "{name}: {d:?}");
            assert!(d.largest_function <= MAX_FUNCTION_BYTES / 4, "{name}: {d:?}");
            assert!(d.instances <= MAX_INSTANCES / 2, "{name}: {d:?}");
        }
    }

    /// A core module inside a component, with `body` as its module fields.
    fn component_with(fields: &str) -> Vec<u8> {
        wat::parse_str(format!("(component (core module {fields}))")).unwrap()
    }

    /// The named limit, from a refusal that must be one.
    fn over(refused: Result<(), Refusal>) -> String {
        match refused {
            Err(Refusal::OverLimit(why)) => why,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn each_declared_limit_is_named_when_exceeded() {
        let huge_body = format!("(func {})", "(drop (i32.const 1)) ".repeat(200_000));
        let why = over(check_declared(&component_with(&huge_body), MEMORY));
        assert!(why.starts_with("a function body is"), "{why}");

        let many = "(func)".repeat(MAX_FUNCTIONS as usize + 1);
        let why = over(check_declared(&component_with(&many), MEMORY));
        assert!(why.contains("functions, at most"), "{why}");

        let why = over(check_declared(&component_with("(memory 1000)"), MEMORY));
        assert!(why.starts_with("a memory starts at 64000 KiB"), "{why}");
        let why = over(check_declared(&component_with("(memory 1) (memory 1)"), MEMORY));
        assert!(why.contains("memories in one module"), "{why}");
        let why = over(check_declared(&component_with("(table 100000 funcref)"), MEMORY));
        assert!(why.starts_with("a table starts with 100000"), "{why}");

        let modules = "(core module)".repeat(MAX_CORE_MODULES as usize + 1);
        let wasm = wat::parse_str(format!("(component {modules})")).unwrap();
        assert!(over(check_declared(&wasm, MEMORY)).contains("core modules"));

        let big = vec![0u8; MAX_COMPONENT_BYTES + 1];
        assert!(over(check_declared(&big, MEMORY)).contains("at most 8388608 (8 MiB)"));
        assert!(matches!(
            check_declared(b"\0asm\x0d\0\x01\0garbage", MEMORY),
            Err(Refusal::Invalid(_))
        ));
        assert!(matches!(
            check_declared(b"hello, I am not wasm", MEMORY),
            Err(Refusal::Invalid(_))
        ));
    }

    /// A stand-in for the compiler process that behaves as `script` says.
    fn compiler(dir: &tempfile::TempDir, script: &str) -> std::path::PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.path().join("compiler");
        std::fs::write(&path, format!("#!/bin/sh\ncat >/dev/null\n{script}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[tokio::test]
    async fn a_trial_compile_that_overruns_is_stopped_and_the_limit_named() {
        let dir = tempfile::tempdir().unwrap();
        let wasm = b"\0asm\x0d\0\x01\0";
        let wall = Duration::from_millis(300);
        let cases = [
            ("exit 0", Ok(())),
            (
                "exec sleep 30",
                Err(Refusal::OverLimit("compiling took longer than 0.3 s".into())),
            ),
            (
                "kill -XCPU $$",
                Err(Refusal::OverLimit(format!(
                    "compiling used more than {COMPILE_CPU_SECS} s of CPU"
                ))),
            ),
            (
                "kill -ABRT $$",
                Err(Refusal::OverLimit(
                    "compiling needed more than 3072 MiB of memory".into(),
                )),
            ),
            (
                "echo 'invalid: unknown type' >&2; exit 1",
                Err(Refusal::Invalid("invalid: unknown type".into())),
            ),
        ];
        for (script, expected) in cases {
            let started = std::time::Instant::now();
            let got = trial_compile(&compiler(&dir, script), wasm, wall).await;
            assert_eq!(got, expected, "{script}");
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{script}: {:?}",
                started.elapsed()
            );
        }
    }
}

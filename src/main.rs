//! The `logagent` binary: a thin shell over [`logagent::app`].

/// mimalloc as the global allocator: the hot path allocates little, but what
/// it does allocate — an edit list per changed event, request bodies, batch
/// vectors moving between threads — is freed on another thread than the one
/// that made it, which glibc's malloc handles with locked arenas. The README's
/// "Allocator" section has the side-by-side figures that decided it.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(logagent::app::main());
}

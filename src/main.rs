//! The `logagent` binary: a thin shell over [`logagent::app`].

/// mimalloc as the global allocator, when built with `--features mimalloc`:
/// batches are freed on another thread than the one that made them, which is
/// where a thread-caching allocator could win. Measured against glibc's malloc
/// it did not (the README's "Allocator" paragraph), so it is off by default and
/// kept only to measure again.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(logagent::app::main());
}

//! The `logagent` binary: a thin shell over [`logagent::app`].

fn main() {
    std::process::exit(logagent::app::main());
}

//! The `glimpse` binary: see `glimpse --help`.

fn main() {
    if let Err(e) = glimpse::cli::run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

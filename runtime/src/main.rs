//! The `cairn` binary; everything is in the library (`cairn::cli`).

fn main() -> std::process::ExitCode {
    cairn::cli::main()
}

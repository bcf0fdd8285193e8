//! The `deitc` command.

fn main() -> std::process::ExitCode {
    deitc::cli::main()
}

use std::process::ExitCode;

fn main() -> ExitCode {
    push_agent::cli::main()
}

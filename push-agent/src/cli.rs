//! Command line: parsing, logging and exit codes. `main.rs` only calls [`main`].

use std::io::{BufRead as _, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use tracing::warn;

use crate::agent::{Agent, SnsSignatures};
use crate::clock;
use crate::control::{self, Client};
use crate::crypto::Decision;
use crate::enroll::{self, EnrollOptions};
use crate::error::{Error, Result};
use crate::server::{bind, shutdown_signal, RunningAgent};
use crate::state;

#[derive(Debug, Parser)]
#[command(
    name = "push-agent",
    version,
    about = "Latchkey push authenticator: approve or deny logins from the terminal"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Enroll this agent as a push device, then keep running (as `run` does).
    Enroll(EnrollArgs),
    /// Receive pushes and answer them.
    Run(RunArgs),
    /// List pending pushes of the running agent, one JSON object a line.
    Pending(ClientArgs),
    /// Approve a pending push with the number shown in the browser.
    Approve(ApproveArgs),
    /// Deny a pending push.
    Deny(DenyArgs),
    /// List the security notices the running agent received, one JSON object a line.
    Notices(ClientArgs),
    /// Report a security notice: "this wasn't me" (every session of the account ends).
    Report(ReportArgs),
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Notice to report [default: the newest one not reported yet].
    pub notice_id: Option<String>,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Args)]
pub struct StateArg {
    /// State file [default: $XDG_STATE_HOME/latchkey-push/state.json or
    /// ~/.local/state/latchkey-push/state.json]
    #[arg(long, value_name = "FILE", env = "LATCHKEY_PUSH_STATE")]
    pub state: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Loopback address of the control channel.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7071")]
    pub control: String,
    /// Do not verify SNS message signatures (only for a local emulator such as moto).
    /// The server's signature on each push is checked regardless.
    #[arg(long)]
    pub insecure_skip_sns_signature: bool,
    /// Do not prompt on the terminal; answer with `approve` / `deny` instead.
    #[arg(long)]
    pub no_prompt: bool,
}

#[derive(Debug, Args)]
pub struct EnrollArgs {
    /// The latchkey-push://enroll?... URI, or - to read it from stdin (keeps the
    /// one-time secret out of the process list).
    pub registration_uri: String,
    /// Address for SNS deliveries to reach, e.g. 0.0.0.0:8443.
    #[arg(long, value_name = "ADDR")]
    pub listen: String,
    /// The URL at which SNS reaches --listen (sent to the server as the endpoint).
    #[arg(long, value_name = "URL")]
    pub public_url: String,
    /// Device name shown in the account's device list.
    #[arg(long)]
    pub name: Option<String>,
    /// Exit once enrolled instead of running on.
    #[arg(long)]
    pub exit_after_enroll: bool,
    /// Replace a state file that already holds an enrolled device.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub state: StateArg,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Address for SNS deliveries [default: the one given at enrollment].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    #[command(flatten)]
    pub state: StateArg,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Args)]
pub struct ClientArgs {
    /// Control channel address [default: the one the running agent recorded].
    #[arg(long, value_name = "ADDR")]
    pub control: Option<String>,
    #[command(flatten)]
    pub state: StateArg,
}

#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// Push to approve [default: the newest pending one].
    pub push_id: Option<String>,
    /// The number shown in the browser.
    #[arg(long)]
    pub number: String,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Args)]
pub struct DenyArgs {
    /// Push to deny [default: the newest pending one].
    pub push_id: Option<String>,
    #[command(flatten)]
    pub client: ClientArgs,
}

fn state_path(arg: &StateArg) -> Result<PathBuf> {
    match &arg.state {
        Some(p) => Ok(p.clone()),
        None => state::default_path(),
    }
}

fn signatures(serve: &ServeArgs) -> SnsSignatures {
    if serve.insecure_skip_sns_signature {
        warn!("SNS message signatures are NOT verified (--insecure-skip-sns-signature)");
        SnsSignatures::InsecureSkip
    } else {
        SnsSignatures::Verify
    }
}

fn print_line(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("push-agent: error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("push-agent: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `RUST_LOG` as `target=level` directives (`debug`, `warn,push_agent=debug`), else `info`.
fn init_logging() {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::prelude::*;
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|directives| directives.trim().parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO));
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_filter(filter);
    let _ = tracing_subscriber::registry().with(layer).try_init();
}

pub async fn dispatch(command: Command) -> Result<()> {
    match command {
        Command::Enroll(args) => enroll_command(args).await,
        Command::Run(args) => run_command(args).await,
        Command::Pending(args) => print_lines(&client(&args)?.pending().await?),
        Command::Notices(args) => print_lines(&client(&args)?.notices().await?),
        Command::Report(args) => {
            let answer = client(&args.client)?
                .report(args.notice_id.as_deref())
                .await?;
            print_line(&format!(
                "{}: {} sessions signed out",
                answer.status, answer.revoked_sessions
            ));
            Ok(())
        }
        Command::Approve(args) => {
            let client = client(&args.client)?;
            let answer = client
                .answer(
                    args.push_id.as_deref(),
                    Decision::Approve,
                    Some(&args.number),
                )
                .await?;
            print_line(&answer.status);
            Ok(())
        }
        Command::Deny(args) => {
            let client = client(&args.client)?;
            let answer = client
                .answer(args.push_id.as_deref(), Decision::Deny, None)
                .await?;
            print_line(&answer.status);
            Ok(())
        }
    }
}

fn print_lines<T: serde::Serialize>(items: &[T]) -> Result<()> {
    for item in items {
        let line = serde_json::to_string(item)
            .map_err(|_| Error::Control("could not print the answer".to_owned()))?;
        print_line(&line);
    }
    Ok(())
}

fn client(args: &ClientArgs) -> Result<Client> {
    let addr = args
        .control
        .as_deref()
        .map(control::parse_addr)
        .transpose()?;
    Client::new(&state_path(&args.state)?, addr)
}

fn read_uri(arg: &str) -> Result<String> {
    if arg != "-" {
        return Ok(arg.to_owned());
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Error::io("read the registration URI from", "stdin", e))?;
    Ok(line.trim().to_owned())
}

async fn enroll_command(args: EnrollArgs) -> Result<()> {
    let control = if args.exit_after_enroll {
        None
    } else {
        Some(control::parse_addr(&args.serve.control)?)
    };
    let options = EnrollOptions {
        uri: read_uri(&args.registration_uri)?,
        listen: args.listen,
        public_url: args.public_url,
        name: args.name,
        state_path: state_path(&args.state)?,
        force: args.force,
        signatures: signatures(&args.serve),
        control,
        clock: clock::system(),
    };
    let enrolled = enroll::enroll(options).await?;
    print_line(&enrolled.device_id);
    let mut running = enrolled.running;
    if !args.exit_after_enroll {
        if !args.serve.no_prompt {
            running.start_prompt();
        }
        shutdown_signal().await;
    }
    running.shutdown().await;
    Ok(())
}

async fn run_command(args: RunArgs) -> Result<()> {
    let path = state_path(&args.state)?;
    let state = state::load(&path)?;
    if state.device_id.is_none() {
        return Err(Error::NotEnrolled);
    }
    let listen = args
        .listen
        .or_else(|| state.listen.clone())
        .ok_or_else(|| Error::InvalidArgument("--listen is required".to_owned()))?;
    let control_addr: SocketAddr = control::parse_addr(&args.serve.control)?;

    let sns_listener = bind(&listen, "SNS deliveries").await?;
    let control_listener = bind(&control_addr.to_string(), "the control channel").await?;
    let agent = Agent::new(&path, state, signatures(&args.serve), clock::system())?;
    let mut running = RunningAgent::start(agent, sns_listener)?;
    running.start_control(control_listener)?;
    if !args.serve.no_prompt {
        running.start_prompt();
    }
    shutdown_signal().await;
    running.shutdown().await;
    Ok(())
}

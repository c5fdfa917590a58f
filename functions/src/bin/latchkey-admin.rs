//! `latchkey-admin`: the support desk's tool for a user locked out of their account.
//! It reads the same configuration as the functions (`LATCHKEY_TABLE`,
//! `LATCHKEY_MASTER_SECRET_ARN` or `LATCHKEY_MASTER_SECRET`, `LATCHKEY_PUSH_TOPIC_ARN`,
//! AWS credentials and region) and works on the same table through the same core crate
//! (`latchkey::ops::admin`). Each change is recorded on the user's security log with the
//! operator's name. infra/README.md "Operator CLI" says which IAM permissions it needs.
//!
//! Output is for people by default; `--json` prints one JSON document for scripts (an
//! error as `{"error": {"code", "message"}}`). Exit status: 0 done, 1 refused or failed,
//! 2 bad usage. Logs go to stderr (`RUST_LOG`, default `warn`).

use clap::{Parser, Subcommand};
use latchkey::ops::admin::{self, ResetOutcome, RevokeOutcome, UnlockOutcome, UserState};
use latchkey::{App, Error};
use serde::Serialize;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "latchkey-admin",
    about = "Latchkey operator CLI: inspect a user's MFA state, reset MFA, unlock, revoke sessions",
    after_help = "Configuration comes from the same environment variables as the functions; see infra/README.md \"Operator CLI\"."
)]
struct Cli {
    /// Who is acting; recorded on the user's security log ("reset-mfa by NAME").
    #[arg(long, env = "LATCHKEY_OPERATOR", global = true, value_name = "NAME")]
    operator: Option<String>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// MFA state: devices, recovery codes, failed attempts, lock, sessions, recent events.
    Show { user: String },
    /// Remove every device and the recovery codes, turn MFA on (setup required at the next
    /// login), and revoke every session.
    ResetMfa { user: String },
    /// Clear the failed-attempt count and the account lock.
    Unlock { user: String },
    /// End every session of the user at once.
    RevokeSessions { user: String },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    latchkey::telemetry::init_cli(latchkey::telemetry::LevelFilter::WARN);
    // Required for every command, `show` too: the operator is accountable for reads as
    // well, and a missing name is better refused before any AWS call.
    let operator = match cli.operator.as_deref().map(admin::operator) {
        Some(Ok(name)) => name,
        Some(Err(e)) => return usage(&e.to_string()),
        None => return usage("--operator NAME (or LATCHKEY_OPERATOR) is required"),
    };
    let app = match App::from_env().await {
        Ok(app) => app,
        Err(_) => {
            return fail(
                cli.json,
                "startup",
                "cannot start: the configuration or the master secret could not be loaded (see the log above)",
            )
        }
    };
    let outcome = match &cli.command {
        Command::Show { user } => admin::show(&app, user).await.map(Outcome::Show),
        Command::ResetMfa { user } => admin::reset_mfa(&app, user, &operator)
            .await
            .map(Outcome::Reset),
        Command::Unlock { user } => admin::unlock(&app, user, &operator)
            .await
            .map(Outcome::Unlock),
        Command::RevokeSessions { user } => admin::revoke_sessions(&app, user, &operator)
            .await
            .map(Outcome::Revoke),
    };
    match outcome {
        Ok(outcome) => {
            if cli.json {
                print_json(&outcome)
            } else {
                print!("{}", outcome.text());
                ExitCode::SUCCESS
            }
        }
        Err(error) => fail(cli.json, error.code(), &explain(&error)),
    }
}

fn usage(message: &str) -> ExitCode {
    eprintln!("latchkey-admin: {message}");
    ExitCode::from(2)
}

fn explain(error: &Error) -> String {
    match error {
        Error::NotFound => "no such user".to_owned(),
        Error::Unavailable | Error::Contention => "DynamoDB or SNS could not be reached or refused the call (see the log above); run the command again: every step is safe to repeat".to_owned(),
        Error::Internal(cause) => format!("internal error: {cause}"),
        other => other.to_string(),
    }
}

fn fail(json: bool, code: &str, message: &str) -> ExitCode {
    if json {
        let _ = print_json(&serde_json::json!({ "error": { "code": code, "message": message } }));
    } else {
        eprintln!("latchkey-admin: {message}");
    }
    ExitCode::FAILURE
}

fn print_json(value: &impl Serialize) -> ExitCode {
    match serde_json::to_string_pretty(value) {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("latchkey-admin: cannot print JSON: {e}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Serialize)]
#[serde(untagged)]
enum Outcome {
    Show(UserState),
    Reset(ResetOutcome),
    Unlock(UnlockOutcome),
    Revoke(RevokeOutcome),
}

impl Outcome {
    fn text(&self) -> String {
        match self {
            Outcome::Show(state) => show_text(state),
            Outcome::Reset(r) => format!(
                "{}: MFA reset. Removed {} device(s) ({} push subscription(s)) and {} recovery code(s); revoked {} session(s). The next login must set up a second factor.\n",
                r.username,
                r.devices_removed,
                r.push_subscriptions_removed,
                r.recovery_codes_removed,
                r.sessions_revoked
            ),
            Outcome::Unlock(u) => format!(
                "{}: unlocked ({}; {} failed attempt(s) cleared).\n",
                u.username,
                if u.was_locked { "was locked" } else { "was not locked" },
                u.failed_attempts_cleared
            ),
            Outcome::Revoke(r) => {
                format!("{}: revoked {} session(s).\n", r.username, r.sessions_revoked)
            }
        }
    }
}

fn show_text(s: &UserState) -> String {
    let mut out = String::new();
    let mut line = |label: &str, value: String| out.push_str(&format!("{label:<16}{value}\n"));
    line("user", s.username.clone());
    line(
        "MFA",
        match (s.mfa_enabled, s.mfa_setup_required) {
            (true, true) => "enabled, no device: setup required at the next login".to_owned(),
            (true, false) => "enabled".to_owned(),
            (false, _) => "disabled (password only)".to_owned(),
        },
    );
    line(
        "recovery codes",
        match &s.recovery_codes.generated_at {
            Some(at) => format!("{} remaining (generated {at})", s.recovery_codes.remaining),
            None => "none".to_owned(),
        },
    );
    line("failed attempts", s.failed_attempts.to_string());
    line(
        "locked",
        s.locked_until
            .as_ref()
            .map_or("no".to_owned(), |until| format!("until {until}")),
    );
    line("sessions", format!("{} active", s.active_sessions));
    line("devices", s.devices.len().to_string());
    for d in &s.devices {
        out.push_str(&format!(
            "  {:<9} {:<24} {:?}  added {}  last used {}{}\n",
            d.kind,
            d.id,
            d.name,
            d.created_at,
            d.last_used_at.as_deref().unwrap_or("never"),
            d.warning
                .as_deref()
                .map(|w| format!("  WARNING: {w}"))
                .unwrap_or_default()
        ));
    }
    out.push_str(&format!(
        "recent events ({}, newest first)\n",
        s.recent_events.len()
    ));
    for e in &s.recent_events {
        let mut text = format!("  {}  {}", e.at, e.kind);
        if let Some(device) = &e.device_id {
            text.push_str(&format!("  device {device}"));
        }
        if let Some(detail) = &e.detail {
            text.push_str(&format!("  ({detail})"));
        }
        out.push_str(&text);
        out.push('\n');
    }
    out
}

//! The terminal prompt: shows the newest pending push and reads the typed number.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::info;

use crate::agent::{Agent, PendingView, PromptView};
use crate::crypto::Decision;
use crate::error::Error;

/// Starts prompting if stdin is a terminal; otherwise the control channel is the only
/// way to answer.
pub fn spawn(agent: Agent, shutdown: watch::Receiver<bool>) -> Option<JoinHandle<()>> {
    if !std::io::stdin().is_terminal() {
        info!("stdin is not a terminal: answer pushes with `push-agent approve` or `deny`");
        return None;
    }
    let (tx, rx) = mpsc::channel(8);
    // A plain thread: reading stdin blocks, and the process exit ends it.
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.blocking_send(line).is_err() {
                break;
            }
        }
    });
    Some(tokio::spawn(prompt_loop(agent, rx, shutdown)))
}

fn say(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

fn ask() {
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "Type the number shown on the screen, or d to deny: ");
    let _ = out.flush();
}

fn utc(t: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// The fields are already cleaned of escape sequences by the agent.
fn describe(p: &PromptView, now: OffsetDateTime) -> String {
    let left = (p.expires_at - now).whole_seconds().max(0);
    let when = p
        .created_at
        .map(utc)
        .unwrap_or_else(|| "unknown".to_owned());
    format!(
        "\nLogin request\n  user:    {}\n  service: {}\n  from:    {}\n  browser: {}\n  when:    {when} (expires in {left} s)",
        p.view.username, p.view.issuer, p.view.ip, p.view.user_agent,
    )
}

async fn prompt_loop(
    agent: Agent,
    mut lines: mpsc::Receiver<String>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut changes = agent.subscribe();
    let mut shown: Option<String> = None;
    loop {
        let Some(prompt) = agent.newest_pending() else {
            shown = None;
            tokio::select! {
                line = lines.recv() => {
                    let Some(line) = line else { return };
                    if !report_line(&agent, line.trim()).await && !line.trim().is_empty() {
                        say("No login request is waiting (type r to report the newest security notice).");
                    }
                }
                r = changes.changed() => if r.is_err() { return },
                () = stopped(&mut shutdown) => return,
            }
            continue;
        };
        let current = &prompt.view;
        if shown.as_deref() != Some(current.push_id.as_str()) {
            say(&describe(&prompt, agent.now()));
            ask();
            shown = Some(current.push_id.clone());
        }
        let left = (prompt.expires_at - agent.now()).max(time::Duration::ZERO);
        let left = Duration::try_from(left).unwrap_or_default();
        tokio::select! {
            line = lines.recv() => {
                let Some(line) = line else {
                    say("\nstdin closed: answer with `push-agent approve` or `deny` from now on");
                    return;
                };
                if report_line(&agent, line.trim()).await {
                    ask();
                } else if answer_line(&agent, current, line.trim()).await {
                    shown = None;
                } else {
                    ask();
                }
            }
            r = changes.changed() => if r.is_err() { return },
            _ = tokio::time::sleep(left) => {
                say("\nThat request expired.");
                agent.prune();
                shown = None;
            }
            () = stopped(&mut shutdown) => return,
        }
    }
}

/// Drops the watch guard before it can be held across an await.
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}

/// `r` / `report [notice_id]`: "this wasn't me" about a security notice. Returns whether
/// the line was such a command.
async fn report_line(agent: &Agent, line: &str) -> bool {
    let Some(notice_id) = report_command(line) else {
        return false;
    };
    match agent.report(notice_id).await {
        Ok(answer) => say(&format!(
            "Reported. {} sessions of the account were signed out; change your password.",
            answer.revoked_sessions
        )),
        Err(e) => say(&format!("error: {e}")),
    }
    true
}

/// `Some(notice id or none)` for a report command; `None` for anything else (a number,
/// `d`).
fn report_command(line: &str) -> Option<Option<&str>> {
    match line.split_once(' ') {
        Some(("r" | "report", id)) if !id.trim().is_empty() => Some(Some(id.trim())),
        None if matches!(line, "r" | "report") => Some(None),
        _ => None,
    }
}

/// Returns true when the push is settled (answered, or gone).
async fn answer_line(agent: &Agent, push: &PendingView, line: &str) -> bool {
    let (decision, number) = match line {
        "" => return false,
        "d" | "D" | "deny" => (Decision::Deny, None),
        digits => (Decision::Approve, Some(digits)),
    };
    match agent.answer(Some(&push.push_id), decision, number).await {
        Ok(answer) => {
            say(&answer.status);
            true
        }
        Err(Error::InvalidArgument(message)) => {
            say(&message);
            false
        }
        Err(Error::NoPending(_)) => {
            say("That request was already answered or has expired.");
            true
        }
        Err(e) => {
            say(&format!("error: {e}"));
            // The agent keeps the push when the server decided nothing; ask again then.
            agent.pending().iter().all(|p| p.push_id != push.push_id)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_commands_are_told_from_numbers_and_denials() {
        assert_eq!(report_command("r"), Some(None));
        assert_eq!(report_command("report"), Some(None));
        assert_eq!(report_command("r bm9yYQ.1.x"), Some(Some("bm9yYQ.1.x")));
        assert_eq!(
            report_command("report  bm9yYQ.1.x "),
            Some(Some("bm9yYQ.1.x"))
        );
        for other in ["123456", "d", "deny", "", "rr", "r "] {
            assert_eq!(report_command(other), None, "{other:?}");
        }
    }
}

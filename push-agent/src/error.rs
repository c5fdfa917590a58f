use std::path::PathBuf;

/// Everything the agent can fail at. Messages never carry key material, the
/// enrollment secret, a challenge or a signature: they end up in logs and on terminals.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid registration URI: {0}")]
    InvalidUri(String),

    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{0}")]
    Network(String),

    #[error("state file {path} is not usable: {reason}")]
    State { path: PathBuf, reason: String },

    #[error("{path} already holds an enrolled device; pass --force to replace it")]
    AlreadyEnrolled { path: PathBuf },

    #[error("this agent is not enrolled yet")]
    NotEnrolled,

    #[error("cryptographic failure: {0}")]
    Crypto(&'static str),

    /// The Latchkey server (or the agent's control channel, relaying it) answered
    /// with its standard error body.
    #[error("{message} ({code}, HTTP {status})")]
    Server {
        status: u16,
        code: String,
        message: String,
    },

    #[error("SNS message rejected: {0}")]
    SnsRejected(String),

    #[error("no pending push{}", .0.as_deref().map(|id| format!(" with id {id}")).unwrap_or_default())]
    NoPending(Option<String>),

    #[error("no notice{}", .0.as_deref().map(|id| format!(" with id {id}")).unwrap_or_else(|| " to report".to_owned()))]
    NoNotice(Option<String>),

    #[error("control channel: {0}")]
    Control(String),
}

impl Error {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn state(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::State {
            path: path.into(),
            reason: reason.into(),
        }
    }

    /// reqwest's Display can include the full URL; ours never carry secrets in the
    /// query string, but we still keep the text short and free of bodies.
    pub(crate) fn network(context: &str, err: &reqwest::Error) -> Self {
        let kind = if err.is_timeout() {
            "timed out"
        } else if err.is_connect() {
            "could not connect"
        } else if err.is_decode() {
            "could not decode the answer"
        } else if err.is_body() {
            "could not read the answer"
        } else {
            "request failed"
        };
        let host = err
            .url()
            .and_then(|u| {
                u.host_str().map(|h| match u.port() {
                    Some(p) => format!("{h}:{p}"),
                    None => h.to_owned(),
                })
            })
            .unwrap_or_default();
        if host.is_empty() {
            Error::Network(format!("{context}: {kind}"))
        } else {
            Error::Network(format!("{context}: {kind} ({host})"))
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

//! The agent's listeners (SNS deliveries, control channel) and their lifetime.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::{Method, StatusCode};
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::agent::Agent;
use crate::control::{self, ControlFile};
use crate::error::{Error, Result};
use crate::sns::Envelope;

/// SNS messages are at most 256 KiB; the envelope adds a little.
const MAX_SNS_BODY: usize = 512 * 1024;
/// Deliveries processed at once. Each may fetch a certificate; beyond this, SNS gets
/// a 503 and retries, instead of the agent piling up work for whoever floods it.
const MAX_IN_FLIGHT: usize = 16;

#[derive(Clone)]
struct SnsState {
    agent: Agent,
    permits: Arc<Semaphore>,
}

async fn sns_handler(AxumState(s): AxumState<SnsState>, method: Method, body: Bytes) -> StatusCode {
    if method != Method::POST {
        return StatusCode::METHOD_NOT_ALLOWED;
    }
    let Ok(envelope) = serde_json::from_slice::<Envelope>(&body) else {
        // debug, not warn: anyone who can reach the port could fill the log otherwise.
        debug!("ignored a request that is not an SNS delivery");
        return StatusCode::BAD_REQUEST;
    };
    let Ok(permit) = Arc::clone(&s.permits).try_acquire_owned() else {
        return StatusCode::SERVICE_UNAVAILABLE;
    };
    // Answer first, then work: moto delivers inside Publish, so a slow answer here
    // would hold up the server's publish call.
    tokio::spawn(async move {
        let _permit = permit;
        s.agent.process(envelope).await;
    });
    StatusCode::OK
}

pub fn sns_router(agent: Agent) -> Router {
    Router::new()
        .fallback(sns_handler)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_SNS_BODY))
        .with_state(SnsState {
            agent,
            permits: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        })
}

pub async fn bind(addr: &str, what: &str) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| Error::InvalidArgument(format!("cannot listen on {addr} for {what}: {e}")))
}

fn local_addr(listener: &TcpListener) -> Result<SocketAddr> {
    listener
        .local_addr()
        .map_err(|e| Error::io("read the address of", "listener", e))
}

/// A running agent: its listeners and tasks. Dropping it does not stop them; call
/// [`RunningAgent::shutdown`].
pub struct RunningAgent {
    pub agent: Agent,
    pub sns_addr: SocketAddr,
    pub control_addr: Option<SocketAddr>,
    control_file: Option<ControlFile>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningAgent {
    /// Starts serving SNS deliveries on `listener`.
    pub fn start(agent: Agent, listener: TcpListener) -> Result<Self> {
        let sns_addr = local_addr(&listener)?;
        let (shutdown, _) = watch::channel(false);
        let mut running = RunningAgent {
            agent: agent.clone(),
            sns_addr,
            control_addr: None,
            control_file: None,
            shutdown,
            tasks: Vec::new(),
        };
        running.spawn_server(listener, sns_router(agent), "SNS listener");
        info!(addr = %sns_addr, "listening for SNS deliveries");
        Ok(running)
    }

    /// Starts the control channel on a loopback `listener` and publishes its token.
    pub fn start_control(&mut self, listener: TcpListener) -> Result<()> {
        let addr = local_addr(&listener)?;
        if !addr.ip().is_loopback() {
            return Err(Error::InvalidArgument(format!(
                "control address {addr} is not a loopback address"
            )));
        }
        let file = control::write_control_file(self.agent.state_path(), addr)?;
        let router = control::router(self.agent.clone(), file.token.clone());
        self.spawn_server(listener, router, "control channel");
        self.control_addr = Some(addr);
        self.control_file = Some(file);
        info!(addr = %addr, "control channel listening");
        Ok(())
    }

    /// Prompts on the terminal for each push, if stdin is one.
    pub fn start_prompt(&mut self) {
        if let Some(task) = crate::prompt::spawn(self.agent.clone(), self.shutdown.subscribe()) {
            self.tasks.push(task);
        }
    }

    fn spawn_server(&mut self, listener: TcpListener, router: Router, what: &'static str) {
        let mut stop = self.shutdown.subscribe();
        self.tasks.push(tokio::spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await;
            if let Err(e) = served {
                warn!("{what} stopped: {e}");
            }
        }));
    }

    /// Stops the listeners and removes the control file.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        if let Some(file) = &self.control_file {
            control::remove_control_file(self.agent.state_path(), file);
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

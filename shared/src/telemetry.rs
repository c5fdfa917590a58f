//! Logging setup shared by every binary. Logs carry route, status and timing, never
//! request bodies, headers or any secret.
//!
//! `RUST_LOG` is read as `target=level` directives (`debug`, `warn,latchkey=debug`): a
//! target filter rather than `EnvFilter`, whose span and field directives would compile a
//! regex engine into every function for nothing a Lambda log needs. A value that does not
//! parse is ignored in favour of the default, as `EnvFilter` would have it.

pub use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

/// The functions and the dev server: `info` by default, to stdout, without timestamps
/// (CloudWatch stamps every line).
pub fn init() {
    let layer = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .with_filter(filter_from_env(LevelFilter::INFO));
    let _ = tracing_subscriber::registry().with(layer).try_init();
}

/// A command-line tool: to stderr, so that stdout stays its output.
pub fn init_cli(default: LevelFilter) {
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false)
        .with_filter(filter_from_env(default));
    let _ = tracing_subscriber::registry().with(layer).try_init();
}

fn filter_from_env(default: LevelFilter) -> Targets {
    std::env::var("RUST_LOG")
        .ok()
        .and_then(|directives| parse_filter(&directives))
        .unwrap_or_else(|| Targets::new().with_default(default))
}

fn parse_filter(directives: &str) -> Option<Targets> {
    directives.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn rust_log_directives_set_the_default_and_per_target_levels() {
        let filter = parse_filter("warn,latchkey=debug").unwrap();
        assert!(filter.would_enable("latchkey::store", &Level::DEBUG));
        assert!(!filter.would_enable("latchkey::store", &Level::TRACE));
        assert!(filter.would_enable("aws_smithy_runtime", &Level::WARN));
        assert!(!filter.would_enable("aws_smithy_runtime", &Level::INFO));
        let bare = parse_filter("debug").unwrap();
        assert!(bare.would_enable("h2", &Level::DEBUG));
    }

    #[test]
    fn a_value_that_does_not_parse_is_refused() {
        assert!(parse_filter("latchkey=loud").is_none());
    }
}

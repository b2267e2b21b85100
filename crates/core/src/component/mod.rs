//! What the application sees of a component: the running traits ([`Source`],
//! [`Transform`], [`Sink`]), what each is run with, and the config-side traits
//! ([`SourceComponent`], [`TransformComponent`], [`SinkComponent`]) through which
//! the application's component enums delegate everything but the list of types.
//!
//! They live here, below the component crates, so that sources, transforms and
//! sinks depend on this crate and never on one another or on the application.

pub mod health;
pub mod sink;
pub mod source;
pub mod transform;

pub use health::{HealthCheck, HealthFailure, HealthReport};
pub use sink::{Sink, SinkComponent, SinkContext, SinkError};
pub use source::{Source, SourceComponent, SourceContext, SourceError};
pub use transform::{Transform, TransformComponent, TransformContext};

/// The named output every transform has for the events it panicked on (and the
/// output a sink sends what it could not deliver to), so a pipeline can keep them.
pub const DEAD_LETTER: &str = "dead_letter";

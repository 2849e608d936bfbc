//! `env:VAR`: values from one environment variable, read once at start (a process's
//! environment does not change; ECS injects a Secrets Manager value this way).

use std::fmt;

use super::{Labeled, Source, SourceError, parse};
use crate::config::env::Env;

pub struct EnvSource {
    var: String,
    description: String,
    /// The variable's raw text: secret, so `Debug` below leaves it out.
    text: Option<String>,
}

impl EnvSource {
    pub fn new(var: &str, env: &dyn Env) -> Self {
        Self {
            var: var.to_owned(),
            description: format!("env:{var}"),
            text: env.get(var),
        }
    }
}

impl fmt::Debug for EnvSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvSource")
            .field("var", &self.var)
            .field("set", &self.text.is_some())
            .finish()
    }
}

impl Source for EnvSource {
    fn describe(&self) -> &str {
        &self.description
    }

    async fn load(&mut self) -> Result<Vec<Labeled>, SourceError> {
        match &self.text {
            Some(text) => parse::env_values(&self.description, text),
            None => Err(SourceError::MissingVar {
                var: self.var.clone(),
            }),
        }
    }
}

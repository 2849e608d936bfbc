//! The usual set-up: a secrets file with two values, an upstream, a proxy in front.

use std::path::PathBuf;

use tempfile::TempDir;

use crate::proxy::{Builder, Proxy};
use crate::secret_like;
use crate::upstream::Upstream;

#[derive(Debug)]
pub struct Fixture {
    pub upstream: Upstream,
    pub proxy: Proxy,
    /// Accepted values: `a` on line 2 and `b` on line 4 of the file.
    pub a: String,
    pub b: String,
    pub file: PathBuf,
    _dir: TempDir,
}

impl Fixture {
    /// Starts everything and waits for `/ready`; `configure` adds flags.
    pub async fn start(configure: impl FnOnce(Builder) -> Builder) -> Self {
        Self::start_with(Upstream::start().await, configure).await
    }

    /// Like `start`, in front of the given upstream.
    pub async fn start_with(
        upstream: Upstream,
        configure: impl FnOnce(Builder) -> Builder,
    ) -> Self {
        let (a, b) = (secret_like('a'), secret_like('b'));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("origin-verify");
        std::fs::write(&file, format!("# accepted values\n{a}\n\n{b}\n")).unwrap();
        let builder = Builder::new(&format!("file:{}", file.display()))
            .arg("--upstream", &upstream.url())
            .internal();
        let proxy = configure(builder).spawn().await;
        proxy.wait_ready().await;
        Self {
            upstream,
            proxy,
            a,
            b,
            file,
            _dir: dir,
        }
    }

    /// Replaces the secrets file atomically (write, then rename), as an operator should.
    pub fn write_secrets(&self, text: &str) {
        let tmp = self.file.with_extension("tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &self.file).unwrap();
    }
}

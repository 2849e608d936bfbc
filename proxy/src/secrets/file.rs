//! `file:PATH`: one accepted value per line, re-read on every refresh.

use std::path::PathBuf;

use super::{Labeled, Source, SourceError, parse};

#[derive(Debug)]
pub struct FileSource {
    path: PathBuf,
    description: String,
}

impl FileSource {
    pub fn new(path: PathBuf) -> Self {
        let description = format!("file:{}", path.display());
        Self { path, description }
    }
}

impl Source for FileSource {
    fn describe(&self) -> &str {
        &self.description
    }

    async fn load(&mut self) -> Result<Vec<Labeled>, SourceError> {
        let text = tokio::fs::read_to_string(&self.path)
            .await
            .map_err(|source| SourceError::Read {
                path: self.path.clone(),
                source,
            })?;
        parse::file_values(&self.description, &text)
    }
}

use std::path::{Path, PathBuf};

/// A directory removed on drop (tests only; avoids a tempfile dependency).
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> Self {
        let token = crate::crypto::random_token(&crate::crypto::system_random()).unwrap();
        let dir = std::env::temp_dir().join(format!("push-agent-test-{}", &token[..16]));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

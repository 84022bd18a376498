//! A generated project as a list of files, and how it is written to disk.
//!
//! Every target (MicroPython, Pico W, the Rust module) produces a [`Project`]; writing is one
//! shared piece so that "never overwrite what the user edits" holds everywhere the same way.

use std::io;
use std::path::{Component, Path, PathBuf};

/// Who owns a generated file once it is on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ownership {
    /// luagen's: rewritten on every generation.
    Generated,
    /// The user's after the first write (handlers, configuration): kept unless forced.
    User,
}

/// One file of a generated project.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeneratedFile {
    /// Relative to the project root, `/`-separated, never `..`.
    pub path: PathBuf,
    pub contents: Vec<u8>,
    pub ownership: Ownership,
}

impl GeneratedFile {
    pub fn generated(path: impl Into<PathBuf>, contents: impl Into<Vec<u8>>) -> Self {
        Self {
            path: path.into(),
            contents: contents.into(),
            ownership: Ownership::Generated,
        }
    }

    pub fn user(path: impl Into<PathBuf>, contents: impl Into<Vec<u8>>) -> Self {
        Self {
            path: path.into(),
            contents: contents.into(),
            ownership: Ownership::User,
        }
    }
}

/// The files of one generated project.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Project {
    pub files: Vec<GeneratedFile>,
}

/// What [`Project::write`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteReport {
    /// Files written (created or replaced).
    pub written: Vec<PathBuf>,
    /// User-owned files that already existed and were left as they were.
    pub kept: Vec<PathBuf>,
}

impl Project {
    pub fn file(&self, path: impl AsRef<Path>) -> Option<&GeneratedFile> {
        self.files.iter().find(|f| f.path == path.as_ref())
    }

    /// Write the project under `root`. User-owned files that exist are kept unless `force`.
    /// Each file is written to a temporary sibling and renamed, so an interrupted run never
    /// leaves a half-written file behind.
    pub fn write(&self, root: &Path, force: bool) -> io::Result<WriteReport> {
        let mut report = WriteReport::default();
        for file in &self.files {
            let relative = safe_relative(&file.path)?;
            let target = root.join(relative);
            if file.ownership == Ownership::User && target.exists() && !force {
                report.kept.push(relative.to_path_buf());
                continue;
            }
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)?;
            }
            if std::fs::read(&target).ok().as_deref() != Some(file.contents.as_slice()) {
                let tmp = target.with_extension("luagen-tmp");
                std::fs::write(&tmp, &file.contents)?;
                std::fs::rename(&tmp, &target)?;
            }
            report.written.push(relative.to_path_buf());
        }
        Ok(report)
    }
}

/// Paths come from generators, not users, but a manifest string must still never steer a
/// write outside the project.
fn safe_relative(path: &Path) -> io::Result<&Path> {
    let ok = path.components().all(|c| matches!(c, Component::Normal(_)));
    if ok && !path.as_os_str().is_empty() {
        Ok(path)
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("refusing to write outside the project: {}", path.display()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_files_survive_regeneration_unless_forced() {
        let dir = std::env::temp_dir().join(format!("luagen-project-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let project = Project {
            files: vec![
                GeneratedFile::generated("lib/gen.py", "v1"),
                GeneratedFile::user("handlers.py", "stub"),
            ],
        };
        project.write(&dir, false).unwrap();
        std::fs::write(dir.join("handlers.py"), "edited").unwrap();
        let report = project.write(&dir, false).unwrap();
        assert_eq!(report.kept, vec![PathBuf::from("handlers.py")]);
        assert_eq!(
            std::fs::read_to_string(dir.join("handlers.py")).unwrap(),
            "edited"
        );
        project.write(&dir, true).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("handlers.py")).unwrap(),
            "stub"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn paths_cannot_escape_the_project() {
        let project = Project {
            files: vec![GeneratedFile::generated("../evil", "x")],
        };
        assert!(project.write(Path::new("/tmp"), false).is_err());
    }
}

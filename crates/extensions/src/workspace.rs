//! The conversation's workspace: the one directory file commands may touch, and the checks
//! that keep every user- or model-supplied path inside it.
//!
//! Layout (reference agents-memory.md section 0 and 4.4):
//! `<data_dir>/WORKSPACE/agent_<first 16 hex of sha256(agent_id)>/<conversation_id>/`.
//! Models often write paths such as `/workspace/report.md` or `/path/to/file.txt`; those
//! prefixes are stripped as the reference does. Anything else that could leave the directory
//! (absolute paths, `..`, symlinks) is refused with `CommandError::BadPath` (docs/compat.md).

use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::registry::CommandError;

/// Longest single path component, in bytes: the common file-system limit (ext4, APFS, NTFS).
const MAX_COMPONENT_BYTES: usize = 255;
/// Longest relative path, in bytes: far below PATH_MAX (4096) once the root is prepended.
const MAX_PATH_BYTES: usize = 1024;
/// Prefixes models commonly put in front of a workspace path (reference 4.4).
const MODEL_PREFIXES: [&str; 3] = ["/path/to/", "/workspace/", "/agixt/"];

/// A conversation's workspace directory. Nothing is created until a command writes.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// The conversation directory.
    root: PathBuf,
}

impl Workspace {
    /// `<data_dir>/WORKSPACE/agent_<first 16 hex of sha256(agent_id)>/<conversation_id>/`
    /// (created lazily by writes). The conversation id is a UUID; any character outside
    /// `[A-Za-z0-9_-]` is dropped, so no id can name a directory outside `WORKSPACE`.
    pub fn for_conversation(data_dir: &Path, agent_id: &str, conversation_id: &str) -> Workspace {
        let mut conversation: String = conversation_id
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        if conversation.is_empty() {
            conversation.push('_');
        }
        Workspace {
            root: data_dir
                .join("WORKSPACE")
                .join(Workspace::agent_folder(agent_id))
                .join(conversation),
        }
    }

    /// The agent folder name for an agent id (reference section 0): "agent_" + first 16 hex
    /// chars of sha256(agent_id).
    pub fn agent_folder(agent_id: &str) -> String {
        let digest = hex::encode(Sha256::digest(agent_id.as_bytes()));
        format!("agent_{}", &digest[..16])
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Resolve a user/model-supplied relative path to a file inside the workspace. The
    /// prefixes `/path/to/`, `/workspace/`, `/agixt/`, the workspace's own absolute root and
    /// `WORKSPACE/agent_*/<conversation>/` are stripped; then an absolute path, a `..`
    /// component, an empty path, NUL or control characters, a component over 255 bytes, a path
    /// over 1024 bytes and any existing symlink on the way (the final component included) are
    /// refused with `CommandError::BadPath`. The result is the joined path, not canonicalized.
    ///
    /// The symlink check reads the file system, so call it where blocking is fine.
    pub fn resolve(&self, relative: &str) -> Result<PathBuf, CommandError> {
        let path = self.resolve_dir(relative)?;
        if path == self.root {
            return Err(CommandError::BadPath("a file name is required".to_owned()));
        }
        Ok(path)
    }

    /// Like `resolve`, for a directory: an empty path (after stripping) is the root itself.
    pub fn resolve_dir(&self, relative: &str) -> Result<PathBuf, CommandError> {
        if relative.chars().any(char::is_control) {
            return Err(bad_path(relative, "contains control characters"));
        }
        let stripped = self.strip_prefixes(relative);
        let inner = checked_relative(relative, stripped)?;
        let path = self.root.join(inner);
        self.refuse_symlinks(relative, &path)?;
        Ok(path)
    }

    /// The path of `path` relative to the root, with `/` separators (for output URLs).
    pub fn relative(&self, path: &Path) -> String {
        let inner = path.strip_prefix(&self.root).unwrap_or(path);
        inner
            .components()
            .filter_map(|component| match component {
                Component::Normal(part) => Some(part.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect::<Vec<String>>()
            .join("/")
    }

    /// What is left of `input` once the known prefixes are taken off, in the order a model
    /// would stack them: the absolute root, then a model prefix, then the reference layout.
    fn strip_prefixes<'a>(&self, input: &'a str) -> &'a str {
        let mut rest = input;
        let root = self.root.to_string_lossy();
        if let Some(after) = strip_dir_prefix(rest, &root) {
            rest = after;
        }
        if let Some(after) = MODEL_PREFIXES
            .iter()
            .find_map(|prefix| strip_dir_prefix(rest, prefix.trim_end_matches('/')))
        {
            rest = after;
        }
        self.strip_layout(rest)
    }

    /// `WORKSPACE/agent_<anything>/<this conversation>/` (with or without a leading `/`).
    fn strip_layout<'a>(&self, input: &'a str) -> &'a str {
        let conversation = self
            .root
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Some(after) = input
            .trim_start_matches('/')
            .strip_prefix("WORKSPACE/agent_")
        else {
            return input;
        };
        let Some((_, after_agent)) = after.split_once('/') else {
            return input;
        };
        strip_dir_prefix(after_agent, &conversation).unwrap_or(input)
    }

    /// Refuse when the root or any existing component below it is a symlink. Components after
    /// the first missing one cannot exist, so the walk stops there. The directories above the
    /// root (the data directory) are the operator's and may be links.
    fn refuse_symlinks(&self, relative: &str, path: &Path) -> Result<(), CommandError> {
        let below_root = path.strip_prefix(&self.root).unwrap_or(Path::new(""));
        let mut current = self.root.clone();
        let check = |current: &Path| match std::fs::symlink_metadata(current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                Err(bad_path(relative, "goes through a symbolic link"))
            }
            Ok(_) => Ok(true),
            Err(_) => Ok(false),
        };
        if !check(&current)? {
            return Ok(());
        }
        for component in below_root.components() {
            current.push(component);
            if !check(&current)? {
                break;
            }
        }
        Ok(())
    }
}

/// `input` without the directory `prefix` (given without its trailing `/`): `prefix/rest`
/// gives `rest`, `prefix` alone gives `""`.
fn strip_dir_prefix<'a>(input: &'a str, prefix: &str) -> Option<&'a str> {
    if prefix.is_empty() {
        return None;
    }
    let after = input.strip_prefix(prefix)?;
    if after.is_empty() {
        Some(after)
    } else {
        after.strip_prefix('/')
    }
}

/// The stripped path as a relative path of plain components, or why it is refused.
fn checked_relative(original: &str, stripped: &str) -> Result<PathBuf, CommandError> {
    if stripped.len() > MAX_PATH_BYTES {
        return Err(bad_path(original, "is longer than 1024 bytes"));
    }
    let mut inner = PathBuf::new();
    for component in Path::new(stripped).components() {
        match component {
            Component::Normal(part) if part.len() > MAX_COMPONENT_BYTES => {
                return Err(bad_path(original, "has a name longer than 255 bytes"));
            }
            Component::Normal(part) => inner.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                return Err(bad_path(original, "may not contain '..'"));
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(bad_path(original, "is outside the workspace"));
            }
        }
    }
    Ok(inner)
}

fn bad_path(path: &str, reason: &str) -> CommandError {
    // Control characters are shown escaped so the message stays one readable line.
    CommandError::BadPath(format!("path {path:?} {reason}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workspace() -> Workspace {
        Workspace::for_conversation(Path::new("/data"), "agent-1", "conv-1")
    }

    #[test]
    fn layout_follows_the_reference() {
        let folder = Workspace::agent_folder("agent-1");
        assert_eq!(folder.len(), "agent_".len() + 16);
        let digest = hex::encode(Sha256::digest(b"agent-1"));
        assert_eq!(folder, format!("agent_{}", &digest[..16]));
        assert_eq!(
            workspace().root(),
            Path::new("/data/WORKSPACE").join(&folder).join("conv-1")
        );
    }

    #[test]
    fn conversation_ids_cannot_leave_the_workspace() {
        let ws = Workspace::for_conversation(Path::new("/data"), "a", "../../etc");
        assert_eq!(ws.root().file_name().unwrap(), "etc");
        assert!(ws.root().starts_with("/data/WORKSPACE"));
        let ws = Workspace::for_conversation(Path::new("/data"), "a", "..");
        assert!(ws.root().starts_with("/data/WORKSPACE"));
    }

    #[test]
    fn known_prefixes_are_stripped() {
        let ws = workspace();
        let root = ws.root().to_string_lossy().into_owned();
        let folder = Workspace::agent_folder("agent-1");
        for input in [
            "a/b.txt".to_owned(),
            "./a/b.txt".to_owned(),
            "/workspace/a/b.txt".to_owned(),
            "/path/to/a/b.txt".to_owned(),
            "/agixt/a/b.txt".to_owned(),
            format!("{root}/a/b.txt"),
            format!("WORKSPACE/{folder}/conv-1/a/b.txt"),
            "/WORKSPACE/agent_0123/conv-1/a/b.txt".to_owned(),
            "/agixt/WORKSPACE/agent_0123/conv-1/a/b.txt".to_owned(),
        ] {
            assert_eq!(
                ws.relative(&ws.resolve(&input).unwrap()),
                "a/b.txt",
                "{input}"
            );
        }
        assert_eq!(ws.resolve_dir("/workspace").unwrap(), ws.root());
        assert_eq!(ws.resolve_dir("").unwrap(), ws.root());
        // A directory merely named like a prefix is not one.
        assert_eq!(
            ws.relative(&ws.resolve("workspacex/a").unwrap()),
            "workspacex/a"
        );
    }

    #[test]
    fn escapes_and_odd_names_are_refused() {
        let ws = workspace();
        let long_name = "x".repeat(256);
        let long_path = "d/".repeat(600);
        for input in [
            "",
            "/workspace/",
            ".",
            "../x",
            "a/../../x",
            "a/../b",
            "/etc/passwd",
            "/workspacex/a",
            "WORKSPACE/agent_0123/other-conv/../../x",
            "a\0b",
            "a\nb",
            long_name.as_str(),
            long_path.as_str(),
        ] {
            assert!(
                matches!(ws.resolve(input), Err(CommandError::BadPath(_))),
                "{input:?}"
            );
        }
        assert!(ws.resolve(&"x".repeat(255)).is_ok());
    }
}

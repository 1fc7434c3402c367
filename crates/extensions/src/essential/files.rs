//! The workspace file commands. They are synchronous (std::fs) and run on the blocking pool.
//!
//! A failure the model can act on (a missing file, text not found) is `Failed` with an
//! "Error ...: ..." text, answered 200 as the reference does; a path that leaves the workspace
//! is `BadPath` from `Workspace::resolve`; a bad argument is `BadArgument`.

use std::fs;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

use globset::GlobBuilder;
use serde_json::{Map, Value};

use crate::args::{optional_int, optional_str, required_str};
use crate::registry::CommandError;
use crate::workspace::Workspace;

/// Largest file a command writes: text a model produces, well past any real document.
const MAX_FILE_BYTES: usize = 10 * 1024 * 1024;
/// Lines "Read File" returns per call (reference 4.5).
const MAX_READ_LINES: usize = 500;
/// Results a search returns: enough to act on, small enough for a model's context.
const MAX_RESULTS: usize = 200;

/// Run the file command `function` (a function name of `COMMANDS`).
pub(super) fn run(
    function: &str,
    args: &Map<String, Value>,
    workspace: &Workspace,
    output_url: &str,
) -> Result<String, CommandError> {
    match function {
        "write_to_file" => write_to_file(args, workspace, output_url),
        "read_file" => read_file(args, workspace),
        "modify_file" => modify_file(args, workspace),
        "delete_file" => delete_file(args, workspace),
        "list_directory" => list_directory(args, workspace),
        "search_files" => search_files(args, workspace),
        "search_file_content" => search_file_content(args, workspace),
        "insert_in_file" => insert_in_file(args, workspace),
        other => Err(CommandError::Failed(format!("Command '{other}' not found"))),
    }
}

fn write_to_file(
    args: &Map<String, Value>,
    workspace: &Workspace,
    output_url: &str,
) -> Result<String, CommandError> {
    let filename = required_str(args, "filename")?;
    let text = required_str(args, "text")?;
    check_size("text", text.len())?;
    let path = workspace.resolve(filename)?;
    write_creating_dirs(&path, text).map_err(|error| failed("writing file", &error))?;
    let url = format!("{output_url}{}", url_path(&workspace.relative(&path)));
    Ok(format!(
        "File {filename} written successfully. The user can access it at {url}"
    ))
}

fn read_file(args: &Map<String, Value>, workspace: &Workspace) -> Result<String, CommandError> {
    let filename = required_str(args, "filename")?;
    let start = optional_int(args, "line_start")?.unwrap_or(1);
    let end = optional_int(args, "line_end")?;
    let start = usize::try_from(start)
        .ok()
        .filter(|&start| start >= 1)
        .ok_or_else(|| CommandError::bad_argument("line_start", "must be 1 or more"))?;
    let end = match end {
        None => usize::MAX,
        Some(end) => usize::try_from(end)
            .ok()
            .filter(|&end| end >= start)
            .ok_or_else(|| {
                CommandError::bad_argument("line_end", "must not be before line_start")
            })?,
    };
    let path = workspace.resolve(filename)?;
    existing_file(&path, "reading file")?;
    let last = end.min(start.saturating_add(MAX_READ_LINES - 1));
    let file = fs::File::open(&path).map_err(|error| failed("reading file", &error))?;
    let (lines, more) =
        lines_between(file, start, last).map_err(|error| failed("reading file", &error))?;
    if lines.is_empty() && start > 1 {
        return Ok(format!("File {filename} has fewer than {start} lines."));
    }
    let mut out = lines.join("\n");
    if more && last < end {
        let next = last + 1;
        out.push_str(&format!(
            "\n\n[Lines {start}-{last} shown; the file continues. Read again with line_start={next} for more.]"
        ));
    }
    Ok(out)
}

/// Lines `start..=last` (1-based) of `file`, and whether a line follows `last`.
fn lines_between(file: fs::File, start: usize, last: usize) -> io::Result<(Vec<String>, bool)> {
    let mut lines = Vec::new();
    for (index, line) in BufReader::new(file).split(b'\n').enumerate() {
        let number = index + 1;
        if number > last {
            return Ok((lines, true));
        }
        let line = line?;
        if number >= start {
            let text = String::from_utf8_lossy(&line);
            lines.push(text.strip_suffix('\r').unwrap_or(&text).to_owned());
        }
    }
    Ok((lines, false))
}

fn modify_file(args: &Map<String, Value>, workspace: &Workspace) -> Result<String, CommandError> {
    let filename = required_str(args, "filename")?;
    let old_text = required_str(args, "old_text")?;
    let new_text = required_str(args, "new_text")?;
    if old_text.is_empty() {
        return Err(CommandError::bad_argument("old_text", "must not be empty"));
    }
    let path = workspace.resolve(filename)?;
    let content = read_text(&path, "modifying file")?;
    let count = content.matches(old_text).count();
    if count == 0 {
        return Err(CommandError::Failed(format!(
            "Error modifying file: the text to replace was not found in {filename}"
        )));
    }
    let modified = content.replace(old_text, new_text);
    check_size("new_text", modified.len())?;
    fs::write(&path, modified).map_err(|error| failed("modifying file", &error))?;
    let plural = if count == 1 { "" } else { "s" };
    Ok(format!(
        "Replaced {count} occurrence{plural} in {filename}."
    ))
}

fn delete_file(args: &Map<String, Value>, workspace: &Workspace) -> Result<String, CommandError> {
    let filename = required_str(args, "filename")?;
    let path = workspace.resolve(filename)?;
    existing_file(&path, "deleting file")?;
    fs::remove_file(&path).map_err(|error| failed("deleting file", &error))?;
    Ok(format!("File {filename} deleted."))
}

fn list_directory(
    args: &Map<String, Value>,
    workspace: &Workspace,
) -> Result<String, CommandError> {
    let requested = optional_str(args, "path")?.unwrap_or("");
    let dir = workspace.resolve_dir(requested)?;
    match fs::metadata(&dir) {
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(String::new()),
        Err(error) => return Err(failed("listing directory", &error)),
        Ok(meta) if !meta.is_dir() => {
            return Err(CommandError::Failed(format!(
                "Error listing directory: {requested} is not a directory"
            )));
        }
        Ok(_) => {}
    }
    let mut entries = Vec::new();
    for entry in fs::read_dir(&dir).map_err(|error| failed("listing directory", &error))? {
        let entry = entry.map_err(|error| failed("listing directory", &error))?;
        let mut name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
            name.push('/');
        }
        entries.push(name);
    }
    entries.sort();
    Ok(entries.join("\n"))
}

fn search_files(args: &Map<String, Value>, workspace: &Workspace) -> Result<String, CommandError> {
    let query = required_str(args, "query")?.trim();
    if query.is_empty() {
        return Err(CommandError::bad_argument("query", "must not be empty"));
    }
    let files = workspace_files(workspace);
    let matched: Vec<String> = if query.contains(['*', '?', '[']) {
        let glob = GlobBuilder::new(query)
            .case_insensitive(true)
            .build()
            .map_err(|error| CommandError::bad_argument("query", format!("invalid glob: {error}")))?
            .compile_matcher();
        files
            .into_iter()
            .filter(|(_, relative)| glob.is_match(relative))
            .map(|(_, relative)| relative)
            .collect()
    } else {
        let needle = query.to_lowercase();
        files
            .into_iter()
            .filter(|(_, relative)| relative.to_lowercase().contains(&needle))
            .map(|(_, relative)| relative)
            .collect()
    };
    if matched.is_empty() {
        return Ok(format!("No files match {query}."));
    }
    Ok(capped(matched))
}

fn search_file_content(
    args: &Map<String, Value>,
    workspace: &Workspace,
) -> Result<String, CommandError> {
    let query = required_str(args, "query")?;
    if query.trim().is_empty() {
        return Err(CommandError::bad_argument("query", "must not be empty"));
    }
    let filename = optional_str(args, "filename")?.unwrap_or("");
    let files = if filename.is_empty() {
        workspace_files(workspace)
    } else {
        let path = workspace.resolve(filename)?;
        existing_file(&path, "searching file")?;
        let relative = workspace.relative(&path);
        vec![(path, relative)]
    };
    let needle = query.to_lowercase();
    let mut hits = Vec::new();
    for (path, relative) in files {
        // Unreadable, binary and oversized files are skipped (no command writes over 10 MiB).
        let small = fs::metadata(&path).is_ok_and(|meta| meta.len() <= MAX_FILE_BYTES as u64);
        if !small {
            continue;
        }
        let Ok(bytes) = fs::read(&path) else { continue };
        if bytes.contains(&0) {
            continue;
        }
        let text = String::from_utf8_lossy(&bytes);
        for (index, line) in text.lines().enumerate() {
            if line.to_lowercase().contains(&needle) {
                hits.push(format!("{relative}:{}: {line}", index + 1));
            }
        }
    }
    if hits.is_empty() {
        return Ok(format!("No matches for {query}."));
    }
    Ok(capped(hits))
}

fn insert_in_file(
    args: &Map<String, Value>,
    workspace: &Workspace,
) -> Result<String, CommandError> {
    let file_path = required_str(args, "file_path")?;
    let line_number = optional_int(args, "line_number")?
        .ok_or_else(|| CommandError::bad_argument("line_number", "is required"))?;
    let content = required_str(args, "content")?;
    let index = usize::try_from(line_number)
        .ok()
        .and_then(|number| number.checked_sub(1))
        .ok_or_else(|| CommandError::bad_argument("line_number", "must be 1 or more"))?;
    let path = workspace.resolve(file_path)?;
    let original = read_text(&path, "inserting into file")?;
    let (updated, line) = insert_at(&original, index, content);
    check_size("content", updated.len())?;
    fs::write(&path, updated).map_err(|error| failed("inserting into file", &error))?;
    Ok(format!("Inserted content at line {line} of {file_path}."))
}

/// `content` inserted so that it starts at 0-based line `index` (appended past the end), and
/// the 1-based line where it landed.
fn insert_at(original: &str, index: usize, content: &str) -> (String, usize) {
    let lines: Vec<&str> = original.split_inclusive('\n').collect();
    let index = index.min(lines.len());
    let mut updated = lines[..index].concat();
    if !updated.is_empty() && !updated.ends_with('\n') {
        updated.push('\n');
    }
    updated.push_str(content);
    if !content.ends_with('\n') {
        updated.push('\n');
    }
    updated.push_str(&lines[index..].concat());
    (updated, index + 1)
}

/// Every regular file of the workspace as (path, relative path), sorted by relative path.
/// Symlinks are neither followed nor listed.
fn workspace_files(workspace: &Workspace) -> Vec<(PathBuf, String)> {
    let mut files: Vec<(PathBuf, String)> = walkdir::WalkDir::new(workspace.root())
        .follow_links(false)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_file())
        .map(|entry| {
            let relative = workspace.relative(entry.path());
            (entry.into_path(), relative)
        })
        .collect();
    files.sort_by(|a, b| a.1.cmp(&b.1));
    files
}

/// At most `MAX_RESULTS` lines, with a note of how many were left out.
fn capped(mut results: Vec<String>) -> String {
    let total = results.len();
    results.truncate(MAX_RESULTS);
    let mut out = results.join("\n");
    if total > MAX_RESULTS {
        out.push_str(&format!(
            "\n[{total} results; the first {MAX_RESULTS} are shown.]"
        ));
    }
    out
}

fn write_creating_dirs(path: &Path, text: &str) -> io::Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::write(path, text)
}

/// The whole file as UTF-8 text, for commands that rewrite it.
fn read_text(path: &Path, action: &str) -> Result<String, CommandError> {
    existing_file(path, action)?;
    let bytes = fs::read(path).map_err(|error| failed(action, &error))?;
    String::from_utf8(bytes)
        .map_err(|_| CommandError::Failed(format!("Error {action}: the file is not UTF-8 text")))
}

/// `Ok` when `path` is an existing file; the reference's texts otherwise.
fn existing_file(path: &Path, action: &str) -> Result<(), CommandError> {
    let meta = fs::metadata(path).map_err(|error| failed(action, &error))?;
    if meta.is_dir() {
        return Err(CommandError::Failed(format!(
            "Error {action}: it is a directory"
        )));
    }
    Ok(())
}

/// An I/O failure as the command's error text. io::Error's text carries no path, so nothing
/// about the server's layout leaks.
fn failed(action: &str, error: &io::Error) -> CommandError {
    if error.kind() == io::ErrorKind::NotFound {
        CommandError::Failed(format!("Error {action}: file not found"))
    } else {
        CommandError::Failed(format!("Error {action}: {error}"))
    }
}

fn check_size(argument: &str, bytes: usize) -> Result<(), CommandError> {
    if bytes > MAX_FILE_BYTES {
        return Err(CommandError::bad_argument(
            argument,
            "the file would be larger than 10 MiB",
        ));
    }
    Ok(())
}

/// A workspace-relative path as a URL path: each byte outside RFC 3986's unreserved set
/// (other than `/`) percent-encoded, so spaces, `?` and `#` in names keep the link intact.
fn url_path(relative: &str) -> String {
    let mut out = String::with_capacity(relative.len());
    for byte in relative.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insertion_lands_on_the_line() {
        assert_eq!(insert_at("a\nb\n", 0, "x"), ("x\na\nb\n".to_owned(), 1));
        assert_eq!(insert_at("a\nb\n", 1, "x\n"), ("a\nx\nb\n".to_owned(), 2));
        assert_eq!(insert_at("a\nb", 9, "x"), ("a\nb\nx\n".to_owned(), 3));
        assert_eq!(insert_at("", 4, "x"), ("x\n".to_owned(), 1));
    }

    #[test]
    fn url_paths_are_encoded() {
        assert_eq!(url_path("dir/a-b_c.txt"), "dir/a-b_c.txt");
        assert_eq!(url_path("my file?#.txt"), "my%20file%3F%23.txt");
        assert_eq!(url_path("é"), "%C3%A9");
    }
}

//! File globs as Filebeat (Go's `filepath.Glob`) reads them: `*` (any run of characters within one
//! path component), `?` (one character), `[abc]`, `[a-z]`, `[!x]`/`[^x]`; in any component, not just
//! the last. Matching is pure; `expand` walks the directories.

use std::path::{Component, Path, PathBuf};

/// Whether a component has glob metacharacters.
pub fn is_pattern(component: &str) -> bool {
    component.contains(['*', '?', '['])
}

/// Matches one path component against one pattern component.
pub fn matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    match_from(&p, &n)
}

fn match_from(p: &[char], n: &[char]) -> bool {
    let (mut pi, mut ni) = (0, 0);
    // Where to resume after the last `*`: (pattern index after it, name index it swallowed to).
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if p.get(pi) == Some(&'*') {
            star = Some((pi + 1, ni));
            pi += 1;
            continue;
        }
        let advance = match p.get(pi) {
            Some('?') => Some(1),
            Some('[') => class(&p[pi..], n[ni]),
            Some(c) if *c == n[ni] => Some(1),
            _ => None,
        };
        match (advance, star) {
            (Some(len), _) => {
                pi += len;
                ni += 1;
            }
            (None, Some((sp, sn))) => {
                pi = sp;
                ni = sn + 1;
                star = Some((sp, sn + 1));
            }
            (None, None) => return false,
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Matches `c` against the class starting at `p[0] == '['`: `Some(pattern length)` when it matches,
/// `None` when it does not (or the class is unclosed: then `[` never matches, as Go reports an error).
fn class(p: &[char], c: char) -> Option<usize> {
    let mut i = 1;
    let negated = matches!(p.get(i), Some('!' | '^'));
    if negated {
        i += 1;
    }
    let mut found = false;
    let mut first = true;
    loop {
        let lo = *p.get(i)?;
        if lo == ']' && !first {
            break;
        }
        first = false;
        if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|hi| *hi != ']') {
            let hi = p[i + 2];
            found |= lo <= c && c <= hi;
            i += 3;
        } else {
            found |= lo == c;
            i += 1;
        }
    }
    (found != negated).then_some(i + 1)
}

/// The regular files a glob names now, sorted. Unreadable directories are skipped.
pub fn expand(pattern: &str) -> Vec<PathBuf> {
    let path = Path::new(pattern);
    let mut current = vec![PathBuf::new()];
    for component in path.components() {
        let mut next = Vec::new();
        match component {
            Component::Normal(part) => {
                let part = part.to_string_lossy();
                if is_pattern(&part) {
                    for dir in &current {
                        let listed = if dir.as_os_str().is_empty() { Path::new(".") } else { dir.as_path() };
                        let Ok(entries) = std::fs::read_dir(listed) else { continue };
                        for entry in entries.flatten() {
                            if matches(&part, &entry.file_name().to_string_lossy()) {
                                next.push(dir.join(entry.file_name()));
                            }
                        }
                    }
                } else {
                    next = current.iter().map(|d| d.join(part.as_ref())).collect();
                }
            }
            other => next = current.iter().map(|d| d.join(other.as_os_str())).collect(),
        }
        current = next;
    }
    let mut files: Vec<PathBuf> = current.into_iter().filter(|p| p.is_file()).collect();
    files.sort();
    files.dedup();
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_and_classes() {
        assert!(matches("access*.log", "access.log"));
        assert!(matches("access*.log", "access-2024.log"));
        assert!(!matches("access*.log", "access.log.1"));
        assert!(matches("*", ""));
        assert!(matches("a?c", "abc") && !matches("a?c", "ac"));
        assert!(matches("*a*b", "xxaxxb") && !matches("*a*b", "xxbxxa"));
        assert!(matches("log[0-9]", "log5") && !matches("log[0-9]", "logx"));
        assert!(matches("log[!0-9]", "logx") && !matches("log[^0-9]", "log5"));
        assert!(matches("[]]", "]"));
        assert!(!matches("log[0-9", "log5"), "an unclosed class matches nothing");
        assert!(matches("été*", "été.log"));
    }

    #[test]
    fn expand_walks_patterned_directories_and_keeps_files_only() {
        let dir = tempfile::tempdir().unwrap();
        for p in ["a/x.log", "b/y.log", "b/z.txt", "c.log"] {
            let p = dir.path().join(p);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, b"").unwrap();
        }
        std::fs::create_dir(dir.path().join("d.log")).unwrap();
        let base = dir.path().display();
        let got = expand(&format!("{base}/*/*.log"));
        assert_eq!(got, vec![dir.path().join("a/x.log"), dir.path().join("b/y.log")]);
        assert_eq!(expand(&format!("{base}/*.log")), vec![dir.path().join("c.log")]);
        assert_eq!(expand(&format!("{base}/c.log")), vec![dir.path().join("c.log")]);
        assert!(expand(&format!("{base}/nope/*.log")).is_empty());
    }
}

//! broker.rack from the pod's annotations on Kubernetes. Node labels (a zone, a rack) are not
//! visible to a pod, so the operator copies the label of each broker's node into the pod's
//! `strom.io/rack` annotation, and the pod sees its annotations through a downward-API volume
//! file (`key="value"` lines, values quoted as Go's %q does). The broker waits for it at start:
//! the annotation may land just after the pod was scheduled.

use std::path::Path;
use std::time::{Duration, Instant};

pub const ANNOTATION: &str = "strom.io/rack";

/// The value of `key` in a downward-API annotations file.
pub fn annotation(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        (k == key).then(|| unquote(v)).flatten()
    })
}

/// Go's %q quoting undone (the escapes a label value can hold; labels are `[A-Za-z0-9._-]`).
fn unquote(v: &str) -> Option<String> {
    let inner = v.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                other => out.push(other),
            }
        } else {
            out.push(c);
        }
    }
    Some(out)
}

/// Reads the rack from `file`, waiting up to `wait` for the annotation to appear.
pub fn wait_for(file: &Path, wait: Duration) -> Result<String, String> {
    let deadline = Instant::now() + wait;
    loop {
        if let Ok(text) = std::fs::read_to_string(file) {
            if let Some(r) = annotation(&text, ANNOTATION).filter(|r| !r.is_empty()) {
                return Ok(r);
            }
        }
        if Instant::now() >= deadline {
            return Err(format!("no {ANNOTATION} annotation in {} after {}s: the operator sets it from the label of the pod's node (is the label on the node?)", file.display(), wait.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_downward_api_annotations_file() {
        let text = "kubernetes.io/config.seen=\"2026-11-27T10:00:00.0Z\"\nstrom.io/config-hash=\"ab12\"\nstrom.io/rack=\"eu-west-1a\"\n";
        assert_eq!(annotation(text, ANNOTATION).as_deref(), Some("eu-west-1a"));
        assert_eq!(annotation("a=\"x \\\"y\\\"\"", "a").as_deref(), Some("x \"y\""));
        assert_eq!(annotation(text, "missing"), None);
        assert_eq!(annotation("strom.io/rack=unquoted", ANNOTATION), None);
    }

    #[test]
    fn waits_for_the_annotation_then_gives_up_with_a_reason() {
        let dir = std::env::temp_dir().join(format!("strom-rack-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("annotations");
        std::fs::write(&f, "other=\"1\"\n").unwrap();
        let err = wait_for(&f, Duration::from_millis(600)).unwrap_err();
        assert!(err.contains("strom.io/rack") && err.contains("node"), "{err}");
        let f2 = f.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            std::fs::write(&f2, "other=\"1\"\nstrom.io/rack=\"zone-b\"\n").unwrap();
        });
        assert_eq!(wait_for(&f, Duration::from_secs(10)).unwrap(), "zone-b");
        t.join().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}

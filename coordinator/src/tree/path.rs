//! Path rules of `PathUtils.validatePath`.

/// Checks a znode path; `sequential` allows the trailing `/` that a sequence number will follow.
pub fn validate(path: &str, sequential: bool) -> Result<(), String> {
    let owned;
    let path = if sequential {
        owned = format!("{path}1");
        owned.as_str()
    } else {
        path
    };
    if path.is_empty() {
        return Err("path must not be empty".into());
    }
    if !path.starts_with('/') {
        return Err(format!("path {path:?} must start with /"));
    }
    if path.len() == 1 {
        return Ok(());
    }
    if path.ends_with('/') {
        return Err(format!("path {path:?} must not end with /"));
    }
    for (i, comp) in path[1..].split('/').enumerate() {
        if comp.is_empty() {
            return Err(format!("empty node name in {path:?} (component {})", i + 1));
        }
        if comp == "." || comp == ".." {
            return Err(format!("relative path component {comp:?} in {path:?}"));
        }
    }
    for c in path.chars() {
        let bad = c == '\0'
            || ('\u{1}'..='\u{1f}').contains(&c)
            || ('\u{7f}'..='\u{9f}').contains(&c)
            || ('\u{e000}'..='\u{f8ff}').contains(&c)
            || ('\u{fff0}'..='\u{ffff}').contains(&c);
        if bad {
            return Err(format!("invalid character {:?} in path", c));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::validate;

    #[test]
    fn paths() {
        assert!(validate("/", false).is_ok());
        assert!(validate("/a/b", false).is_ok());
        assert!(validate("/a/", true).is_ok());
        assert!(validate("/a/", false).is_err());
        assert!(validate("a", false).is_err());
        assert!(validate("//a", false).is_err());
        assert!(validate("/a/./b", false).is_err());
        assert!(validate("/a/..", false).is_err());
        assert!(validate("/a\0", false).is_err());
        assert!(validate("", false).is_err());
    }
}

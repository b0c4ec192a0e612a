//! Names that become file or folder names (data sets, evaluation runs, sessions,
//! annotation sets, annotators): they may not climb out of their folder, name an
//! absolute path or hide. Letters, digits, `-`, `_` and `.` only, not starting with
//! `.`, at most 100 characters.

/// Why `name` cannot be used as a file name, or `None` when it can.
pub fn invalid_reason(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("is empty")
    } else if name.len() > 100 {
        Some("is longer than 100 characters")
    } else if name.starts_with('.') {
        Some("may not start with '.'")
    } else if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        Some("may hold only letters, digits, '-', '_' and '.'")
    } else {
        None
    }
}

/// `Err` with a message naming what the name is for, the name and the rule it breaks.
pub fn check(what: &str, name: &str) -> Result<(), String> {
    match invalid_reason(name) {
        Some(why) => Err(format!("{what} `{name}` {why}")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_leave_their_folder_are_refused() {
        for bad in [
            "", "..", "../x", "a/b", "/etc", ".hidden", "a\0b", "x\\y", "é",
        ] {
            assert!(invalid_reason(bad).is_some(), "{bad:?}");
        }
        for good in ["ml-100k", "r2ec_cpu.v2", "a", "Z9"] {
            assert_eq!(invalid_reason(good), None, "{good}");
        }
        assert_eq!(
            invalid_reason(&"a".repeat(101)),
            Some("is longer than 100 characters")
        );
        assert!(check("set", "../up").unwrap_err().contains("set `../up`"));
    }
}

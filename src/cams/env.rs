//! Settings read by name: from the process environment in production, from a stand-in in
//! tests, so that nothing below the command line depends on hidden global state.

use std::path::PathBuf;

/// The process environment's value of `name`; `None` when unset or not Unicode.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The home directory (`HOME`), under which the default credentials file lives.
pub fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME").map(PathBuf::from)
}

/// A looked-up value as used: trimmed; `None` when unset, empty or only whitespace.
pub fn non_blank(value: Option<String>) -> Option<String> {
    value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// A stand-in environment holding exactly `pairs`, for tests.
#[cfg(test)]
pub(crate) fn fake_env(
    pairs: &[(&str, &str)],
) -> impl Fn(&str) -> Option<String> + Clone + Send + Sync + 'static {
    let map: std::collections::HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| map.get(k).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_values_count_as_unset() {
        assert_eq!(non_blank(None), None);
        assert_eq!(non_blank(Some(" \n".into())), None);
        assert_eq!(non_blank(Some(" v ".into())).as_deref(), Some("v"));
        let env = fake_env(&[("A", "1")]);
        assert_eq!(env("A").as_deref(), Some("1"));
        assert_eq!(env("B"), None);
    }
}

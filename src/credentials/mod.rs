//! Where a ChatGroup's credentials come from: its own Secret, or the operator's credentials
//! (discovered once at startup: RRSA, environment or credentials file) for namespaces the
//! operator lends them to.

mod from_secret;
mod operator;
pub mod rrsa;

pub use from_secret::{
    credentials_from_secret, SECRET_KEY_ACCESS_KEY_ID, SECRET_KEY_ACCESS_KEY_SECRET,
    SECRET_KEY_SECURITY_TOKEN,
};
pub use operator::{
    discover_operator_credentials, OperatorCredentials, OperatorCredentialsError,
    ENV_ACCESS_KEY_ID, ENV_ACCESS_KEY_SECRET, ENV_CREDENTIALS_FILE, ENV_PROFILE,
    ENV_SECURITY_TOKEN,
};

/// Why no usable credentials were found. Every variant maps to the CredentialsInvalid
/// outcome; none carries a secret value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    /// The referenced Secret does not exist.
    #[error("Secret {namespace}/{name} (spec.credentialsSecretRef) not found")]
    SecretNotFound {
        /// The Secret's namespace (the ChatGroup's own).
        namespace: String,
        /// The Secret's name.
        name: String,
    },
    /// A required key is absent.
    #[error("Secret {namespace}/{name} has no key {key:?}")]
    KeyMissing {
        /// The Secret's namespace (the ChatGroup's own).
        namespace: String,
        /// The Secret's name.
        name: String,
        /// The missing key.
        key: &'static str,
    },
    /// A key is present but empty (or only whitespace).
    #[error("Secret {namespace}/{name} key {key:?} is empty")]
    KeyEmpty {
        /// The Secret's namespace (the ChatGroup's own).
        namespace: String,
        /// The Secret's name.
        name: String,
        /// The empty key.
        key: &'static str,
    },
    /// A key is not UTF-8.
    #[error("Secret {namespace}/{name} key {key:?} is not UTF-8 text")]
    KeyNotText {
        /// The Secret's namespace (the ChatGroup's own).
        namespace: String,
        /// The Secret's name.
        name: String,
        /// The key whose value is not text.
        key: &'static str,
    },
    /// No `credentialsSecretRef`, and this namespace may not use the operator's credentials.
    #[error("no spec.credentialsSecretRef, and namespace {namespace} is not allowed to use the operator's own credentials (operator setting --lend-credentials-to)")]
    NotLent {
        /// The ChatGroup's namespace.
        namespace: String,
    },
    /// The operator's RRSA role could not be assumed.
    #[error("the operator's RRSA credentials are unavailable: {message}")]
    Rrsa {
        /// What failed (scrubbed).
        message: String,
        /// Whether it may pass by itself (STS unreachable, throttled, 5xx).
        transient: bool,
    },
    /// No `credentialsSecretRef`, the namespace is lent them, but the operator has none.
    #[error("no spec.credentialsSecretRef, and the operator has no credentials of its own (environment or credentials file)")]
    NoOperatorCredentials,
}

/// Which namespaces may use the operator's own credentials.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum LendPolicy {
    /// None (the default).
    #[default]
    Nobody,
    /// Every namespace (`*`).
    Everyone,
    /// Only these namespaces.
    Namespaces(Vec<String>),
}

impl LendPolicy {
    /// From the setting's list: empty means nobody, `*` everyone.
    pub fn from_list(list: &[String]) -> Self {
        let names: Vec<String> = list
            .iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        if names.iter().any(|n| n == "*") {
            Self::Everyone
        } else if names.is_empty() {
            Self::Nobody
        } else {
            Self::Namespaces(names)
        }
    }

    /// Whether `namespace` may use the operator's credentials.
    pub fn allows(&self, namespace: &str) -> bool {
        match self {
            Self::Nobody => false,
            Self::Everyone => true,
            Self::Namespaces(list) => list.iter().any(|n| n == namespace),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lend_policy() {
        assert!(!LendPolicy::from_list(&[]).allows("a"));
        assert!(!LendPolicy::from_list(&[" ".into()]).allows("a"));
        assert!(LendPolicy::from_list(&["*".into()]).allows("anything"));
        let p = LendPolicy::from_list(&["team-a".into(), "team-b".into()]);
        assert!(p.allows("team-b"));
        assert!(!p.allows("team-c"));
    }
}

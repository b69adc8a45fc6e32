//! The credentials one CAMS call is signed with.

use super::redact::SecretString;

/// An AccessKey pair, with a security token when it is an STS credential.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// The AccessKeyId (not secret: it names the key).
    pub access_key_id: String,
    /// The AccessKeySecret.
    pub access_key_secret: SecretString,
    /// The STS security token, if any.
    pub security_token: Option<SecretString>,
}

impl Credentials {
    /// A static AccessKey pair.
    pub fn new(access_key_id: impl Into<String>, access_key_secret: impl Into<String>) -> Self {
        Self {
            access_key_id: access_key_id.into(),
            access_key_secret: SecretString::new(access_key_secret.into()),
            security_token: None,
        }
    }

    /// The same pair with an STS security token.
    pub fn with_security_token(mut self, token: impl Into<String>) -> Self {
        self.security_token = Some(SecretString::new(token.into()));
        self
    }

    /// The secret values of these credentials, for a [`super::redact::Scrubber`].
    pub fn secrets(&self) -> impl Iterator<Item = &SecretString> {
        std::iter::once(&self.access_key_secret).chain(self.security_token.iter())
    }
}

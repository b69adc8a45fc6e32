//! The operator's own credentials: environment variables, then the Alibaba credentials file,
//! as the official SDKs find them.

use std::path::{Path, PathBuf};

use crate::cams::Credentials;

/// Environment variable: AccessKeyId.
pub const ENV_ACCESS_KEY_ID: &str = "ALIBABA_CLOUD_ACCESS_KEY_ID";
/// Environment variable: AccessKeySecret.
pub const ENV_ACCESS_KEY_SECRET: &str = "ALIBABA_CLOUD_ACCESS_KEY_SECRET";
/// Environment variable: STS security token.
pub const ENV_SECURITY_TOKEN: &str = "ALIBABA_CLOUD_SECURITY_TOKEN";
/// Environment variable: credentials file path.
pub const ENV_CREDENTIALS_FILE: &str = "ALIBABA_CLOUD_CREDENTIALS_FILE";
/// Environment variable: credentials file profile.
pub const ENV_PROFILE: &str = "ALIBABA_CLOUD_PROFILE";

/// Why the operator's credentials could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum OperatorCredentialsError {
    /// Only one of the AccessKey variables is set.
    #[error("{ENV_ACCESS_KEY_ID} and {ENV_ACCESS_KEY_SECRET} must be set together")]
    HalfSetEnvironment,
    /// The credentials file exists but cannot be parsed.
    #[error("credentials file {path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// What is wrong (never a value from the file).
        reason: String,
    },
}

/// The operator's own credentials, if it has any: a static pair, or an RRSA role whose STS
/// credentials are fetched and refreshed on demand.
#[derive(Clone, Debug, Default)]
pub struct OperatorCredentials {
    credentials: Option<Credentials>,
    source: Option<String>,
    rrsa: Option<std::sync::Arc<super::rrsa::RrsaProvider>>,
}

impl OperatorCredentials {
    /// No credentials.
    pub fn none() -> Self {
        Self::default()
    }

    /// Fixed credentials (tests, and the `call` command).
    pub fn fixed(credentials: Credentials, source: &str) -> Self {
        Self {
            credentials: Some(credentials),
            source: Some(source.into()),
            rrsa: None,
        }
    }

    /// Credentials from an RRSA role.
    pub fn rrsa(provider: super::rrsa::RrsaProvider) -> Self {
        Self {
            credentials: None,
            source: Some(provider.source()),
            rrsa: Some(std::sync::Arc::new(provider)),
        }
    }

    /// The credentials to sign with now: the static pair, or the RRSA role's current STS
    /// credentials (refreshed before they expire). `Ok(None)`: the operator has none.
    pub async fn current(&self) -> Result<Option<Credentials>, super::rrsa::RrsaError> {
        match &self.rrsa {
            Some(provider) => provider.credentials().await.map(Some),
            None => Ok(self.credentials.clone()),
        }
    }

    /// Loads from `lookup` (the environment in production): the AccessKey variables, then the
    /// credentials file (`access_key` profiles). A missing default file is not an error.
    pub fn load(
        lookup: impl Fn(&str) -> Option<String>,
        home: Option<&Path>,
    ) -> Result<Self, OperatorCredentialsError> {
        let get = |k: &str| {
            lookup(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        match (get(ENV_ACCESS_KEY_ID), get(ENV_ACCESS_KEY_SECRET)) {
            (Some(id), Some(secret)) => {
                let mut c = Credentials::new(id, secret);
                if let Some(token) = get(ENV_SECURITY_TOKEN) {
                    c = c.with_security_token(token);
                }
                return Ok(Self::fixed(c, "environment"));
            }
            (Some(_), None) | (None, Some(_)) => {
                return Err(OperatorCredentialsError::HalfSetEnvironment)
            }
            (None, None) => {}
        }
        let explicit = get(ENV_CREDENTIALS_FILE).map(PathBuf::from);
        let path = match (&explicit, home) {
            (Some(p), _) => p.clone(),
            (None, Some(home)) => home.join(".alibabacloud").join("credentials.ini"),
            (None, None) => return Ok(Self::none()),
        };
        if !path.exists() {
            if explicit.is_some() {
                return Err(OperatorCredentialsError::File {
                    path: path.display().to_string(),
                    reason: "does not exist".into(),
                });
            }
            return Ok(Self::none());
        }
        let profile = get(ENV_PROFILE).unwrap_or_else(|| "default".into());
        load_file(&path, &profile)
            .map(|c| Self::fixed(c, &format!("credentials file profile {profile}")))
    }

    /// The static credentials, if any (RRSA credentials come from [`Self::current`]).
    pub fn get(&self) -> Option<&Credentials> {
        self.credentials.as_ref()
    }

    /// Where they came from (for logs; never a value).
    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }
}

fn load_file(path: &Path, profile: &str) -> Result<Credentials, OperatorCredentialsError> {
    let fail = |reason: String| OperatorCredentialsError::File {
        path: path.display().to_string(),
        reason,
    };
    // The parser's error text can quote the offending line, which may hold a secret: keep
    // only its position.
    let ini = ini::Ini::load_from_file(path).map_err(|e| match e {
        ini::Error::Io(io) => fail(format!("cannot read: {}", io.kind())),
        ini::Error::Parse(p) => fail(format!("not valid INI at line {}", p.line)),
    })?;
    let section = ini
        .section(Some(profile))
        .ok_or_else(|| fail(format!("no profile [{profile}]")))?;
    let kind = section.get("type").unwrap_or("access_key");
    if kind != "access_key" {
        return Err(fail(format!(
            "profile [{profile}] has type {kind:?}; only access_key profiles are supported here"
        )));
    }
    let id = section
        .get("access_key_id")
        .map(str::trim)
        .filter(|v| !v.is_empty());
    let secret = section
        .get("access_key_secret")
        .map(str::trim)
        .filter(|v| !v.is_empty());
    match (id, secret) {
        (Some(id), Some(secret)) => {
            let mut c = Credentials::new(id, secret);
            if let Some(token) = section
                .get("security_token")
                .map(str::trim)
                .filter(|v| !v.is_empty())
            {
                c = c.with_security_token(token);
            }
            Ok(c)
        }
        _ => Err(fail(format!(
            "profile [{profile}] needs access_key_id and access_key_secret"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn environment_pair_with_token() {
        let c = OperatorCredentials::load(
            env(&[
                (ENV_ACCESS_KEY_ID, "id"),
                (ENV_ACCESS_KEY_SECRET, "sk"),
                (ENV_SECURITY_TOKEN, "tok"),
            ]),
            None,
        )
        .unwrap();
        assert_eq!(c.get().unwrap().access_key_id, "id");
        assert_eq!(c.source(), Some("environment"));
        assert!(matches!(
            OperatorCredentials::load(env(&[(ENV_ACCESS_KEY_ID, "id")]), None),
            Err(OperatorCredentialsError::HalfSetEnvironment)
        ));
    }

    #[test]
    fn credentials_file_profiles() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("credentials.ini");
        std::fs::write(
            &file,
            "[default]\ntype = access_key\naccess_key_id = fid\naccess_key_secret = fsecret\n\n[other]\ntype = ecs_ram_role\n",
        )
        .unwrap();
        let path = file.display().to_string();
        let c = OperatorCredentials::load(env(&[(ENV_CREDENTIALS_FILE, &path)]), None).unwrap();
        assert_eq!(c.get().unwrap().access_key_id, "fid");
        let err = OperatorCredentials::load(
            env(&[(ENV_CREDENTIALS_FILE, &path), (ENV_PROFILE, "other")]),
            None,
        )
        .unwrap_err();
        assert!(err.to_string().contains("only access_key"));
        let err = OperatorCredentials::load(
            env(&[(ENV_CREDENTIALS_FILE, &path), (ENV_PROFILE, "nope")]),
            None,
        )
        .unwrap_err();
        assert!(err.to_string().contains("no profile [nope]"));
    }

    #[test]
    fn default_file_under_home_and_absence() {
        let home = tempfile::tempdir().unwrap();
        assert!(OperatorCredentials::load(env(&[]), Some(home.path()))
            .unwrap()
            .get()
            .is_none());
        std::fs::create_dir_all(home.path().join(".alibabacloud")).unwrap();
        std::fs::write(
            home.path().join(".alibabacloud/credentials.ini"),
            "[default]\naccess_key_id = hid\naccess_key_secret = hs\n",
        )
        .unwrap();
        let c = OperatorCredentials::load(env(&[]), Some(home.path())).unwrap();
        assert_eq!(c.get().unwrap().access_key_id, "hid");
    }

    #[test]
    fn parse_errors_do_not_quote_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.ini");
        std::fs::write(&file, "[default\naccess_key_secret = SUPERSECRETVALUE\n").unwrap();
        let err = OperatorCredentials::load(
            env(&[(ENV_CREDENTIALS_FILE, &file.display().to_string())]),
            None,
        )
        .unwrap_err();
        assert!(!err.to_string().contains("SUPERSECRETVALUE"), "{err}");
    }
}

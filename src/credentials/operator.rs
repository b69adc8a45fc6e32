//! The operator's own credentials, found in one place as the official SDKs find them: an
//! RRSA role, the AccessKey environment variables, or the Alibaba credentials file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::rrsa::{RrsaError, RrsaOptions, RrsaProvider};
use crate::cams::env::non_blank;
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
    /// The RRSA environment is incomplete or unusable.
    #[error(transparent)]
    Rrsa(#[from] RrsaError),
    /// The credentials file exists but cannot be parsed.
    #[error("credentials file {path}: {reason}")]
    File {
        /// The credentials file's path.
        path: String,
        /// What is wrong (never a value from the file).
        reason: String,
    },
}

/// The operator's own credentials, as [`discover_operator_credentials`] found them.
#[derive(Clone, Debug, Default)]
pub enum OperatorCredentials {
    /// The operator has none: only ChatGroups with a `credentialsSecretRef` can be served.
    #[default]
    None,
    /// A static AccessKey pair (with an STS token when one was given).
    AccessKey {
        /// The AccessKey pair, and its security token if one was given.
        credentials: Credentials,
        /// Where it came from, for logs (`environment`; never a value).
        source: String,
    },
    /// An RRSA role: STS credentials fetched on demand and refreshed before they expire.
    Rrsa(Arc<RrsaProvider>),
    /// A profile of the Alibaba credentials file.
    File {
        /// The pair the profile holds.
        credentials: Credentials,
        /// The profile's name.
        profile: String,
    },
}

impl OperatorCredentials {
    /// No credentials.
    pub fn none() -> Self {
        Self::None
    }

    /// A fixed AccessKey pair from `source` (tests, and callers that have a pair at hand).
    pub fn fixed(credentials: Credentials, source: &str) -> Self {
        Self::AccessKey {
            credentials,
            source: source.into(),
        }
    }

    /// Credentials from an RRSA role.
    pub fn rrsa(provider: RrsaProvider) -> Self {
        Self::Rrsa(Arc::new(provider))
    }

    /// The credentials to sign with now: the static pair, or the RRSA role's current STS
    /// credentials (refreshed before they expire). `Ok(None)`: the operator has none.
    pub async fn current(&self) -> Result<Option<Credentials>, RrsaError> {
        match self {
            Self::Rrsa(provider) => provider.credentials().await.map(Some),
            _ => Ok(self.get().cloned()),
        }
    }

    /// The static credentials, if any (RRSA credentials come from [`Self::current`]).
    pub fn get(&self) -> Option<&Credentials> {
        match self {
            Self::AccessKey { credentials, .. } | Self::File { credentials, .. } => {
                Some(credentials)
            }
            Self::None | Self::Rrsa(_) => None,
        }
    }

    /// Where they came from (for logs; never a value). `None` when there are none.
    pub fn source(&self) -> Option<String> {
        match self {
            Self::None => None,
            Self::AccessKey { source, .. } => Some(source.clone()),
            Self::Rrsa(provider) => Some(provider.source()),
            Self::File { profile, .. } => Some(format!("credentials file profile {profile}")),
        }
    }
}

/// Finds the operator's own credentials the way Alibaba's SDKs do, reading settings through
/// `lookup` (the process environment in production) and the default credentials file under
/// `home`:
///
/// 1. an RRSA role, when `ALIBABA_CLOUD_ACCESS_KEY_ID` is not set at all and the three OIDC
///    variables are (STS reached with `rrsa`'s options, e.g. the CAMS connection's proxies);
/// 2. the AccessKey variables (`ALIBABA_CLOUD_ACCESS_KEY_ID`, `…_SECRET`, `…_SECURITY_TOKEN`);
/// 3. the credentials file (`ALIBABA_CLOUD_CREDENTIALS_FILE`, default
///    `~/.alibabacloud/credentials.ini`, profile `ALIBABA_CLOUD_PROFILE`, `access_key` type).
///
/// A missing default file is not an error: the operator then has no credentials. Nothing is
/// read from the OIDC token file and nothing is sent yet.
pub fn discover_operator_credentials(
    lookup: impl Fn(&str) -> Option<String>,
    home: Option<&Path>,
    rrsa: RrsaOptions,
) -> Result<OperatorCredentials, OperatorCredentialsError> {
    // The AccessKey variables win; one that is set but blank still rules RRSA out.
    if lookup(ENV_ACCESS_KEY_ID).is_none() {
        if let Some(provider) = RrsaProvider::from_env_with(&lookup, rrsa)? {
            return Ok(OperatorCredentials::rrsa(provider));
        }
    }
    let get = |k: &str| non_blank(lookup(k));
    match (get(ENV_ACCESS_KEY_ID), get(ENV_ACCESS_KEY_SECRET)) {
        (Some(id), Some(secret)) => {
            let mut c = Credentials::new(id, secret);
            if let Some(token) = get(ENV_SECURITY_TOKEN) {
                c = c.with_security_token(token);
            }
            return Ok(OperatorCredentials::fixed(c, "environment"));
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
        (None, None) => return Ok(OperatorCredentials::None),
    };
    if !path.exists() {
        if explicit.is_some() {
            return Err(OperatorCredentialsError::File {
                path: path.display().to_string(),
                reason: "does not exist".into(),
            });
        }
        return Ok(OperatorCredentials::None);
    }
    let profile = get(ENV_PROFILE).unwrap_or_else(|| "default".into());
    let credentials = load_file(&path, &profile)?;
    Ok(OperatorCredentials::File {
        credentials,
        profile,
    })
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
    let get = |key: &str| non_blank(section.get(key).map(str::to_string));
    match (get("access_key_id"), get("access_key_secret")) {
        (Some(id), Some(secret)) => {
            let mut c = Credentials::new(id, secret);
            if let Some(token) = get("security_token") {
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
    use crate::cams::env::fake_env as env;
    use crate::credentials::rrsa::{ENV_OIDC_PROVIDER_ARN, ENV_OIDC_TOKEN_FILE, ENV_ROLE_ARN};

    fn load(
        lookup: impl Fn(&str) -> Option<String>,
        home: Option<&Path>,
    ) -> Result<OperatorCredentials, OperatorCredentialsError> {
        discover_operator_credentials(lookup, home, RrsaOptions::default())
    }

    const RRSA: [(&str, &str); 3] = [
        (ENV_ROLE_ARN, "acs:ram::1234567890:role/cams-operator"),
        (
            ENV_OIDC_PROVIDER_ARN,
            "acs:ram::1234567890:oidc-provider/ack",
        ),
        (ENV_OIDC_TOKEN_FILE, "/var/run/secrets/token"),
    ];

    #[test]
    fn the_chain_takes_rrsa_only_without_an_access_key_id() {
        let c = load(env(&RRSA), None).unwrap();
        assert!(matches!(c, OperatorCredentials::Rrsa(_)), "{c:?}");
        assert!(c.get().is_none());
        assert!(c.source().unwrap().starts_with("RRSA role acs:ram::"));

        let mut with_pair = RRSA.to_vec();
        with_pair.extend([(ENV_ACCESS_KEY_ID, "id"), (ENV_ACCESS_KEY_SECRET, "sk")]);
        let c = load(env(&with_pair), None).unwrap();
        assert_eq!(c.source().as_deref(), Some("environment"));

        // A set but blank AccessKeyId rules RRSA out (and leaves no pair).
        let mut blank = RRSA.to_vec();
        blank.push((ENV_ACCESS_KEY_ID, " "));
        assert!(matches!(
            load(env(&blank), None),
            Ok(OperatorCredentials::None)
        ));

        // An incomplete RRSA environment is reported before a half-set pair.
        let err = load(
            env(&[(ENV_ROLE_ARN, RRSA[0].1), (ENV_ACCESS_KEY_SECRET, "sk")]),
            None,
        )
        .unwrap_err();
        assert!(matches!(err, OperatorCredentialsError::Rrsa(_)), "{err}");
        assert!(err.to_string().starts_with(ENV_OIDC_PROVIDER_ARN), "{err}");
    }

    #[test]
    fn environment_pair_with_token() {
        let c = load(
            env(&[
                (ENV_ACCESS_KEY_ID, "id"),
                (ENV_ACCESS_KEY_SECRET, "sk"),
                (ENV_SECURITY_TOKEN, "tok"),
            ]),
            None,
        )
        .unwrap();
        assert_eq!(c.get().unwrap().access_key_id, "id");
        assert_eq!(c.source().as_deref(), Some("environment"));
        assert!(matches!(
            load(env(&[(ENV_ACCESS_KEY_ID, "id")]), None),
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
        let c = load(env(&[(ENV_CREDENTIALS_FILE, &path)]), None).unwrap();
        assert_eq!(c.get().unwrap().access_key_id, "fid");
        assert_eq!(
            c.source().as_deref(),
            Some("credentials file profile default")
        );
        let err = load(
            env(&[(ENV_CREDENTIALS_FILE, &path), (ENV_PROFILE, "other")]),
            None,
        )
        .unwrap_err();
        assert!(err.to_string().contains("only access_key"));
        let err = load(
            env(&[(ENV_CREDENTIALS_FILE, &path), (ENV_PROFILE, "nope")]),
            None,
        )
        .unwrap_err();
        assert!(err.to_string().contains("no profile [nope]"));
    }

    #[test]
    fn default_file_under_home_and_absence() {
        let home = tempfile::tempdir().unwrap();
        assert!(load(env(&[]), Some(home.path())).unwrap().get().is_none());
        std::fs::create_dir_all(home.path().join(".alibabacloud")).unwrap();
        std::fs::write(
            home.path().join(".alibabacloud/credentials.ini"),
            "[default]\naccess_key_id = hid\naccess_key_secret = hs\n",
        )
        .unwrap();
        let c = load(env(&[]), Some(home.path())).unwrap();
        assert_eq!(c.get().unwrap().access_key_id, "hid");
    }

    #[test]
    fn parse_errors_do_not_quote_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.ini");
        std::fs::write(&file, "[default\naccess_key_secret = SUPERSECRETVALUE\n").unwrap();
        let err = load(
            env(&[(ENV_CREDENTIALS_FILE, &file.display().to_string())]),
            None,
        )
        .unwrap_err();
        assert!(!err.to_string().contains("SUPERSECRETVALUE"), "{err}");
    }
}

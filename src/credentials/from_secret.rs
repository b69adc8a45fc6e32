//! A ChatGroup's credentials, read from the Kubernetes Secret its `credentialsSecretRef`
//! names.

use k8s_openapi::api::core::v1::Secret;

use super::CredentialsError;
use crate::cams::Credentials;

/// The Secret key holding the AccessKeyId.
pub const SECRET_KEY_ACCESS_KEY_ID: &str = "accessKeyId";
/// The Secret key holding the AccessKeySecret.
pub const SECRET_KEY_ACCESS_KEY_SECRET: &str = "accessKeySecret";
/// The optional Secret key holding an STS security token.
pub const SECRET_KEY_SECURITY_TOKEN: &str = "securityToken";

/// Reads `accessKeyId`, `accessKeySecret` and optionally `securityToken` (from `data`, or
/// `stringData` on objects that were never stored). Values are trimmed.
pub fn credentials_from_secret(secret: &Secret) -> Result<Credentials, CredentialsError> {
    let namespace = secret.metadata.namespace.clone().unwrap_or_default();
    let name = secret.metadata.name.clone().unwrap_or_default();
    let read = |key: &'static str| -> Result<Option<String>, CredentialsError> {
        let bytes = secret
            .data
            .as_ref()
            .and_then(|d| d.get(key))
            .map(|b| b.0.clone())
            .or_else(|| {
                secret
                    .string_data
                    .as_ref()
                    .and_then(|d| d.get(key))
                    .map(|s| s.clone().into_bytes())
            });
        match bytes {
            None => Ok(None),
            Some(bytes) => String::from_utf8(bytes)
                .map(|s| Some(s.trim().to_string()))
                .map_err(|_| CredentialsError::KeyNotText {
                    namespace: namespace.clone(),
                    name: name.clone(),
                    key,
                }),
        }
    };
    let required = |key: &'static str| -> Result<String, CredentialsError> {
        match read(key)? {
            None => Err(CredentialsError::KeyMissing {
                namespace: namespace.clone(),
                name: name.clone(),
                key,
            }),
            Some(v) if v.is_empty() => Err(CredentialsError::KeyEmpty {
                namespace: namespace.clone(),
                name: name.clone(),
                key,
            }),
            Some(v) => Ok(v),
        }
    };
    let mut credentials = Credentials::new(
        required(SECRET_KEY_ACCESS_KEY_ID)?,
        required(SECRET_KEY_ACCESS_KEY_SECRET)?,
    );
    if let Some(token) = read(SECRET_KEY_SECURITY_TOKEN)?.filter(|t| !t.is_empty()) {
        credentials = credentials.with_security_token(token);
    }
    Ok(credentials)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;
    use std::collections::BTreeMap;

    fn secret(pairs: &[(&str, &str)]) -> Secret {
        let mut s = Secret::default();
        s.metadata.name = Some("creds".into());
        s.metadata.namespace = Some("ns".into());
        s.data = Some(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                .collect::<BTreeMap<_, _>>(),
        );
        s
    }

    #[test]
    fn reads_pair_and_optional_token() {
        let c = credentials_from_secret(&secret(&[
            ("accessKeyId", "id\n"),
            ("accessKeySecret", "sk"),
        ]))
        .unwrap();
        assert_eq!(c.access_key_id, "id");
        assert_eq!(c.security_token, None);
        let c = credentials_from_secret(&secret(&[
            ("accessKeyId", "id"),
            ("accessKeySecret", "sk"),
            ("securityToken", "tok"),
        ]))
        .unwrap();
        assert_eq!(c.security_token.unwrap().expose(), "tok");
    }

    #[test]
    fn missing_and_empty_keys_are_named_without_values() {
        let e = credentials_from_secret(&secret(&[("accessKeyId", "id")])).unwrap_err();
        assert!(matches!(
            e,
            CredentialsError::KeyMissing {
                key: "accessKeySecret",
                ..
            }
        ));
        let e =
            credentials_from_secret(&secret(&[("accessKeyId", "id"), ("accessKeySecret", "  ")]))
                .unwrap_err();
        assert!(matches!(
            e,
            CredentialsError::KeyEmpty {
                key: "accessKeySecret",
                ..
            }
        ));
        assert_eq!(
            e.to_string(),
            "Secret ns/creds key \"accessKeySecret\" is empty"
        );
    }
}

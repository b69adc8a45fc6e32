//! The CAMS JSON envelope and the error type every check returns.

use serde_json::{json, Map, Value};

/// A CAMS error answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// e.g. `SignatureDoesNotMatch`.
    pub code: String,
    /// Human-readable message (may echo what the server signed).
    pub message: String,
    /// HTTP status.
    pub status: u16,
    /// `x-acs-retry-after` in whole seconds.
    pub retry_after_secs: Option<u64>,
    /// `AccessDeniedDetail`.
    pub access_denied_detail: Option<String>,
}

impl ApiError {
    /// An error with the status that goes with its code.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        let code = code.into();
        Self {
            status: status_for(&code),
            code,
            message: message.into(),
            retry_after_secs: None,
            access_denied_detail: None,
        }
    }

    /// `MissingParameter` naming the parameter the way Alibaba does.
    pub fn missing(name: &str) -> Self {
        Self::new(
            "MissingParameter",
            format!(
                "The input parameter \"{name}\" that is mandatory for processing this request is not supplied."
            ),
        )
    }

    /// `IncompleteSignature` with a reason.
    pub fn incomplete(reason: impl std::fmt::Display) -> Self {
        Self::new(
            "IncompleteSignature",
            format!("The request signature does not conform to Aliyun standards. {reason}"),
        )
    }

    /// `InvalidParameter.<suffix>`.
    pub fn invalid(suffix: &str, message: impl Into<String>) -> Self {
        Self::new(format!("InvalidParameter.{suffix}"), message)
    }

    /// An injected error: the code with a generic message.
    pub fn injected(code: &str) -> Self {
        let message = match code {
            "InternalError" => {
                "The request processing has failed due to some unknown error, exception or failure."
            }
            "ServiceUnavailable" => {
                "The request has failed due to a temporary failure of the server."
            }
            c if c.starts_with("Throttling") => "Request was denied due to request throttling.",
            c if c.starts_with("Forbidden")
                || c == "ActionUnauthorized"
                || c == "Authentication.NoAuth" =>
            {
                "You are not authorized to perform this operation."
            }
            _ => "Injected by the cams-simulator fault settings.",
        };
        let mut error = Self::new(code, message);
        if code.starts_with("Throttling") {
            error.retry_after_secs = Some(1);
        }
        if error.status == 403 {
            error.access_denied_detail = Some(
                json!({
                    "PolicyType": "AccountLevelIdentityBasedPolicy",
                    "NoPermissionType": "ImplicitDeny",
                    "AuthAction": "cams:*",
                    "EncodedDiagnosticMessage": "injected by cams-simulator"
                })
                .to_string(),
            );
        }
        error
    }
}

/// The HTTP status that goes with a code.
pub fn status_for(code: &str) -> u16 {
    match code {
        "InternalError" => 500,
        "ServiceUnavailable" => 503,
        "ActionUnauthorized" | "Authentication.NoAuth" => 403,
        c if c.starts_with("Forbidden") => 403,
        c if c.ends_with(".NotFound") => 404,
        _ => 400,
    }
}

/// A success body: the envelope plus the action's fields.
pub fn success_body(request_id: &str, fields: Map<String, Value>) -> Value {
    let mut map = fields;
    map.insert("RequestId".into(), Value::String(request_id.into()));
    map.insert("Code".into(), Value::String("OK".into()));
    map.insert("Message".into(), Value::String("SUCCESS".into()));
    map.insert("Success".into(), Value::Bool(true));
    Value::Object(map)
}

/// An error body, shaped like Alibaba's gateway answers.
pub fn error_body(request_id: &str, host: &str, error: &ApiError) -> Value {
    json!({
        "RequestId": request_id,
        "HostId": host,
        "Code": error.code,
        "Message": error.message,
        "Success": false,
        "AccessDeniedDetail": error.access_denied_detail.clone().unwrap_or_default(),
        "Recommend": format!("https://api.aliyun.com/troubleshoot?q={}&product=cams", error.code),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(status_for("InternalError"), 500);
        assert_eq!(status_for("ServiceUnavailable"), 503);
        assert_eq!(status_for("Throttling.User"), 400);
        assert_eq!(status_for("SignatureDoesNotMatch"), 400);
        assert_eq!(status_for("InvalidAccessKeyId.NotFound"), 404);
        assert_eq!(status_for("InvalidAction.NotFound"), 404);
        assert_eq!(status_for("Forbidden.RAM"), 403);
        assert_eq!(status_for("InvalidParameter.GroupNotExist"), 400);
    }

    #[test]
    fn bodies() {
        let ok = success_body("RID", Map::from_iter([("Result".into(), json!(1))]));
        assert_eq!(ok["Code"], "OK");
        assert_eq!(ok["Success"], true);
        assert_eq!(ok["Result"], 1);
        assert_eq!(ok["RequestId"], "RID");
        let e = ApiError::missing("GroupId");
        let body = error_body("RID", "h", &e);
        assert_eq!(body["Code"], "MissingParameter");
        assert_eq!(body["Success"], false);
        assert!(body["Message"].as_str().unwrap().contains("\"GroupId\""));
        assert_eq!(body["AccessDeniedDetail"], "");
        let t = ApiError::injected("Throttling.User");
        assert_eq!((t.status, t.retry_after_secs), (400, Some(1)));
        let f = ApiError::injected("Forbidden.RAM");
        assert_eq!(f.status, 403);
        assert!(f.access_denied_detail.is_some());
    }
}

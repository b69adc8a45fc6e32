//! The client's error type, classified exactly as the contract's outcome table.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::response::Envelope;

/// The `Code` taken to mean "no such group" (an unknown GroupId in `UpdateChatGroup`,
/// `DeleteChatGroup`, the invite-link actions ...).
///
/// **An assumption:** CAMS documents no group-specific error code. This is the code
/// cams-simulator answers; it is kept here, in one place, so that a different real code
/// needs one change. Matched exactly (case-sensitive), and only as a CAMS error answer.
pub const GROUP_NOT_EXIST_CODE: &str = "InvalidParameter.GroupNotExist";

/// How an outcome is handled; one value per row of the contract's outcome table that a CAMS
/// call can produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Throttling codes or `x-acs-retry-after`: back off.
    Throttled,
    /// 5xx, transport errors, timeouts, unknown codes: back off.
    Retryable,
    /// Bad or unusable credentials: a person must fix them.
    Credentials,
    /// The credentials are valid but not allowed: a person must grant access.
    Forbidden,
    /// Stale timestamp or reused nonce: retry with fresh ones.
    Freshness,
    /// The request itself is wrong: nothing changes until the spec does.
    Terminal,
    /// The operator's own settings are wrong (endpoint, CA bundle): nothing changes until the
    /// operator is restarted with fixed settings.
    Configuration,
    /// The object's region is outside the operator's `--regions` allowlist: no request is
    /// built.
    RegionNotAllowed,
}

impl ErrorClass {
    /// Classifies a CAMS error code.
    pub fn of_code(code: &str) -> Self {
        if code.starts_with("Throttling") {
            Self::Throttled
        } else if code.starts_with("InvalidAccessKeyId")
            || code.starts_with("InvalidSecurityToken")
            || code == "SignatureDoesNotMatch"
            || code == "IncompleteSignature"
        {
            Self::Credentials
        } else if code.starts_with("Forbidden")
            || code == "Authentication.NoAuth"
            || code == "ActionUnauthorized"
        {
            Self::Forbidden
        } else if code == "InvalidTimeStamp.Expired" || code == "SignatureNonceUsed" {
            Self::Freshness
        } else if code.starts_with("MissingParameter") || code.starts_with("InvalidParameter") {
            Self::Terminal
        } else {
            Self::Retryable
        }
    }

    /// A metric label for this class.
    pub fn label(self) -> &'static str {
        match self {
            Self::Throttled => "throttled",
            Self::Retryable => "retryable",
            Self::Credentials => "credentials",
            Self::Forbidden => "forbidden",
            Self::Freshness => "freshness",
            Self::Terminal => "terminal",
            Self::Configuration => "configuration",
            Self::RegionNotAllowed => "region_not_allowed",
        }
    }
}

/// Everything a CAMS call can fail with. Every string in it has been scrubbed of the
/// credentials' secret values.
#[derive(Debug, thiserror::Error)]
pub enum CamsError {
    /// CAMS answered with an error envelope (or a 2xx whose Code is not OK).
    #[error("CAMS answered HTTP {status} {code}: {message}")]
    Api {
        /// The HTTP status code of the answer.
        status: u16,
        /// The `Code` (or `HTTP<status>` when CAMS sent none).
        code: String,
        /// The `Message`, scrubbed.
        message: String,
        /// The whole envelope, scrubbed.
        envelope: Box<Envelope>,
        /// How long CAMS asked the caller to wait (`x-acs-retry-after`).
        retry_after: Option<Duration>,
        /// The answer's `Date` header (CAMS's clock).
        server_date: Option<DateTime<Utc>>,
    },
    /// CAMS answered with something that is not the envelope.
    #[error("CAMS answered HTTP {status} with a body that is not a CAMS response")]
    Undecodable {
        /// The HTTP status code of the answer.
        status: u16,
    },
    /// CAMS answered with a body longer than the client reads; the rest was not read.
    #[error("CAMS answered HTTP {status} with a body over {limit} bytes, which is not a CAMS response; the rest was not read")]
    ResponseTooLarge {
        /// The HTTP status code of the answer.
        status: u16,
        /// The bound, in bytes.
        limit: usize,
    },
    /// The request did not complete (connection refused or reset, TLS, DNS …).
    #[error("transport error talking to CAMS: {0}")]
    Transport(String),
    /// No answer within the request timeout.
    #[error("CAMS did not answer within {0:?}")]
    Timeout(Duration),
    /// The region is not a region id.
    #[error("region {0:?} is not a region id (e.g. ap-southeast-1)")]
    InvalidRegion(String),
    /// The configured endpoint override cannot be parsed.
    #[error("invalid CAMS endpoint {0}")]
    InvalidEndpoint(String),
    /// The extra CA bundle cannot be used.
    #[error("invalid CA bundle: {0}")]
    InvalidCaBundle(String),
    /// The region is outside the operator's `--regions` allowlist.
    #[error("region {region:?} is not in the operator's allowed regions ({allowed}); use one of them or ask the operator's administrators to add it to --regions")]
    RegionNotAllowed {
        /// The region asked for.
        region: String,
        /// The allowlist, comma-separated.
        allowed: String,
    },
    /// The request would go to a host the operator does not allow.
    #[error("refusing to send a CAMS request to {0}: only cams.<region>.aliyuncs.com or the configured endpoint are allowed")]
    HostNotAllowed(String),
}

impl CamsError {
    /// The outcome-table class of this error.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Api {
                code, retry_after, ..
            } => {
                let class = ErrorClass::of_code(code);
                if retry_after.is_some() && class == ErrorClass::Retryable {
                    ErrorClass::Throttled
                } else {
                    class
                }
            }
            Self::Undecodable { .. }
            | Self::ResponseTooLarge { .. }
            | Self::Transport(_)
            | Self::Timeout(_) => ErrorClass::Retryable,
            Self::InvalidRegion(_) => ErrorClass::Terminal,
            Self::RegionNotAllowed { .. } => ErrorClass::RegionNotAllowed,
            Self::InvalidEndpoint(_) | Self::InvalidCaBundle(_) | Self::HostNotAllowed(_) => {
                ErrorClass::Configuration
            }
        }
    }

    /// Whether the request may have reached CAMS (and the update landed): everything but
    /// the errors raised before a request is sent.
    pub fn may_have_reached_cams(&self) -> bool {
        match self {
            Self::Api { .. }
            | Self::Undecodable { .. }
            | Self::ResponseTooLarge { .. }
            | Self::Transport(_)
            | Self::Timeout(_) => true,
            Self::InvalidRegion(_)
            | Self::RegionNotAllowed { .. }
            | Self::InvalidEndpoint(_)
            | Self::InvalidCaBundle(_)
            | Self::HostNotAllowed(_) => false,
        }
    }

    /// Whether CAMS answered that the group does not exist ([`GROUP_NOT_EXIST_CODE`], an
    /// assumption: see there). Such an answer is also [`ErrorClass::Terminal`]; this tells
    /// it apart from other terminal answers (a `DeleteChatGroup` of a group that is already
    /// gone has reached its goal).
    pub fn is_group_not_found(&self) -> bool {
        matches!(self, Self::Api { code, .. } if code == GROUP_NOT_EXIST_CODE)
    }

    /// The envelope CAMS sent, if it sent one.
    pub fn envelope(&self) -> Option<&Envelope> {
        match self {
            Self::Api { envelope, .. } => Some(envelope),
            _ => None,
        }
    }

    /// `x-acs-retry-after`, if CAMS sent it.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Api { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The server's `Date`, if CAMS sent one.
    pub fn server_date(&self) -> Option<DateTime<Utc>> {
        match self {
            Self::Api { server_date, .. } => *server_date,
            _ => None,
        }
    }

    /// A short metric label: the class, or the CAMS code for API errors.
    pub fn metric_label(&self) -> &'static str {
        self.class().label()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_every_documented_code() {
        use ErrorClass::*;
        let cases = [
            ("Throttling", Throttled),
            ("Throttling.User", Throttled),
            ("Throttling.Api", Throttled),
            ("ServiceUnavailable", Retryable),
            ("InternalError", Retryable),
            ("SomethingNew", Retryable),
            ("InvalidAccessKeyId.NotFound", Credentials),
            ("InvalidAccessKeyId.Inactive", Credentials),
            ("SignatureDoesNotMatch", Credentials),
            ("IncompleteSignature", Credentials),
            ("InvalidSecurityToken.Expired", Credentials),
            ("InvalidSecurityToken.MismatchWithAccessKey", Credentials),
            ("Forbidden", Forbidden),
            ("Forbidden.RAM", Forbidden),
            ("Authentication.NoAuth", Forbidden),
            ("ActionUnauthorized", Forbidden),
            ("InvalidTimeStamp.Expired", Freshness),
            ("SignatureNonceUsed", Freshness),
            ("MissingParameter", Terminal),
            ("InvalidParameter.GroupNotExist", Terminal),
            ("InvalidParameter.ChannelTypeNotSupport", Terminal),
        ];
        for (code, class) in cases {
            assert_eq!(ErrorClass::of_code(code), class, "{code}");
        }
    }

    fn api(code: &str, retry_after: Option<Duration>) -> CamsError {
        CamsError::Api {
            status: 400,
            code: code.into(),
            message: String::new(),
            envelope: Box::default(),
            retry_after,
            server_date: None,
        }
    }

    #[test]
    fn retry_after_makes_an_unknown_code_throttled_but_not_a_terminal_one() {
        assert_eq!(
            api("Weird", Some(Duration::from_secs(1))).class(),
            ErrorClass::Throttled
        );
        assert_eq!(
            api("MissingParameter", Some(Duration::from_secs(1))).class(),
            ErrorClass::Terminal
        );
    }

    #[test]
    fn only_the_group_not_exist_answer_means_the_group_is_gone() {
        let gone = api("InvalidParameter.GroupNotExist", None);
        assert!(gone.is_group_not_found());
        assert_eq!(gone.class(), ErrorClass::Terminal);
        for other in [
            api("InvalidParameter.ChannelTypeNotSupport", None),
            api("invalidparameter.groupnotexist", None),
            api("InvalidParameter.GroupNotExist.Extra", None),
            api("InternalError", None),
            CamsError::Transport("InvalidParameter.GroupNotExist".into()),
            CamsError::Undecodable { status: 404 },
        ] {
            assert!(!other.is_group_not_found(), "{other:?}");
        }
    }

    #[test]
    fn transport_and_timeouts_are_retryable_and_bad_settings_configuration() {
        assert_eq!(
            CamsError::Transport("x".into()).class(),
            ErrorClass::Retryable
        );
        assert_eq!(
            CamsError::Timeout(Duration::from_secs(1)).class(),
            ErrorClass::Retryable
        );
        assert_eq!(
            CamsError::Undecodable { status: 502 }.class(),
            ErrorClass::Retryable
        );
        for settings in [
            CamsError::HostNotAllowed("x".into()),
            CamsError::InvalidEndpoint("x".into()),
            CamsError::InvalidCaBundle("x".into()),
        ] {
            assert_eq!(settings.class(), ErrorClass::Configuration, "{settings}");
            assert!(!settings.may_have_reached_cams());
        }
        assert_eq!(
            CamsError::InvalidRegion("x".into()).class(),
            ErrorClass::Terminal
        );
        assert_eq!(
            CamsError::ResponseTooLarge {
                status: 200,
                limit: 1
            }
            .class(),
            ErrorClass::Retryable
        );
        assert!(CamsError::Transport("reset".into()).may_have_reached_cams());
    }
}

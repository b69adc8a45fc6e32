//! Where a CAMS call may go: `cams.<region>.aliyuncs.com`, or the operator's own override.

use std::fmt;

use super::error::CamsError;

/// URL scheme of an endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Plain HTTP (only through an explicit override, e.g. a local simulator).
    Http,
    /// HTTPS, the default.
    Https,
}

/// A resolved CAMS endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// http or https.
    pub scheme: Scheme,
    /// Host name or IP literal, without port.
    pub host: String,
    /// Port, when not the scheme's default.
    pub port: Option<u16>,
}

impl Endpoint {
    /// Parses `[http(s)://]host[:port]` (https by default). No path, query or user info.
    pub fn parse(text: &str) -> Result<Self, CamsError> {
        let invalid = |why: &str| CamsError::InvalidEndpoint(format!("{text:?}: {why}"));
        let (scheme, rest) = if let Some(rest) = text.strip_prefix("https://") {
            (Scheme::Https, rest)
        } else if let Some(rest) = text.strip_prefix("http://") {
            (Scheme::Http, rest)
        } else if text.contains("://") {
            return Err(invalid("only http:// and https:// are allowed"));
        } else {
            (Scheme::Https, text)
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.is_empty() || rest.contains(['/', '?', '#', '@', ' ']) {
            return Err(invalid(
                "expected host[:port] with no path, query or user info",
            ));
        }
        let (host, port) = match rest.rsplit_once(':') {
            // A bracketed IPv6 literal without a port: the last ':' is inside the brackets.
            Some(_) if rest.starts_with('[') && rest.ends_with(']') => (rest, None),
            Some((host, port)) if !host.ends_with(']') && host.contains(':') => {
                return Err(invalid(&format!(
                    "IPv6 literals need brackets, got {host}:{port}"
                )))
            }
            Some((host, port)) => {
                let port: u16 = port
                    .parse()
                    .map_err(|_| invalid("port must be a number 1-65535"))?;
                (host, Some(port))
            }
            None => (rest, None),
        };
        if host.is_empty() {
            return Err(invalid("empty host"));
        }
        let default_port = match scheme {
            Scheme::Http => 80,
            Scheme::Https => 443,
        };
        Ok(Self {
            scheme,
            host: host.to_ascii_lowercase(),
            port: port.filter(|p| *p != default_port),
        })
    }

    /// The public CAMS endpoint of a region.
    pub fn for_region(region: &str) -> Result<Self, CamsError> {
        if !is_region_id(region) {
            return Err(CamsError::InvalidRegion(region.to_string()));
        }
        Ok(Self {
            scheme: Scheme::Https,
            host: format!("cams.{region}.aliyuncs.com"),
            port: None,
        })
    }

    /// The `Host` header exactly as sent (with `:port` when not the default).
    pub fn host_header(&self) -> String {
        match self.port {
            Some(port) => format!("{}:{port}", self.host),
            None => self.host.clone(),
        }
    }

    /// `scheme://host[:port]`.
    pub fn origin(&self) -> String {
        let scheme = match self.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        format!("{scheme}://{}", self.host_header())
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.origin())
    }
}

/// Whether `region` looks like an Alibaba Cloud region id (`ap-southeast-1`, `cn-hangzhou`).
pub fn is_region_id(region: &str) -> bool {
    let mut parts = region.split('-');
    let Some(first) = parts.next() else {
        return false;
    };
    let rest: Vec<&str> = parts.collect();
    region.len() <= 63
        && first.len() >= 2
        && first.bytes().all(|b| b.is_ascii_lowercase())
        && !rest.is_empty()
        && rest.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

/// The operator's endpoint rules: a default region, the regions a ChatGroup may choose, and
/// an optional override that every call goes to instead. Nothing a ChatGroup says can name
/// another host.
#[derive(Clone, Debug)]
pub struct EndpointPolicy {
    default_region: String,
    allowed_regions: Vec<String>,
    override_endpoint: Option<Endpoint>,
}

impl EndpointPolicy {
    /// A policy that allows only `default_region`.
    pub fn new(
        default_region: &str,
        override_endpoint: Option<Endpoint>,
    ) -> Result<Self, CamsError> {
        Self::with_regions(default_region, &[default_region], override_endpoint)
    }

    /// A policy that allows the regions in `allowed` (blank entries and repeats ignored).
    /// Every entry must be a region id, and `default_region` must be one of them.
    pub fn with_regions<S: AsRef<str>>(
        default_region: &str,
        allowed: &[S],
        override_endpoint: Option<Endpoint>,
    ) -> Result<Self, CamsError> {
        let mut allowed_regions: Vec<String> = Vec::new();
        for region in allowed.iter().map(|r| r.as_ref().trim()) {
            if region.is_empty() || allowed_regions.iter().any(|r| r == region) {
                continue;
            }
            Endpoint::for_region(region)?;
            allowed_regions.push(region.to_string());
        }
        Endpoint::for_region(default_region)?;
        let policy = Self {
            default_region: default_region.to_string(),
            allowed_regions,
            override_endpoint,
        };
        policy.check_allowed(default_region)?;
        Ok(policy)
    }

    /// The endpoint a call for `region` (or the default region) goes to. A region that is not
    /// a region id, or not in the allowed list, is refused before anything is built, also
    /// when an override is configured.
    pub fn resolve(&self, region: Option<&str>) -> Result<Endpoint, CamsError> {
        let region = region.unwrap_or(&self.default_region);
        // Checked even with an override, so a bad value is reported the same way whichever
        // endpoint is configured.
        let regional = Endpoint::for_region(region)?;
        self.check_allowed(region)?;
        Ok(self.override_endpoint.clone().unwrap_or(regional))
    }

    fn check_allowed(&self, region: &str) -> Result<(), CamsError> {
        if self.allowed_regions.iter().any(|r| r == region) {
            return Ok(());
        }
        Err(CamsError::RegionNotAllowed {
            region: region.to_string(),
            allowed: self.allowed_regions.join(","),
        })
    }

    /// Whether a request may be sent to `endpoint`: the override when one is configured,
    /// else `https://cams.<region>.aliyuncs.com` of an allowed region.
    pub fn allows(&self, endpoint: &Endpoint) -> bool {
        if let Some(over) = &self.override_endpoint {
            return over == endpoint;
        }
        endpoint.scheme == Scheme::Https
            && endpoint.port.is_none()
            && endpoint
                .host
                .strip_prefix("cams.")
                .and_then(|h| h.strip_suffix(".aliyuncs.com"))
                .is_some_and(|region| self.allowed_regions.iter().any(|r| r == region))
    }

    /// The default region.
    pub fn default_region(&self) -> &str {
        &self.default_region
    }

    /// The regions a ChatGroup may choose.
    pub fn allowed_regions(&self) -> &[String] {
        &self.allowed_regions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_endpoints() {
        let e = Endpoint::parse("127.0.0.1:8080").unwrap();
        assert_eq!(
            (e.scheme, e.host.as_str(), e.port),
            (Scheme::Https, "127.0.0.1", Some(8080))
        );
        let e = Endpoint::parse("http://localhost:9000").unwrap();
        assert_eq!(e.origin(), "http://localhost:9000");
        let e = Endpoint::parse("https://cams.example.com:443/").unwrap();
        assert_eq!(e.host_header(), "cams.example.com");
        assert!(Endpoint::parse("ftp://x").is_err());
        assert!(Endpoint::parse("https://x/path").is_err());
        assert!(Endpoint::parse("https://user@x").is_err());
        assert!(Endpoint::parse("x:notaport").is_err());
        assert_eq!(
            Endpoint::parse("http://[::1]").unwrap().host_header(),
            "[::1]"
        );
        assert_eq!(
            Endpoint::parse("http://[::1]:8080").unwrap().port,
            Some(8080)
        );
    }

    #[test]
    fn region_ids() {
        for ok in [
            "ap-southeast-1",
            "cn-hangzhou",
            "us-west-1",
            "cn-shanghai-finance-1",
        ] {
            assert!(is_region_id(ok), "{ok}");
        }
        for bad in [
            "",
            "ap",
            "AP-southeast-1",
            "ap-",
            "evil.com/x",
            "ap-southeast-1.evil",
            "a-b",
            "ap--1",
        ] {
            assert!(!is_region_id(bad), "{bad}");
        }
    }

    #[test]
    fn policy_resolves_region_and_override() {
        let p = EndpointPolicy::with_regions(
            "ap-southeast-1",
            &["ap-southeast-1", "cn-hangzhou"],
            None,
        )
        .unwrap();
        assert_eq!(
            p.resolve(None).unwrap().origin(),
            "https://cams.ap-southeast-1.aliyuncs.com"
        );
        assert_eq!(
            p.resolve(Some("cn-hangzhou")).unwrap().host,
            "cams.cn-hangzhou.aliyuncs.com"
        );
        assert!(matches!(
            p.resolve(Some("evil.com")),
            Err(CamsError::InvalidRegion(_))
        ));
        assert!(p.allows(&Endpoint::for_region("cn-hangzhou").unwrap()));
        assert!(!p.allows(&Endpoint::for_region("us-west-1").unwrap()));
        assert!(!p.allows(&Endpoint::parse("https://evil.example.com").unwrap()));
        assert!(!p.allows(&Endpoint::parse("http://cams.cn-hangzhou.aliyuncs.com").unwrap()));

        let local = Endpoint::parse("http://127.0.0.1:8080").unwrap();
        let p = EndpointPolicy::with_regions(
            "ap-southeast-1",
            &["ap-southeast-1", "cn-hangzhou"],
            Some(local.clone()),
        )
        .unwrap();
        assert_eq!(p.resolve(Some("cn-hangzhou")).unwrap(), local);
        assert!(p.allows(&local));
        assert!(!p.allows(&Endpoint::for_region("cn-hangzhou").unwrap()));
    }

    #[test]
    fn a_region_outside_the_list_is_refused_also_with_an_override() {
        let local = Endpoint::parse("http://127.0.0.1:8080").unwrap();
        for over in [None, Some(local)] {
            let p = EndpointPolicy::new("ap-southeast-1", over).unwrap();
            assert_eq!(p.allowed_regions(), ["ap-southeast-1"]);
            assert!(p.resolve(Some("ap-southeast-1")).is_ok());
            // A region id whose cams.<region>.aliyuncs.com is an OSS bucket host, not CAMS.
            let err = p.resolve(Some("oss-cn-hangzhou")).unwrap_err();
            assert!(
                matches!(&err, CamsError::RegionNotAllowed { region, allowed }
                    if region == "oss-cn-hangzhou" && allowed == "ap-southeast-1"),
                "{err:?}"
            );
            assert_eq!(err.class(), crate::cams::ErrorClass::RegionNotAllowed);
        }
        assert!(!EndpointPolicy::new("ap-southeast-1", None)
            .unwrap()
            .allows(&Endpoint::for_region("oss-cn-hangzhou").unwrap()));
    }

    #[test]
    fn the_list_holds_region_ids_and_the_default_region() {
        let p = EndpointPolicy::with_regions(
            "cn-hangzhou",
            &[" ap-southeast-1", "", "cn-hangzhou", "ap-southeast-1"],
            None,
        )
        .unwrap();
        assert_eq!(p.allowed_regions(), ["ap-southeast-1", "cn-hangzhou"]);
        assert!(matches!(
            EndpointPolicy::with_regions("cn-hangzhou", &["ap-southeast-1"], None),
            Err(CamsError::RegionNotAllowed { region, .. }) if region == "cn-hangzhou"
        ));
        assert!(matches!(
            EndpointPolicy::with_regions("ap-southeast-1", &["ap-southeast-1", "evil.com/x"], None),
            Err(CamsError::InvalidRegion(r)) if r == "evil.com/x"
        ));
        assert!(matches!(
            EndpointPolicy::with_regions::<&str>("ap-southeast-1", &[], None),
            Err(CamsError::RegionNotAllowed { .. })
        ));
    }
}

//! A client for Alibaba Cloud CAMS that knows nothing of Kubernetes: request signing (V3 and
//! RPC HMAC-SHA1), endpoint rules, the response envelope and the outcome classes.

pub mod client;
pub mod credentials;
pub mod encode;
pub mod endpoint;
pub mod error;
pub mod groups;
pub mod ratelimit;
pub mod request;
pub mod response;
pub mod secret;
pub mod sign;

pub use client::{
    CallObserver, CamsClient, ChatGroupApi, ClientConfig, ClientOptions, ProxySettings,
};
pub use credentials::Credentials;
pub use endpoint::{Endpoint, EndpointPolicy};
pub use error::{CamsError, ErrorClass};
pub use groups::UpdateChatGroup;
pub use ratelimit::RateLimit;
pub use request::{Freshness, SignatureVersion, SignedRequest};
pub use response::{Envelope, Response};
pub use secret::{Scrubber, SecretString};

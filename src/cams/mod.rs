//! A client for Alibaba Cloud CAMS that knows nothing of Kubernetes: request signing (V3 and
//! RPC HMAC-SHA1), endpoint rules, the response envelope and the outcome classes.
//!
//! Each item has one public path: the modules below that are private are reached through
//! the re-exports at the end.

pub mod client;
mod credentials;
pub mod encode;
pub mod endpoint;
pub mod env;
mod error;
mod groups;
mod ratelimit;
pub mod redact;
pub mod request;
mod response;
pub mod sign;
pub mod timestamp;

pub use client::{CamsClient, ChatGroupApi, ClientConfig};
pub use credentials::Credentials;
pub use endpoint::{Endpoint, EndpointPolicy};
pub use error::{CamsError, ErrorClass};
pub use groups::UpdateChatGroup;
pub use ratelimit::RateLimit;
pub use request::SignatureVersion;
pub use response::{Envelope, Response};

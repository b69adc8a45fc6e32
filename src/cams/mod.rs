//! A client for Alibaba Cloud CAMS that knows nothing of Kubernetes: request signing (V3 and
//! RPC HMAC-SHA1), endpoint rules, the response envelope and the outcome classes.
//!
//! Each item has one public path: the modules below that are private are reached through
//! the re-exports at the end.

mod client;
mod credentials;
pub mod encode;
mod endpoint;
pub mod env;
mod error;
mod groups;
mod ratelimit;
pub mod redact;
pub mod request;
mod response;
pub mod sign;
pub mod timestamp;

#[cfg(test)]
pub use client::MockChatGroupApi;
pub(crate) use client::{read_body, BodyError};
pub use client::{
    CallObserver, CamsClient, ChatGroupApi, ClientConfig, ClientOptions, ProxySettings,
    MAX_RESPONSE_BYTES,
};
pub use credentials::Credentials;
pub use endpoint::{is_region_id, Endpoint, EndpointPolicy, Scheme};
pub use error::{CamsError, ErrorClass, GROUP_NOT_EXIST_CODE};
pub use groups::{
    AddChatGroup, AddChatGroupInviteLink, AddedGroup, AddedInviteLink, DeleteChatGroup,
    DeleteChatGroupInviteLink, GroupPage, ListChatGroup, ListedGroup, UpdateChatGroup,
};
pub use ratelimit::RateLimit;
pub use response::{Envelope, Response};

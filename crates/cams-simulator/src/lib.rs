//! `cams-simulator`: a local fake of Alibaba Cloud CAMS's group API (version 2020-06-06) over
//! HTTP on loopback, with both signature schemes verified, in-memory groups per tenant, fault
//! injection and an admin API; also STS `AssumeRoleWithOIDC` for RRSA. See README.md beside
//! this crate.
//!
//! The library is independent of the operator on purpose: it is the oracle the operator is
//! tested against, so it has its own signature verifier and token bucket. With the `client`
//! feature it also offers `SimulatorClient`, a typed client of the
//! admin API for test harnesses.
//!
//! Modules, leaves first: `http` (responses), `calllog`, `faults` and `realism` (the knobs),
//! `state`, `app`, then the endpoints `auth` + `actions` + `cams` (the CAMS gateway), `sts`,
//! `admin`, and `router` (CAMS or STS) under `server` (the accept loop).

pub mod actions;
pub mod admin;
pub mod api;
pub mod app;
pub mod auth;
pub mod calllog;
pub mod cams;
pub mod envelope;
pub mod faults;
pub mod http;
pub mod realism;
pub mod request;
pub mod router;
pub mod seed;
pub mod server;
pub mod sign;
pub mod state;
pub mod sts;
pub mod util;

#[cfg(feature = "client")]
pub mod client;

pub use app::App;
pub use calllog::{CallEntry, Fault, SignatureScheme};
pub use faults::{FaultConfig, HangFault, QpsLimit};
pub use realism::{
    ActionQps, CreateFailure, CreateFailureMode, GroupIdWhileCreating, ListOrder, NeverApply,
    RealismConfig, SubjectFilter, UpdateField,
};
pub use seed::{apply_seed, Seed, SeedError};
pub use server::serve;
pub use state::{
    AccessKeySpec, CreateOutcome, Group, GroupEdit, GroupSeed, PendingCreate, PendingUpdate,
    SecurityToken, State, StsConfig, TokenSpec,
};

#[cfg(feature = "client")]
pub use client::{CallQuery, ClientError, SimulatorClient};

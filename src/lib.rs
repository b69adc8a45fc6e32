//! cams-operator: manages WhatsApp groups on Alibaba Cloud CAMS as `ChatGroup` resources.

pub mod cams;
pub mod cli;
pub mod commands;
pub mod controller;
pub mod credentials;
pub mod export;
pub mod fixtures;
pub mod leader;
pub mod metrics;
pub mod observe;
pub mod outcome;
pub mod plan;
pub mod resource;
pub mod server;
pub mod status;
pub mod task_metrics;
pub mod watch_backoff;

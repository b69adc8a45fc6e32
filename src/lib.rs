//! cams-operator: manages WhatsApp groups on Alibaba Cloud CAMS as `ChatGroup` resources.

pub mod cams;

//! [`SimulatorClient`]: a typed client of the simulator's admin API, for test harnesses and
//! the benchmark (the `client` feature). Every method is one admin call; answers are the
//! types of [`crate::api`], requests the state's own types.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::api::{
    AccessKeyList, AccessKeyRevoked, AccessKeySet, AdminErrorBody, CallPage, CallsCleared,
    FaultSettings, FaultsRemoved, FaultsReset, GroupList, GroupsAdded, GroupsDeleted, Health,
    RealismRemoved, RealismReset, RealismSettings, Seeded, StsExpired, StsView,
    DEFAULT_CALLS_LIMIT,
};
use crate::calllog::CallEntry;
use crate::faults::FaultConfig;
use crate::realism::RealismConfig;
use crate::seed::Seed;
use crate::sign::percent_encode;
use crate::state::{AccessKeySpec, Group, GroupEdit, GroupSeed, StsConfig};

/// Why an admin call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The HTTP client could not be built.
    #[error("building the HTTP client: {0}")]
    Build(#[source] reqwest::Error),
    /// The request did not get an answer (connection refused, timeout, …).
    #[error("{method} {path}: {source}")]
    Transport {
        /// The method sent.
        method: Method,
        /// The admin path called.
        path: String,
        /// What went wrong.
        #[source]
        source: reqwest::Error,
    },
    /// The simulator answered with an error status.
    #[error("{method} {path}: HTTP {status}: {message}")]
    Status {
        /// The method sent.
        method: Method,
        /// The admin path called.
        path: String,
        /// The HTTP status.
        status: StatusCode,
        /// The `error` field of the answer, or the raw body.
        message: String,
    },
    /// The answer was not the expected JSON.
    #[error("{method} {path}: unexpected answer: {source}")]
    Decode {
        /// The method sent.
        method: Method,
        /// The admin path called.
        path: String,
        /// What did not parse.
        #[source]
        source: serde_json::Error,
    },
}

/// A filter over the call log (`GET /admin/calls`); the default matches every call.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallQuery {
    /// Only calls with a sequence number above this one.
    pub since: u64,
    /// Only calls of this tenant (`CustSpaceId`).
    pub cust_space_id: Option<String>,
    /// Only calls of this action.
    pub action: Option<String>,
    /// Only calls answered with this code (`OK`, an error code, `Hang`, …).
    pub code: Option<String>,
    /// Only calls signed with this AccessKeyId.
    pub access_key_id: Option<String>,
    /// Only calls whose key was (or was not) issued by `AssumeRoleWithOIDC`.
    pub sts_issued: Option<bool>,
    /// At most this many calls per page (the simulator caps it at 10,000).
    pub limit: Option<usize>,
}

impl CallQuery {
    /// Every call of tenant `cust_space_id`.
    pub fn tenant(cust_space_id: impl Into<String>) -> Self {
        Self {
            cust_space_id: Some(cust_space_id.into()),
            ..Self::default()
        }
    }

    /// Only calls of `action`.
    pub fn action(mut self, action: impl Into<String>) -> Self {
        self.action = Some(action.into());
        self
    }

    /// Only calls after sequence number `since`.
    pub fn since(mut self, since: u64) -> Self {
        self.since = since;
        self
    }

    /// At most `limit` calls per page.
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }

    /// The query string (without `?`).
    fn to_query(&self) -> String {
        let mut pairs = vec![("since".to_string(), self.since.to_string())];
        let optional = [
            ("custSpaceId", self.cust_space_id.clone()),
            ("action", self.action.clone()),
            ("code", self.code.clone()),
            ("accessKeyId", self.access_key_id.clone()),
            ("stsIssued", self.sts_issued.map(|s| s.to_string())),
            ("limit", self.limit.map(|l| l.to_string())),
        ];
        for (name, value) in optional {
            if let Some(value) = value {
                pairs.push((name.to_string(), value));
            }
        }
        pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", percent_encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// A typed client of one simulator's admin API.
#[derive(Clone, Debug)]
pub struct SimulatorClient {
    base: String,
    http: reqwest::Client,
}

impl SimulatorClient {
    /// A client of the simulator at `base_url` (`http://127.0.0.1:PORT`), with a 30 s
    /// timeout per call.
    pub fn new(base_url: &str) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(ClientError::Build)?;
        Ok(Self::with_http(base_url, http))
    }

    /// A client of the simulator at `base_url` sending through `http`.
    pub fn with_http(base_url: &str, http: reqwest::Client) -> Self {
        Self {
            base: base_url.trim_end_matches('/').to_string(),
            http,
        }
    }

    /// The simulator's base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    async fn call<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, ClientError> {
        let url = format!("{}/admin/{path}", self.base);
        let mut request = self.http.request(method.clone(), url);
        if let Some(body) = body {
            request = request.json(body);
        }
        let transport = |source| ClientError::Transport {
            method: method.clone(),
            path: path.to_string(),
            source,
        };
        let answer = request.send().await.map_err(transport)?;
        let status = answer.status();
        let bytes = answer.bytes().await.map_err(transport)?;
        if !status.is_success() {
            let message = serde_json::from_slice::<AdminErrorBody>(&bytes)
                .map(|e| e.error)
                .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).into_owned());
            return Err(ClientError::Status {
                method,
                path: path.to_string(),
                status,
                message,
            });
        }
        serde_json::from_slice(&bytes).map_err(|source| ClientError::Decode {
            method,
            path: path.to_string(),
            source,
        })
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.call::<(), T>(Method::GET, path, None).await
    }

    async fn delete<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.call::<(), T>(Method::DELETE, path, None).await
    }

    /// `GET /admin/healthz`.
    pub async fn health(&self) -> Result<Health, ClientError> {
        self.get("healthz").await
    }

    /// `POST /admin/seed`: adds keys and groups, and sets the default faults and STS settings
    /// the seed names (all or nothing).
    pub async fn seed(&self, seed: &Seed) -> Result<Seeded, ClientError> {
        self.call(Method::POST, "seed", Some(seed)).await
    }

    /// `GET /admin/access-keys`: every key (secrets and tokens are never listed).
    pub async fn access_keys(&self) -> Result<AccessKeyList, ClientError> {
        self.get("access-keys").await
    }

    /// `PUT /admin/access-keys/{id}`: adds or replaces key `id`.
    pub async fn put_access_key(
        &self,
        id: &str,
        spec: &AccessKeySpec,
    ) -> Result<AccessKeySet, ClientError> {
        let path = format!("access-keys/{}", percent_encode(id));
        self.call(Method::PUT, &path, Some(spec)).await
    }

    /// `DELETE /admin/access-keys/{id}`: its calls answer `InvalidAccessKeyId.NotFound` from
    /// now on.
    pub async fn revoke_access_key(&self, id: &str) -> Result<AccessKeyRevoked, ClientError> {
        self.delete(&format!("access-keys/{}", percent_encode(id)))
            .await
    }

    /// `POST /admin/groups`: adds or replaces groups; returns them as stored.
    pub async fn add_groups(&self, groups: &[GroupSeed]) -> Result<Vec<Group>, ClientError> {
        let body = serde_json::json!({ "groups": groups });
        let added: GroupsAdded = self.call(Method::POST, "groups", Some(&body)).await?;
        Ok(added.groups)
    }

    /// `GET /admin/groups[?custSpaceId=T]`: the groups of one tenant, or of all.
    pub async fn groups(&self, cust_space_id: Option<&str>) -> Result<Vec<Group>, ClientError> {
        let path = match cust_space_id {
            Some(t) => format!("groups?custSpaceId={}", percent_encode(t)),
            None => "groups".to_string(),
        };
        let list: GroupList = self.get(&path).await?;
        Ok(list.groups)
    }

    /// `GET /admin/groups/{custSpaceId}/{businessNumber}/{groupId}`; `None` when there is no
    /// such group.
    pub async fn group(
        &self,
        cust_space_id: &str,
        business_number: &str,
        group_id: &str,
    ) -> Result<Option<Group>, ClientError> {
        let path = group_path(cust_space_id, business_number, group_id);
        match self.get(&path).await {
            Ok(group) => Ok(Some(group)),
            Err(ClientError::Status { status, .. }) if status == StatusCode::NOT_FOUND => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `PATCH /admin/groups/{custSpaceId}/{businessNumber}/{groupId}`: an out-of-band edit
    /// (the group changed in WhatsApp, or Meta changed its status); returns the group as
    /// stored now. Not a CAMS call: it is not in the call log. An unknown group is a
    /// [`ClientError::Status`] with 404.
    pub async fn edit_group(
        &self,
        cust_space_id: &str,
        business_number: &str,
        group_id: &str,
        edit: &GroupEdit,
    ) -> Result<Group, ClientError> {
        let path = group_path(cust_space_id, business_number, group_id);
        self.call(Method::PATCH, &path, Some(edit)).await
    }

    /// `DELETE /admin/groups[?custSpaceId=T]`: removes one tenant's groups, or all; returns
    /// how many.
    pub async fn delete_groups(&self, cust_space_id: Option<&str>) -> Result<usize, ClientError> {
        let path = match cust_space_id {
            Some(t) => format!("groups?custSpaceId={}", percent_encode(t)),
            None => "groups".to_string(),
        };
        let deleted: GroupsDeleted = self.delete(&path).await?;
        Ok(deleted.deleted)
    }

    /// `GET /admin/faults`: the default setting and every tenant's own.
    pub async fn faults(&self) -> Result<FaultSettings, ClientError> {
        self.get("faults").await
    }

    /// `PUT /admin/faults/default`: replaces the default setting; returns it as stored.
    pub async fn set_default_faults(
        &self,
        faults: &FaultConfig,
    ) -> Result<FaultConfig, ClientError> {
        self.call(Method::PUT, "faults/default", Some(faults)).await
    }

    /// `PUT /admin/faults/tenants/{custSpaceId}`: replaces the tenant's whole setting
    /// (`FaultConfig::default()` means no fault); returns it as stored.
    pub async fn set_tenant_faults(
        &self,
        cust_space_id: &str,
        faults: &FaultConfig,
    ) -> Result<FaultConfig, ClientError> {
        let path = format!("faults/tenants/{}", percent_encode(cust_space_id));
        self.call(Method::PUT, &path, Some(faults)).await
    }

    /// `DELETE /admin/faults/tenants/{custSpaceId}`: the tenant falls back to the default;
    /// whether it had a setting of its own.
    pub async fn remove_tenant_faults(&self, cust_space_id: &str) -> Result<bool, ClientError> {
        let path = format!("faults/tenants/{}", percent_encode(cust_space_id));
        let removed: FaultsRemoved = self.delete(&path).await?;
        Ok(removed.removed)
    }

    /// `DELETE /admin/faults`: no fault anywhere.
    pub async fn reset_faults(&self) -> Result<(), ClientError> {
        let _: FaultsReset = self.delete("faults").await?;
        Ok(())
    }

    /// `GET /admin/realism`: the default realism knobs and every tenant's own.
    pub async fn realism(&self) -> Result<RealismSettings, ClientError> {
        self.get("realism").await
    }

    /// `PUT /admin/realism/default`: replaces the default knobs; returns them as stored.
    pub async fn set_default_realism(
        &self,
        realism: &RealismConfig,
    ) -> Result<RealismConfig, ClientError> {
        self.call(Method::PUT, "realism/default", Some(realism))
            .await
    }

    /// `PUT /admin/realism/tenants/{custSpaceId}`: replaces the tenant's knobs (the tenant
    /// no longer follows the default); returns them as stored.
    pub async fn set_tenant_realism(
        &self,
        cust_space_id: &str,
        realism: &RealismConfig,
    ) -> Result<RealismConfig, ClientError> {
        let path = format!("realism/tenants/{}", percent_encode(cust_space_id));
        self.call(Method::PUT, &path, Some(realism)).await
    }

    /// `DELETE /admin/realism/tenants/{custSpaceId}`: the tenant falls back to the default;
    /// whether it had knobs of its own.
    pub async fn remove_tenant_realism(&self, cust_space_id: &str) -> Result<bool, ClientError> {
        let path = format!("realism/tenants/{}", percent_encode(cust_space_id));
        let removed: RealismRemoved = self.delete(&path).await?;
        Ok(removed.removed)
    }

    /// `DELETE /admin/realism`: every tenant back to the plain default knobs.
    pub async fn reset_realism(&self) -> Result<(), ClientError> {
        let _: RealismReset = self.delete("realism").await?;
        Ok(())
    }

    /// `GET /admin/sts`.
    pub async fn sts(&self) -> Result<StsView, ClientError> {
        self.get("sts").await
    }

    /// `PUT /admin/sts`: replaces the STS settings.
    pub async fn set_sts(&self, config: &StsConfig) -> Result<StsView, ClientError> {
        self.call(Method::PUT, "sts", Some(config)).await
    }

    /// `POST /admin/sts/expire`: every issued credential expires now; returns how many were
    /// still valid.
    pub async fn expire_sts(&self) -> Result<usize, ClientError> {
        let expired: StsExpired = self.call::<(), _>(Method::POST, "sts/expire", None).await?;
        Ok(expired.expired)
    }

    /// `GET /admin/calls`: one page of calls matching `query`, oldest first.
    pub async fn calls_page(&self, query: &CallQuery) -> Result<CallPage, ClientError> {
        self.get(&format!("calls?{}", query.to_query())).await
    }

    /// Every call matching `query` (`limit` is the page size), oldest first, page by page.
    pub async fn calls(&self, query: &CallQuery) -> Result<Vec<CallEntry>, ClientError> {
        let page_size = query.limit.unwrap_or(DEFAULT_CALLS_LIMIT).max(1);
        let mut query = query.clone();
        let mut all = Vec::new();
        loop {
            let page = self.calls_page(&query).await?;
            let full = page.calls.len() >= page_size;
            if let Some(last) = page.calls.last() {
                query.since = last.seq;
            }
            all.extend(page.calls);
            if !full {
                return Ok(all);
            }
        }
    }

    /// The last call sequence number handed out, to mark a point before a test step.
    pub async fn last_seq(&self) -> Result<u64, ClientError> {
        let page: CallPage = self.get("calls?limit=0").await?;
        Ok(page.last_seq)
    }

    /// `DELETE /admin/calls`: empties the call log (sequence numbers keep counting).
    pub async fn clear_calls(&self) -> Result<CallsCleared, ClientError> {
        self.delete("calls").await
    }
}

/// The admin path of one group.
fn group_path(cust_space_id: &str, business_number: &str, group_id: &str) -> String {
    format!(
        "groups/{}/{}/{}",
        percent_encode(cust_space_id),
        percent_encode(business_number),
        percent_encode(group_id)
    )
}

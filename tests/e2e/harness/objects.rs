//! ChatGroups, Secrets and namespaces of a test's world. ChatGroups are built with the
//! library's typed builder; JSON appears only in the merge patches a test sends.

use cams_operator::fixtures::ChatGroupBuilder;
use cams_operator::resource::ChatGroup;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{json, Value};

use super::World;

/// The Secret every world creates in its namespace, holding its access key; the ChatGroups
/// of [`World::chatgroup`] name it.
pub const SECRET: &str = "cams-credentials";

impl World {
    /// The ChatGroups of this test's namespace.
    pub fn chatgroups(&self) -> Api<ChatGroup> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    /// A ChatGroup of this test's tenant in its namespace, using its Secret [`SECRET`].
    pub fn chatgroup(&self, name: &str, group_id: &str) -> ChatGroupBuilder {
        ChatGroupBuilder::new(name, &self.ns, &self.tenant, group_id).secret_ref(Some(SECRET))
    }

    /// Seeds `group_id` in this test's tenant and returns a ChatGroup for it:
    /// [`World::chatgroup`] with `edit` applied.
    pub async fn group(
        &self,
        name: &str,
        group_id: &str,
        edit: impl FnOnce(ChatGroupBuilder) -> ChatGroupBuilder,
    ) -> ChatGroup {
        self.seed_groups(&[group_id]).await;
        edit(self.chatgroup(name, group_id)).build()
    }

    /// [`World::group`], created through the API.
    pub async fn create_group(
        &self,
        name: &str,
        group_id: &str,
        edit: impl FnOnce(ChatGroupBuilder) -> ChatGroupBuilder,
    ) -> ChatGroup {
        let cg = self.group(name, group_id, edit).await;
        self.create(&cg).await
    }

    /// `n` groups seeded in the simulator with one admin call, and their ChatGroups
    /// `{prefix}-{i:04}` naming GroupId `{base}{i:04}` (digits; `base` a number), each with
    /// `edit` applied.
    pub async fn groups(
        &self,
        prefix: &str,
        base: u64,
        n: usize,
        edit: impl Fn(ChatGroupBuilder) -> ChatGroupBuilder,
    ) -> Vec<ChatGroup> {
        let ids: Vec<String> = (0..n).map(|i| format!("{base}{i:04}")).collect();
        let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        self.seed_groups(&id_refs).await;
        ids.iter()
            .enumerate()
            .map(|(i, id)| edit(self.chatgroup(&format!("{prefix}-{i:04}"), id)).build())
            .collect()
    }

    /// Creates a ChatGroup through the API; the object as stored.
    pub async fn create(&self, cg: &ChatGroup) -> ChatGroup {
        self.chatgroups()
            .create(&PostParams::default(), cg)
            .await
            .expect("create ChatGroup")
    }

    /// Creates the objects concurrently through the API, `parallel` requests at a time.
    pub async fn create_all(&self, objs: &[ChatGroup], parallel: usize) {
        futures::stream::iter(objs)
            .map(|cg| self.create(cg))
            .buffer_unordered(parallel.max(1))
            .collect::<Vec<_>>()
            .await;
    }

    /// A ChatGroup of this test's namespace, read from the API server.
    pub async fn get(&self, name: &str) -> ChatGroup {
        self.chatgroups().get(name).await.expect("get ChatGroup")
    }

    /// Merge-patches a ChatGroup in this test's namespace (metadata and/or spec).
    pub async fn patch(&self, name: &str, patch: Value) -> ChatGroup {
        self.chatgroups()
            .patch(name, &PatchParams::default(), &Patch::Merge(patch))
            .await
            .expect("patch ChatGroup")
    }

    /// Sets (`Some`) or removes (`None`) one annotation of a ChatGroup.
    pub async fn annotate(&self, name: &str, key: &str, value: Option<&str>) -> ChatGroup {
        self.patch(name, json!({"metadata": {"annotations": {key: value}}}))
            .await
    }

    /// Creates namespace `name`.
    pub(super) async fn create_namespace(&self, name: &str) {
        let namespace = Namespace {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        Api::<Namespace>::all(self.client.clone())
            .create(&PostParams::default(), &namespace)
            .await
            .expect("create namespace");
    }

    /// Creates a second namespace `<ns>-<suffix>` for this test, with a Secret [`SECRET`]
    /// holding this test's key, and returns its name.
    pub async fn extra_namespace(&self, suffix: &str) -> String {
        let name = format!("{}-{suffix}", self.ns);
        self.create_namespace(&name).await;
        self.create_secret_in(
            &name,
            SECRET,
            &self.access_key_id,
            &self.access_key_secret,
            None,
        )
        .await;
        name
    }

    /// Creates a credentials Secret in this test's namespace.
    pub async fn create_secret(&self, name: &str, id: &str, secret: &str, token: Option<&str>) {
        self.create_secret_in(&self.ns, name, id, secret, token)
            .await;
    }

    async fn create_secret_in(
        &self,
        namespace: &str,
        name: &str,
        id: &str,
        secret: &str,
        token: Option<&str>,
    ) {
        let data = [
            ("accessKeyId", Some(id)),
            ("accessKeySecret", Some(secret)),
            ("securityToken", token),
        ]
        .into_iter()
        .filter_map(|(k, v)| Some((k.to_string(), v?.to_string())))
        .collect();
        let obj = Secret {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..ObjectMeta::default()
            },
            string_data: Some(data),
            ..Secret::default()
        };
        Api::<Secret>::namespaced(self.client.clone(), namespace)
            .create(&PostParams::default(), &obj)
            .await
            .expect("create secret");
    }

    /// Replaces the data of a Secret in this test's namespace (merge patch of `stringData`;
    /// other keys stay).
    pub async fn patch_secret_data(&self, name: &str, string_data: Value) {
        Api::<Secret>::namespaced(self.client.clone(), &self.ns)
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"stringData": string_data})),
            )
            .await
            .expect("patch secret");
    }
}

/// The status of a condition.
pub fn condition(obj: &ChatGroup, type_: &str) -> Option<String> {
    find_condition(obj, type_).map(|c| c.status.clone())
}

/// The reason of a condition.
pub fn reason(obj: &ChatGroup, type_: &str) -> Option<String> {
    find_condition(obj, type_).map(|c| c.reason.clone())
}

fn find_condition<'a>(obj: &'a ChatGroup, type_: &str) -> Option<&'a Condition> {
    obj.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
}

/// Ready True at the object's current generation.
pub fn is_ready(obj: &ChatGroup) -> bool {
    condition(obj, "Ready").as_deref() == Some("True")
        && obj.status.as_ref().and_then(|s| s.observed_generation) == obj.metadata.generation
}

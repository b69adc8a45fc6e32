//! One typed `ChatGroup` builder for every tier: unit tests, the end-to-end tier and the
//! benchmark build their objects with it, so a new field or annotation is added in one place.
//! Raw JSON stays only where a test means to send what the types cannot express (the CRD
//! validation tests).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

use crate::resource::{
    ChannelType, ChatGroup, ChatGroupSpec, ChatGroupStatus, SecretRef, PAUSED_ANNOTATION,
    RECONCILE_REQUESTED_AT_ANNOTATION,
};

/// The business number every fixture uses unless told otherwise.
pub const BUSINESS_NUMBER: &str = "8613800001234";

/// Builds a `ChatGroup`. [`ChatGroupBuilder::new`] sets only what the CRD requires.
#[derive(Clone, Debug)]
pub struct ChatGroupBuilder {
    obj: ChatGroup,
}

impl ChatGroupBuilder {
    /// `name` in `namespace` for group `group_id` of space `cust_space_id`, business number
    /// [`BUSINESS_NUMBER`], WhatsApp; no optional field, no Secret, no status.
    pub fn new(name: &str, namespace: &str, cust_space_id: &str, group_id: &str) -> Self {
        let spec = ChatGroupSpec {
            business_number: BUSINESS_NUMBER.into(),
            cust_space_id: cust_space_id.into(),
            group_id: Some(group_id.into()).filter(|id: &String| !id.is_empty()),
            channel_type: ChannelType::Whatsapp,
            subject: None,
            description: None,
            profile_picture_url: None,
            region: None,
            credentials_secret_ref: None,
            management_policy: Default::default(),
            deletion_policy: Default::default(),
            invite_link: None,
        };
        let mut obj = ChatGroup::new(name, spec);
        obj.metadata = ObjectMeta {
            name: Some(name.into()),
            namespace: Some(namespace.into()),
            ..Default::default()
        };
        Self { obj }
    }

    /// Starts from an existing object (its spec, metadata and status).
    pub fn from(obj: &ChatGroup) -> Self {
        Self { obj: obj.clone() }
    }

    /// Sets `spec.managementPolicy: Observe`.
    pub fn observe_only(mut self) -> Self {
        self.obj.spec.management_policy = crate::resource::ManagementPolicy::Observe;
        self
    }

    /// Sets metadata.name.
    pub fn name(mut self, name: &str) -> Self {
        self.obj.metadata.name = Some(name.into());
        self
    }

    /// Sets metadata.namespace.
    pub fn namespace(mut self, namespace: &str) -> Self {
        self.obj.metadata.namespace = Some(namespace.into());
        self
    }

    /// Sets metadata.uid.
    pub fn uid(mut self, uid: &str) -> Self {
        self.obj.metadata.uid = Some(uid.into());
        self
    }

    /// Sets metadata.resourceVersion.
    pub fn resource_version(mut self, version: &str) -> Self {
        self.obj.metadata.resource_version = Some(version.into());
        self
    }

    /// Sets metadata.generation.
    pub fn generation(mut self, generation: i64) -> Self {
        self.obj.metadata.generation = Some(generation);
        self
    }

    /// Sets metadata.creationTimestamp, in seconds since the Unix epoch.
    pub fn created_at(mut self, unix_seconds: i64) -> Self {
        self.obj.metadata.creation_timestamp =
            k8s_openapi::jiff::Timestamp::from_second(unix_seconds)
                .ok()
                .map(Time);
        self
    }

    /// Sets spec.custSpaceId.
    pub fn cust_space_id(mut self, id: &str) -> Self {
        self.obj.spec.cust_space_id = id.into();
        self
    }

    /// Sets spec.businessNumber.
    pub fn business_number(mut self, number: &str) -> Self {
        self.obj.spec.business_number = number.into();
        self
    }

    /// Sets spec.groupId.
    pub fn group_id(mut self, id: &str) -> Self {
        self.obj.spec.group_id = Some(id.into()).filter(|id: &String| !id.is_empty());
        self
    }

    /// Sets spec.subject (`None`: unmanaged).
    pub fn subject(mut self, subject: Option<&str>) -> Self {
        self.obj.spec.subject = subject.map(String::from);
        self
    }

    /// Sets spec.description (`None`: unmanaged).
    pub fn description(mut self, description: Option<&str>) -> Self {
        self.obj.spec.description = description.map(String::from);
        self
    }

    /// Sets spec.profilePictureUrl (`None`: unmanaged).
    pub fn profile_picture_url(mut self, url: Option<&str>) -> Self {
        self.obj.spec.profile_picture_url = url.map(String::from);
        self
    }

    /// Sets spec.region (`None`: the operator's default).
    pub fn region(mut self, region: Option<&str>) -> Self {
        self.obj.spec.region = region.map(String::from);
        self
    }

    /// Sets spec.credentialsSecretRef (`None`: the operator's own credentials, where lent).
    pub fn secret_ref(mut self, name: Option<&str>) -> Self {
        self.obj.spec.credentials_secret_ref = name.map(|n| SecretRef { name: n.into() });
        self
    }

    /// The status, as if the operator had written it.
    pub fn status(mut self, status: Option<ChatGroupStatus>) -> Self {
        self.obj.status = status;
        self
    }

    /// `cams.dev/paused: "true"`.
    pub fn paused(self) -> Self {
        self.annotation(PAUSED_ANNOTATION, "true")
    }

    /// `cams.dev/reconcile-requested-at: <token>`.
    pub fn reconcile_requested(self, token: &str) -> Self {
        self.annotation(RECONCILE_REQUESTED_AT_ANNOTATION, token)
    }

    /// Sets an annotation.
    pub fn annotation(mut self, key: &str, value: &str) -> Self {
        self.obj
            .metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(key.into(), value.into());
        self
    }

    /// Sets a label.
    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.obj
            .metadata
            .labels
            .get_or_insert_with(BTreeMap::new)
            .insert(key.into(), value.into());
        self
    }

    /// The finished object.
    pub fn build(self) -> ChatGroup {
        self.obj
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_sets_only_what_the_crd_requires_and_the_helpers_set_their_annotation() {
        let obj = ChatGroupBuilder::new("vip", "team-a", "cams-1", "G1").build();
        assert_eq!(obj.spec.subject, None);
        assert_eq!(obj.spec.credentials_secret_ref, None);
        assert_eq!(obj.metadata.namespace.as_deref(), Some("team-a"));
        let json = serde_json::to_value(&obj).unwrap();
        assert_eq!(json["apiVersion"], "cams.dev/v1alpha1");
        assert_eq!(json["spec"]["businessNumber"], BUSINESS_NUMBER);

        let obj = ChatGroupBuilder::from(&obj)
            .paused()
            .reconcile_requested("t-1")
            .build();
        assert!(obj.is_paused());
        assert_eq!(obj.reconcile_token(), Some("t-1"));
    }
}

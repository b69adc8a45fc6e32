//! The observer's pages come from the CAMS client's ListChatGroup.

use std::sync::Arc;

use async_trait::async_trait;

use super::inventory::{AccountKey, GroupRow};
use super::observer::{GroupLister, ListedPage};
use crate::cams::{CamsError, ChatGroupApi, Credentials, ListChatGroup, ListedGroup};

/// Lists groups through a [`ChatGroupApi`].
pub struct CamsLister {
    cams: Arc<dyn ChatGroupApi>,
}

impl CamsLister {
    /// A lister over `cams`.
    pub fn new(cams: Arc<dyn ChatGroupApi>) -> Self {
        Self { cams }
    }
}

#[async_trait]
impl GroupLister for CamsLister {
    async fn list_page(
        &self,
        key: &AccountKey,
        credentials: &Credentials,
        index: u32,
        size: u32,
    ) -> Result<ListedPage, CamsError> {
        let request = ListChatGroup {
            business_number: key.business_number.clone(),
            cust_space_id: key.cust_space_id.clone(),
            channel_type: Some("WHATSAPP".into()),
            page_index: index,
            page_size: size,
            group_status: None,
            subject: None,
        };
        let page = self
            .cams
            .list_chat_group(key.region.clone(), credentials, &request)
            .await?;
        Ok(ListedPage {
            rows: page.groups.into_iter().filter_map(row).collect(),
            total: page.total,
        })
    }
}

/// The row of a listed group; a group without a GroupId cannot be matched to anything and
/// is left out. The invite link is reduced to whether there is one.
fn row(group: ListedGroup) -> Option<GroupRow> {
    let group_id = group.group_id.filter(|id| !id.is_empty())?;
    Some(GroupRow {
        group_id,
        group_status: group.group_status,
        subject: group.subject,
        description: group.description,
        profile_picture_file: group.profile_picture_file,
        invite_link_present: Some(group.invite_link.as_ref().is_some_and(|l| !l.is_empty())),
        invite_link: group
            .invite_link
            .filter(|l| !l.is_empty())
            .map(crate::cams::redact::SecretString::new),
        total_participant_count: group.total_participant_count,
    })
}

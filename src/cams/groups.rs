//! The group actions the operator sends, as typed requests that turn into parameters, and
//! their typed answers (`ListChatGroup`'s page, `AddChatGroup`'s UniqueCode,
//! `AddChatGroupInviteLink`'s link).

use std::fmt;

use serde_json::{Map, Value};

use super::redact::SecretString;
use super::response::Response;

/// The parameters of a request: the required ones, then the optional ones that are `Some`,
/// sorted by name.
fn sorted_params(
    required: &[(&str, &String)],
    optional: &[(&str, &Option<String>)],
) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> = required
        .iter()
        .map(|(name, value)| (name.to_string(), (*value).clone()))
        .collect();
    for (name, value) in optional {
        if let Some(value) = value {
            params.push((name.to_string(), value.clone()));
        }
    }
    params.sort();
    params
}

/// `UpdateChatGroup`: only the optional fields that are `Some` are sent and changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UpdateChatGroup {
    /// `BusinessNumber` (required): the WhatsApp business number, digits only.
    pub business_number: String,
    /// `CustSpaceId` (required): the CAMS customer space.
    pub cust_space_id: String,
    /// `GroupId` (required): the group to update.
    pub group_id: String,
    /// `ChannelType`, e.g. `WHATSAPP`.
    pub channel_type: Option<String>,
    /// `Subject`: the group's name as members see it.
    pub subject: Option<String>,
    /// `Description` (`Some("")` clears it).
    pub description: Option<String>,
    /// `ProfilePictureFile`, a URL.
    pub profile_picture_file: Option<String>,
}

impl UpdateChatGroup {
    /// The CAMS action name.
    pub const ACTION: &'static str = "UpdateChatGroup";

    /// The parameters to send, sorted by name.
    pub fn params(&self) -> Vec<(String, String)> {
        sorted_params(
            &[
                ("BusinessNumber", &self.business_number),
                ("CustSpaceId", &self.cust_space_id),
                ("GroupId", &self.group_id),
            ],
            &[
                ("ChannelType", &self.channel_type),
                ("Description", &self.description),
                ("ProfilePictureFile", &self.profile_picture_file),
                ("Subject", &self.subject),
            ],
        )
    }
}

/// `AddChatGroup`: creates a group. Not idempotent: sending it twice creates two groups, and
/// CAMS has no idempotency token. The answer carries a `UniqueCode`, never a GroupId: the
/// new group is found afterwards with `ListChatGroup` (it lists `CREATING` first).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AddChatGroup {
    /// `BusinessNumber` (required): the WhatsApp business number, digits only.
    pub business_number: String,
    /// `CustSpaceId` (required): the CAMS customer space.
    pub cust_space_id: String,
    /// `ChannelType`, e.g. `WHATSAPP`.
    pub channel_type: Option<String>,
    /// `Subject`: the group's name as members see it.
    pub subject: Option<String>,
    /// `Description`.
    pub description: Option<String>,
}

impl AddChatGroup {
    /// The CAMS action name.
    pub const ACTION: &'static str = "AddChatGroup";

    /// The parameters to send, sorted by name.
    pub fn params(&self) -> Vec<(String, String)> {
        sorted_params(
            &[
                ("BusinessNumber", &self.business_number),
                ("CustSpaceId", &self.cust_space_id),
            ],
            &[
                ("ChannelType", &self.channel_type),
                ("Description", &self.description),
                ("Subject", &self.subject),
            ],
        )
    }
}

/// The identity of one group and its channel: the whole request of `DeleteChatGroup`,
/// `AddChatGroupInviteLink` and `DeleteChatGroupInviteLink`.
macro_rules! group_action {
    ($(#[$doc:meta])* $name:ident, $action:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Default, PartialEq, Eq)]
        pub struct $name {
            /// `BusinessNumber` (required): the WhatsApp business number, digits only.
            pub business_number: String,
            /// `CustSpaceId` (required): the CAMS customer space.
            pub cust_space_id: String,
            /// `GroupId` (required): the group.
            pub group_id: String,
            /// `ChannelType`, e.g. `WHATSAPP`.
            pub channel_type: Option<String>,
        }

        impl $name {
            /// The CAMS action name.
            pub const ACTION: &'static str = $action;

            /// The parameters to send, sorted by name.
            pub fn params(&self) -> Vec<(String, String)> {
                sorted_params(
                    &[
                        ("BusinessNumber", &self.business_number),
                        ("CustSpaceId", &self.cust_space_id),
                        ("GroupId", &self.group_id),
                    ],
                    &[("ChannelType", &self.channel_type)],
                )
            }
        }
    };
}

group_action!(
    /// `DeleteChatGroup`: deletes the group (it cannot be undone). CAMS may list it
    /// `DELETING` for a while before it disappears.
    DeleteChatGroup,
    "DeleteChatGroup"
);

group_action!(
    /// `AddChatGroupInviteLink`: gives the group an invite link; on a group that has one it
    /// resets it (a new link; the old one stops working). Not idempotent for that reason.
    AddChatGroupInviteLink,
    "AddChatGroupInviteLink"
);

group_action!(
    /// `DeleteChatGroupInviteLink`: removes the group's invite link.
    DeleteChatGroupInviteLink,
    "DeleteChatGroupInviteLink"
);

/// `AddChatGroup`'s successful answer: the response (envelope and body) and its `UniqueCode`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddedGroup {
    /// The whole answer, as every action returns it.
    pub response: Response,
    /// `UniqueCode`; `None` when CAMS left it out (the create was still accepted: find the
    /// group with `ListChatGroup`).
    pub unique_code: Option<String>,
}

impl AddedGroup {
    /// Reads `UniqueCode` (a string, or a number as its text) from a successful answer.
    pub fn from_response(response: Response) -> Self {
        let unique_code = text(response.body.get("UniqueCode")).filter(|c| !c.is_empty());
        Self {
            response,
            unique_code,
        }
    }
}

/// `AddChatGroupInviteLink`'s successful answer. The link is a capability (anyone holding it
/// joins the group): it is kept as a [`SecretString`] only, so `Debug` prints `***`, and it
/// is masked everywhere in `response` (its `body` and envelope).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddedInviteLink {
    /// The whole answer, with the link masked as `***`.
    pub response: Response,
    /// `InviteLink`; `None` when CAMS answered OK without one (the current link is then the
    /// `InviteLink` of the group's `ListChatGroup` row).
    pub invite_link: Option<SecretString>,
}

impl AddedInviteLink {
    /// Takes `InviteLink` out of a successful answer and masks it in the rest.
    pub fn from_response(mut response: Response) -> Self {
        let invite_link = response.take_secret("InviteLink");
        Self {
            response,
            invite_link,
        }
    }
}

/// `ListChatGroup`: one page of the groups of a business number, optionally filtered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListChatGroup {
    /// `BusinessNumber` (required): the WhatsApp business number, digits only.
    pub business_number: String,
    /// `CustSpaceId` (required): the CAMS customer space.
    pub cust_space_id: String,
    /// `ChannelType`, e.g. `WHATSAPP`.
    pub channel_type: Option<String>,
    /// `Page.Index`: the page, from 1.
    pub page_index: u32,
    /// `Page.Size`: groups per page.
    pub page_size: u32,
    /// `GroupStatus` filter: ACTIVE, INACTIVE, SUSPENDED, CREATING, DELETING or UPDATING.
    pub group_status: Option<String>,
    /// `Subject` filter.
    pub subject: Option<String>,
}

impl ListChatGroup {
    /// The CAMS action name.
    pub const ACTION: &'static str = "ListChatGroup";

    /// The first page of `page_size` groups of a business number, unfiltered.
    pub fn first_page(
        business_number: impl Into<String>,
        cust_space_id: impl Into<String>,
        page_size: u32,
    ) -> Self {
        Self {
            business_number: business_number.into(),
            cust_space_id: cust_space_id.into(),
            channel_type: None,
            page_index: 1,
            page_size,
            group_status: None,
            subject: None,
        }
    }

    /// The same request for the next page.
    pub fn next_page(&self) -> Self {
        Self {
            page_index: self.page_index.saturating_add(1),
            ..self.clone()
        }
    }

    /// The `Page` parameter: JSON exactly `{"Index":1,"Size":20}` (no spaces, Index first).
    pub fn page_json(&self) -> String {
        format!(
            "{{\"Index\":{},\"Size\":{}}}",
            self.page_index, self.page_size
        )
    }

    /// The parameters to send, sorted by name.
    pub fn params(&self) -> Vec<(String, String)> {
        let mut params = vec![
            ("BusinessNumber".to_string(), self.business_number.clone()),
            ("CustSpaceId".to_string(), self.cust_space_id.clone()),
            ("Page".to_string(), self.page_json()),
        ];
        let optional = [
            ("ChannelType", &self.channel_type),
            ("GroupStatus", &self.group_status),
            ("Subject", &self.subject),
        ];
        for (name, value) in optional {
            if let Some(value) = value {
                params.push((name.to_string(), value.clone()));
            }
        }
        params.sort();
        params
    }
}

/// One page of `ListChatGroup`'s answer (`Data`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupPage {
    /// `Data.Total`: how many groups match, over every page (when CAMS says).
    pub total: Option<u64>,
    /// `Data.List`: the groups of this page, as listed.
    pub groups: Vec<ListedGroup>,
}

/// One group as `ListChatGroup` lists it. Every field is optional: CAMS may leave any out.
/// `Debug` never prints the invite link (anyone holding it can join the group).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ListedGroup {
    /// `GroupId`.
    pub group_id: Option<String>,
    /// `Subject`: the group's name.
    pub subject: Option<String>,
    /// `Description`.
    pub description: Option<String>,
    /// `ProfilePictureFile`: the picture as CAMS lists it.
    pub profile_picture_file: Option<String>,
    /// `GroupStatus`: ACTIVE, INACTIVE, SUSPENDED, CREATING, DELETING or UPDATING.
    pub group_status: Option<String>,
    /// `InviteLink`: a capability, handled like a secret.
    pub invite_link: Option<String>,
    /// `TotalParticipantCount`.
    pub total_participant_count: Option<i64>,
    /// `BusinessNumber`.
    pub business_number: Option<String>,
    /// `BusinessRole`.
    pub business_role: Option<String>,
    /// `GroupLink`.
    pub group_link: Option<String>,
    /// `GroupType`.
    pub group_type: Option<String>,
    /// `GmtModifier` (its unit is not documented).
    pub gmt_modifier: Option<i64>,
}

impl fmt::Debug for ListedGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let invite_link = self.invite_link.as_ref().map(|_| "<redacted>");
        f.debug_struct("ListedGroup")
            .field("group_id", &self.group_id)
            .field("subject", &self.subject)
            .field("description", &self.description)
            .field("profile_picture_file", &self.profile_picture_file)
            .field("group_status", &self.group_status)
            .field("invite_link", &invite_link)
            .field("total_participant_count", &self.total_participant_count)
            .field("business_number", &self.business_number)
            .field("business_role", &self.business_role)
            .field("group_link", &self.group_link)
            .field("group_type", &self.group_type)
            .field("gmt_modifier", &self.gmt_modifier)
            .finish()
    }
}

impl GroupPage {
    /// Decodes a successful answer's body leniently: numbers may arrive as strings (and
    /// strings as numbers), unknown fields are ignored. `None` when `Data` or `Data.List` is
    /// missing or not what it should be.
    pub fn decode(body: &Value) -> Option<Self> {
        let data = object(body.get("Data")?)?;
        let list = match data.get("List")? {
            Value::Array(items) => items,
            _ => return None,
        };
        let groups = list
            .iter()
            .map(|item| item.as_object().map(ListedGroup::decode))
            .collect::<Option<Vec<_>>>()?;
        Some(Self {
            total: integer(data.get("Total")).and_then(|n| u64::try_from(n).ok()),
            groups,
        })
    }
}

impl ListedGroup {
    fn decode(item: &Map<String, Value>) -> Self {
        let text = |key: &str| text(item.get(key));
        Self {
            group_id: text("GroupId"),
            subject: text("Subject"),
            description: text("Description"),
            profile_picture_file: text("ProfilePictureFile"),
            group_status: text("GroupStatus"),
            invite_link: text("InviteLink"),
            total_participant_count: integer(item.get("TotalParticipantCount")),
            business_number: text("BusinessNumber"),
            business_role: text("BusinessRole"),
            group_link: text("GroupLink"),
            group_type: text("GroupType"),
            gmt_modifier: integer(item.get("GmtModifier")),
        }
    }
}

/// An object, or a string holding one (some gateways send `Data` as JSON text).
fn object(value: &Value) -> Option<Map<String, Value>> {
    match value {
        Value::Object(map) => Some(map.clone()),
        Value::String(text) => match serde_json::from_str(text) {
            Ok(Value::Object(map)) => Some(map),
            _ => None,
        },
        _ => None,
    }
}

/// A string field: a string as is, a number or a boolean as its text; null or absent: `None`.
fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// An integer field: a whole number, or a string holding one; anything else is `None`.
fn integer(value: Option<&Value>) -> Option<i64> {
    match value? {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_set_fields_are_sent_and_empty_description_is_kept() {
        let req = UpdateChatGroup {
            business_number: "86".into(),
            cust_space_id: "cs".into(),
            group_id: "G".into(),
            description: Some(String::new()),
            ..Default::default()
        };
        let names: Vec<_> = req
            .params()
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        assert_eq!(
            names,
            [
                "BusinessNumber=86",
                "CustSpaceId=cs",
                "Description=",
                "GroupId=G"
            ]
        );
    }

    #[test]
    fn list_sends_page_as_one_json_parameter_index_first() {
        let req = ListChatGroup::first_page("86", "cs", 20);
        assert_eq!(req.page_json(), r#"{"Index":1,"Size":20}"#);
        assert_eq!(
            req.params(),
            [
                ("BusinessNumber".to_string(), "86".to_string()),
                ("CustSpaceId".to_string(), "cs".to_string()),
                ("Page".to_string(), r#"{"Index":1,"Size":20}"#.to_string()),
            ]
        );
        let next = req.next_page();
        assert_eq!(next.page_index, 2);
        assert_eq!(next.page_json(), r#"{"Index":2,"Size":20}"#);
        let filtered = ListChatGroup {
            channel_type: Some("WHATSAPP".into()),
            group_status: Some("ACTIVE".into()),
            subject: Some("VIP 中文".into()),
            page_index: 3,
            page_size: 1000,
            ..req
        };
        let names: Vec<_> = filtered
            .params()
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        assert_eq!(
            names,
            [
                "BusinessNumber=86",
                "ChannelType=WHATSAPP",
                "CustSpaceId=cs",
                "GroupStatus=ACTIVE",
                r#"Page={"Index":3,"Size":1000}"#,
                "Subject=VIP 中文",
            ]
        );
    }

    fn wire(params: Vec<(String, String)>) -> Vec<String> {
        params
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect()
    }

    #[test]
    fn add_sends_the_identity_and_only_the_set_fields() {
        let bare = AddChatGroup {
            business_number: "86".into(),
            cust_space_id: "cs".into(),
            ..Default::default()
        };
        assert_eq!(wire(bare.params()), ["BusinessNumber=86", "CustSpaceId=cs"]);
        let full = AddChatGroup {
            channel_type: Some("WHATSAPP".into()),
            subject: Some("VIP 中文".into()),
            description: Some(String::new()),
            ..bare
        };
        assert_eq!(
            wire(full.params()),
            [
                "BusinessNumber=86",
                "ChannelType=WHATSAPP",
                "CustSpaceId=cs",
                "Description=",
                "Subject=VIP 中文",
            ]
        );
        assert_eq!(AddChatGroup::ACTION, "AddChatGroup");
    }

    #[test]
    fn the_group_actions_send_the_identity_and_the_channel() {
        let expected = ["BusinessNumber=86", "CustSpaceId=cs", "GroupId=G"];
        let with_channel = [
            "BusinessNumber=86",
            "ChannelType=WHATSAPP",
            "CustSpaceId=cs",
            "GroupId=G",
        ];
        macro_rules! check {
            ($t:ident, $action:literal) => {
                let req = $t {
                    business_number: "86".into(),
                    cust_space_id: "cs".into(),
                    group_id: "G".into(),
                    channel_type: None,
                };
                assert_eq!(wire(req.params()), expected);
                let req = $t {
                    channel_type: Some("WHATSAPP".into()),
                    ..req
                };
                assert_eq!(wire(req.params()), with_channel);
                assert_eq!($t::ACTION, $action);
            };
        }
        check!(DeleteChatGroup, "DeleteChatGroup");
        check!(AddChatGroupInviteLink, "AddChatGroupInviteLink");
        check!(DeleteChatGroupInviteLink, "DeleteChatGroupInviteLink");
    }

    fn ok(body: Value) -> Response {
        Response {
            status: 200,
            envelope: super::super::response::Envelope::decode(body.to_string().as_bytes())
                .unwrap(),
            retry_after: None,
            server_date: None,
            body,
        }
    }

    #[test]
    fn added_group_reads_the_unique_code_leniently() {
        let added = AddedGroup::from_response(ok(
            serde_json::json!({"Code":"OK","RequestId":"R","UniqueCode":"8938abc"}),
        ));
        assert_eq!(added.unique_code.as_deref(), Some("8938abc"));
        assert_eq!(added.response.envelope.request_id.as_deref(), Some("R"));
        let number = AddedGroup::from_response(ok(serde_json::json!({"UniqueCode":8938})));
        assert_eq!(number.unique_code.as_deref(), Some("8938"));
        for body in [
            serde_json::json!({"Code":"OK"}),
            serde_json::json!({"UniqueCode":null}),
            serde_json::json!({"UniqueCode":""}),
            serde_json::json!({"UniqueCode":{"x":1}}),
        ] {
            assert_eq!(
                AddedGroup::from_response(ok(body.clone())).unique_code,
                None,
                "{body}"
            );
        }
    }

    #[test]
    fn an_added_invite_link_is_a_secret_and_masked_in_the_response() {
        let added = AddedInviteLink::from_response(ok(serde_json::json!({
            "Code":"OK","RequestId":"R","InviteLink":"https://chat.whatsapp.com/SECRETCODE"
        })));
        assert_eq!(
            added.invite_link.as_ref().map(SecretString::expose),
            Some("https://chat.whatsapp.com/SECRETCODE")
        );
        let shown = format!("{added:?} {added:#?} {}", added.response.body);
        assert!(!shown.contains("SECRETCODE"), "{shown}");
        assert_eq!(added.response.body["InviteLink"], "***");
        let none = AddedInviteLink::from_response(ok(serde_json::json!({"Code":"OK"})));
        assert!(none.invite_link.is_none());
    }

    fn decode(body: &str) -> Option<GroupPage> {
        GroupPage::decode(&serde_json::from_str(body).unwrap())
    }

    #[test]
    fn decodes_every_documented_item_field() {
        let page = decode(
            r#"{"RequestId":"R","Code":"OK","Success":true,"Data":{"Total":2,"List":[
              {"BusinessNumber":"8613800001234","BusinessRole":"OWNER","Description":"Priority line",
               "GmtModifier":1795000000000,"GroupId":"EA303XYZ","GroupLink":"gl","GroupStatus":"ACTIVE",
               "GroupType":"NORMAL","InviteLink":"https://chat.whatsapp.com/abc","ProfilePictureFile":"https://cdn.example.com/vip.jpg",
               "Subject":"VIP","TotalParticipantCount":5,"SomethingNew":{"x":1}},
              {"GroupId":"G2"}]}}"#,
        )
        .unwrap();
        assert_eq!(page.total, Some(2));
        assert_eq!(
            page.groups[0],
            ListedGroup {
                group_id: Some("EA303XYZ".into()),
                subject: Some("VIP".into()),
                description: Some("Priority line".into()),
                profile_picture_file: Some("https://cdn.example.com/vip.jpg".into()),
                group_status: Some("ACTIVE".into()),
                invite_link: Some("https://chat.whatsapp.com/abc".into()),
                total_participant_count: Some(5),
                business_number: Some("8613800001234".into()),
                business_role: Some("OWNER".into()),
                group_link: Some("gl".into()),
                group_type: Some("NORMAL".into()),
                gmt_modifier: Some(1_795_000_000_000),
            }
        );
        // A sparse item: only what CAMS sent.
        assert_eq!(
            page.groups[1],
            ListedGroup {
                group_id: Some("G2".into()),
                ..Default::default()
            }
        );
    }

    #[test]
    fn numbers_may_arrive_as_strings_and_strings_as_numbers() {
        let page = decode(
            r#"{"Data":{"Total":"3","List":[{"GroupId":12345,"BusinessNumber":8613800001234,
                "TotalParticipantCount":"7","GmtModifier":" 17 ","Subject":null},
               {"GroupId":"G","TotalParticipantCount":"many","GmtModifier":2.0}]}}"#,
        )
        .unwrap();
        assert_eq!(page.total, Some(3));
        let first = &page.groups[0];
        assert_eq!(first.group_id.as_deref(), Some("12345"));
        assert_eq!(first.business_number.as_deref(), Some("8613800001234"));
        assert_eq!(first.total_participant_count, Some(7));
        assert_eq!(first.gmt_modifier, Some(17));
        assert_eq!(first.subject, None);
        assert_eq!(page.groups[1].total_participant_count, None);
        assert_eq!(page.groups[1].gmt_modifier, Some(2));
        // Data as JSON text, an empty page and no Total.
        let page = decode(r#"{"Data":"{\"List\":[]}"}"#).unwrap();
        assert_eq!(page, GroupPage::default());
    }

    #[test]
    fn a_missing_data_or_list_is_not_a_page() {
        for body in [
            r#"{"Code":"OK"}"#,
            r#"{"Data":null}"#,
            r#"{"Data":{"Total":1}}"#,
            r#"{"Data":{"List":{"GroupId":"G"}}}"#,
            r#"{"Data":{"List":["G"]}}"#,
            r#"{"Data":"not json"}"#,
            "null",
        ] {
            assert_eq!(decode(body), None, "{body}");
        }
    }

    #[test]
    fn debug_never_prints_the_invite_link() {
        let group = ListedGroup {
            group_id: Some("G".into()),
            invite_link: Some("https://chat.whatsapp.com/SECRETCODE".into()),
            ..Default::default()
        };
        let shown = format!("{group:?} {group:#?}");
        assert!(!shown.contains("SECRETCODE"), "{shown}");
        assert!(
            shown.contains(r#"invite_link: Some("<redacted>")"#),
            "{shown}"
        );
        let page = GroupPage {
            total: Some(1),
            groups: vec![group],
        };
        assert!(!format!("{page:?}").contains("SECRETCODE"));
        assert!(format!("{:?}", ListedGroup::default()).contains("invite_link: None"));
    }
}

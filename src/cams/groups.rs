//! The group actions the operator sends, as typed requests that turn into parameters.

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
        let mut params = vec![
            ("BusinessNumber".to_string(), self.business_number.clone()),
            ("CustSpaceId".to_string(), self.cust_space_id.clone()),
            ("GroupId".to_string(), self.group_id.clone()),
        ];
        let optional = [
            ("ChannelType", &self.channel_type),
            ("Description", &self.description),
            ("ProfilePictureFile", &self.profile_picture_file),
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
}

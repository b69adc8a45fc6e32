//! The eight CAMS group actions over the in-memory state, with CAMS's validation codes and
//! the tenant's realism knobs (`crate::realism`).

use serde_json::{json, Map, Value};

use crate::envelope::ApiError;
use crate::realism::{
    picture_copy_url, CreateFailureMode, GroupIdWhileCreating, ListOrder, UpdateField,
};
use crate::state::{
    new_group_id, new_invite_link, new_unique_code, CreateOutcome, Group, PendingCreate,
    PendingUpdate, State,
};

/// The actions the simulator implements.
pub const ACTIONS: [&str; 8] = [
    "UpdateChatGroup",
    "AddChatGroup",
    "ListChatGroup",
    "DeleteChatGroup",
    "AddChatGroupInviteLink",
    "DeleteChatGroupInviteLink",
    "ListChatGroupParticipants",
    "DeleteChatGroupParticipants",
];

/// Subject limit (characters, whitespace trimmed).
pub const MAX_SUBJECT_CHARS: usize = 128;
/// Description limit (characters).
pub const MAX_DESCRIPTION_CHARS: usize = 2048;
/// Largest accepted page size of ListChatGroupParticipants (ListChatGroup's is the realism
/// knob `maxPageSize`, 100 by default).
pub const MAX_PAGE_SIZE: u64 = 100;

/// The valid `GroupStatus` values.
pub const GROUP_STATUSES: [&str; 6] = [
    "ACTIVE",
    "INACTIVE",
    "SUSPENDED",
    "CREATING",
    "DELETING",
    "UPDATING",
];

/// Read access to the business parameters of one call.
#[derive(Clone, Copy, Debug)]
pub struct Params<'a>(pub &'a [(String, String)]);

impl<'a> Params<'a> {
    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A non-empty value of `name`, or `MissingParameter`.
    pub fn required(&self, name: &str) -> Result<&'a str, ApiError> {
        match self.get(name) {
            Some(v) if !v.trim().is_empty() => Ok(v),
            _ => Err(ApiError::missing(name)),
        }
    }
}

/// Runs one action at `now_ms` (milliseconds since the epoch: the time updates are stamped
/// with and pending updates are due against); returns the fields to put beside the envelope.
pub fn dispatch(
    action: &str,
    p: Params<'_>,
    state: &mut State,
    now_ms: i64,
) -> Result<Map<String, Value>, ApiError> {
    match action {
        "UpdateChatGroup" => update_chat_group(p, state, now_ms),
        "AddChatGroup" => add_chat_group(p, state, now_ms),
        "ListChatGroup" => list_chat_group(p, state, now_ms),
        "DeleteChatGroup" => delete_chat_group(p, state, now_ms),
        "AddChatGroupInviteLink" => add_invite_link(p, state, now_ms),
        "DeleteChatGroupInviteLink" => delete_invite_link(p, state, now_ms),
        "ListChatGroupParticipants" => list_participants(p, state, now_ms),
        "DeleteChatGroupParticipants" => delete_participants(p, state, now_ms),
        _ => Err(unknown_action()),
    }
}

/// `InvalidAction.NotFound`.
pub fn unknown_action() -> ApiError {
    ApiError::new(
        "InvalidAction.NotFound",
        "Specified api is not found, please check your url and method.",
    )
}

fn fields(pairs: impl IntoIterator<Item = (&'static str, Value)>) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// The identity every per-group action starts with.
struct GroupRef<'a> {
    cust_space_id: &'a str,
    business_number: &'a str,
    group_id: &'a str,
}

fn group_ref<'a>(p: Params<'a>) -> Result<GroupRef<'a>, ApiError> {
    let business_number = p.required("BusinessNumber")?;
    let cust_space_id = p.required("CustSpaceId")?;
    let group_id = p.required("GroupId")?;
    check_channel_type(p)?;
    Ok(GroupRef {
        cust_space_id,
        business_number,
        group_id,
    })
}

fn group_not_exist(r: &GroupRef<'_>) -> ApiError {
    ApiError::invalid(
        "GroupNotExist",
        format!(
            "The group {} of business number {} does not exist in space {}.",
            r.group_id, r.business_number, r.cust_space_id
        ),
    )
}

/// The group, settled at `now_ms` (a due creation ended, a due update applied); a group
/// that is gone by then is removed and answers `GroupNotExist`.
fn find_mut<'s>(
    state: &'s mut State,
    r: &GroupRef<'_>,
    now_ms: i64,
) -> Result<&'s mut Group, ApiError> {
    let key = (r.business_number.to_string(), r.group_id.to_string());
    let groups = state
        .tenants
        .get_mut(r.cust_space_id)
        .ok_or_else(|| group_not_exist(r))?;
    let gone = match groups.get_mut(&key) {
        Some(group) => {
            group.settle(now_ms);
            group.is_gone(now_ms)
        }
        None => return Err(group_not_exist(r)),
    };
    if gone {
        groups.remove(&key);
        return Err(group_not_exist(r));
    }
    groups.get_mut(&key).ok_or_else(|| group_not_exist(r))
}

fn check_channel_type(p: Params<'_>) -> Result<(), ApiError> {
    match p.get("ChannelType") {
        None | Some("") | Some("WHATSAPP") => Ok(()),
        Some(other) => Err(ApiError::invalid(
            "ChannelTypeNotSupport",
            format!("The channel type {other:?} is not supported: the only value is WHATSAPP."),
        )),
    }
}

fn check_subject(subject: &str) -> Result<(), ApiError> {
    let n = subject.trim().chars().count();
    if n == 0 {
        return Err(ApiError::invalid("Subject", "Subject must not be empty."));
    }
    if n > MAX_SUBJECT_CHARS {
        return Err(ApiError::invalid(
            "Subject",
            format!("Subject is {n} characters long; at most {MAX_SUBJECT_CHARS} are allowed."),
        ));
    }
    Ok(())
}

fn check_description(description: &str) -> Result<(), ApiError> {
    let n = description.chars().count();
    if n > MAX_DESCRIPTION_CHARS {
        return Err(ApiError::invalid(
            "Description",
            format!(
                "Description is {n} characters long; at most {MAX_DESCRIPTION_CHARS} are allowed."
            ),
        ));
    }
    Ok(())
}

/// An http(s) URL whose path ends in `.jpg` or `.jpeg` (any case).
fn check_picture(url: &str) -> Result<(), ApiError> {
    let invalid = |why: &str| {
        ApiError::invalid(
            "ProfilePictureFile",
            format!("ProfilePictureFile {url:?} is not valid: {why}."),
        )
    };
    let lower = url.trim().to_ascii_lowercase();
    let Some(rest) = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
    else {
        return Err(invalid("expected an http(s) URL"));
    };
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let Some((host, path)) = rest.split_once('/') else {
        return Err(invalid("the URL has no path"));
    };
    if host.is_empty() {
        return Err(invalid("the URL has no host"));
    }
    if !(path.ends_with(".jpg") || path.ends_with(".jpeg")) {
        return Err(invalid("only image/jpeg (.jpg, .jpeg) is supported"));
    }
    Ok(())
}

fn update_chat_group(
    p: Params<'_>,
    state: &mut State,
    now_ms: i64,
) -> Result<Map<String, Value>, ApiError> {
    let r = group_ref(p)?;
    let subject = p.get("Subject");
    let description = p.get("Description");
    let picture = p.get("ProfilePictureFile");
    if let Some(s) = subject {
        check_subject(s)?;
    }
    if let Some(d) = description {
        check_description(d)?;
    }
    if let Some(url) = picture {
        check_picture(url)?;
    }
    // The group must exist before the call counts against `neverApply`.
    find_mut(state, &r, now_ms)?;
    let sent: Vec<UpdateField> = [
        (UpdateField::Subject, subject),
        (UpdateField::Description, description),
        (UpdateField::ProfilePictureFile, picture),
    ]
    .into_iter()
    .filter_map(|(f, v)| v.map(|_| f))
    .collect();
    let realism = state.realism_for_mut(r.cust_space_id);
    let withheld = realism.withhold(&sent);
    let (delay_ms, picture_copy) = (realism.update_delay_ms, realism.picture_copy);
    let kept =
        |f: UpdateField, v: Option<&str>| v.filter(|_| !withheld.contains(&f)).map(str::to_string);
    let mut update = PendingUpdate {
        subject: kept(UpdateField::Subject, subject),
        description: kept(UpdateField::Description, description),
        profile_picture_file: kept(UpdateField::ProfilePictureFile, picture).map(|url| {
            if picture_copy {
                picture_copy_url(r.cust_space_id, &url)
            } else {
                url
            }
        }),
        apply_at_ms: now_ms,
        status_after: String::new(),
    };
    let group = find_mut(state, &r, now_ms)?;
    // A pending update is applied before this one is layered on.
    group.flush(now_ms);
    update.status_after = group.group_status.clone();
    // A group being created or deleted takes an update at once, and keeps its status.
    if delay_ms == 0 || group.in_transition() {
        // When Meta accepted and then failed every setting sent, the group is untouched.
        let all_withheld = update.is_empty() && !withheld.is_empty();
        if !all_withheld {
            group.apply(update);
        }
    } else {
        update.apply_at_ms = now_ms.saturating_add(i64::try_from(delay_ms).unwrap_or(i64::MAX));
        group.group_status = "UPDATING".into();
        group.touch(now_ms);
        group.pending_update = Some(update);
    }
    Ok(fields([("Result", json!(1))]))
}

fn add_chat_group(
    p: Params<'_>,
    state: &mut State,
    now_ms: i64,
) -> Result<Map<String, Value>, ApiError> {
    let business_number = p.required("BusinessNumber")?;
    let cust_space_id = p.required("CustSpaceId")?;
    check_channel_type(p)?;
    let subject = p.get("Subject");
    let description = p.get("Description");
    if let Some(s) = subject {
        check_subject(s)?;
    }
    if let Some(d) = description {
        check_description(d)?;
    }
    let realism = state.realism_for_mut(cust_space_id);
    let failure = realism.take_create_failure();
    let (delay_ms, with_link) = (realism.create_delay_ms, realism.invite_link_at_creation);
    let outcome = match failure {
        None => CreateOutcome::Active,
        Some(CreateFailureMode::Inactive) => CreateOutcome::Inactive,
        Some(CreateFailureMode::Vanish) => CreateOutcome::Vanish,
    };
    let unique_code = new_unique_code();
    let answer = fields([("UniqueCode", json!(unique_code))]);
    if delay_ms == 0 && outcome == CreateOutcome::Vanish {
        // Accepted, and gone before anyone could see it.
        return Ok(answer);
    }
    let created_seq = state.next_created_seq();
    let groups = state.tenants.entry(cust_space_id.to_string()).or_default();
    let mut group_id = new_group_id();
    while groups.contains_key(&(business_number.to_string(), group_id.clone())) {
        group_id = new_group_id();
    }
    let (group_status, pending_create) = if delay_ms == 0 {
        let status = match outcome {
            CreateOutcome::Inactive => "INACTIVE",
            _ => "ACTIVE",
        };
        (status, None)
    } else {
        let done_at_ms = now_ms.saturating_add(i64::try_from(delay_ms).unwrap_or(i64::MAX));
        let pending = PendingCreate {
            done_at_ms,
            outcome,
        };
        ("CREATING", Some(pending))
    };
    let group = Group {
        cust_space_id: cust_space_id.to_string(),
        business_number: business_number.to_string(),
        group_id: group_id.clone(),
        subject: subject.map(str::to_string),
        description: description.map(str::to_string),
        profile_picture_file: None,
        group_status: group_status.into(),
        group_type: "NORMAL".into(),
        group_link: p.get("GroupLink").map(str::to_string),
        invite_link: with_link.then(new_invite_link),
        business_role: "OWNER".into(),
        participants: Vec::new(),
        unique_code,
        gmt_create: now_ms,
        gmt_modifier: now_ms,
        created_seq,
        pending_update: None,
        pending_create,
        delete_at_ms: None,
    };
    groups.insert((business_number.to_string(), group_id), group);
    Ok(answer)
}

/// Parses `Page` (`{"Index":1,"Size":20}`, Size at most `max_size`); `None` when absent.
fn page(p: Params<'_>, required: bool, max_size: u64) -> Result<Option<(u64, u64)>, ApiError> {
    let raw = match p.get("Page") {
        Some(v) if !v.trim().is_empty() => v,
        _ if required => return Err(ApiError::missing("Page")),
        _ => return Ok(None),
    };
    let invalid = |why: &str| {
        ApiError::invalid(
            "PageInvalid",
            format!(
                "Page {raw:?} is not valid: {why}; expected {{\"Index\":1,\"Size\":20}} with Index >= 1 and 1 <= Size <= {max_size}."
            ),
        )
    };
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(raw) else {
        return Err(invalid("not a JSON object"));
    };
    let number = |name: &str| -> Result<u64, ApiError> {
        match map.get(name) {
            Some(Value::Number(n)) => n
                .as_u64()
                .ok_or_else(|| invalid(&format!("{name} is not a whole number"))),
            Some(Value::String(s)) => s
                .parse()
                .map_err(|_| invalid(&format!("{name} is not a whole number"))),
            _ => Err(invalid(&format!("{name} is missing"))),
        }
    };
    let index = number("Index")?;
    let size = number("Size")?;
    if index < 1 {
        return Err(invalid("Index starts at 1"));
    }
    if size < 1 {
        return Err(invalid("Size is out of range"));
    }
    if size > max_size {
        return Err(invalid(&format!(
            "Size {size} is larger than the largest page size, {max_size}"
        )));
    }
    Ok(Some((index, size)))
}

fn page_slice<T>(items: impl Iterator<Item = T>, index: u64, size: u64) -> Vec<T> {
    let skip = (index - 1).saturating_mul(size);
    items
        .skip(usize::try_from(skip).unwrap_or(usize::MAX))
        .take(usize::try_from(size).unwrap_or(usize::MAX))
        .collect()
}

/// The documented fields of a ListChatGroup row, every one present (`null` when unset).
pub const LIST_FIELDS: [&str; 12] = [
    "BusinessNumber",
    "BusinessRole",
    "Description",
    "GmtModifier",
    "GroupId",
    "GroupLink",
    "GroupStatus",
    "GroupType",
    "InviteLink",
    "ProfilePictureFile",
    "Subject",
    "TotalParticipantCount",
];

/// One ListChatGroup row; with `hide_creating_id` a `CREATING` group's GroupId is null.
fn list_item(g: &Group, hide_creating_id: bool) -> Value {
    let group_id = (!(hide_creating_id && g.group_status == "CREATING")).then_some(&g.group_id);
    json!({
        "BusinessNumber": g.business_number,
        "BusinessRole": g.business_role,
        "Description": g.description,
        "GmtModifier": g.gmt_modifier,
        "GroupId": group_id,
        "GroupLink": g.group_link,
        "GroupStatus": g.group_status,
        "GroupType": g.group_type,
        "InviteLink": g.invite_link,
        "ProfilePictureFile": g.profile_picture_file,
        "Subject": g.subject,
        "TotalParticipantCount": g.participants.len(),
    })
}

fn list_chat_group(
    p: Params<'_>,
    state: &mut State,
    now_ms: i64,
) -> Result<Map<String, Value>, ApiError> {
    let business_number = p.required("BusinessNumber")?;
    let cust_space_id = p.required("CustSpaceId")?;
    let realism = state.realism_for(cust_space_id);
    let (subject_filter, list_order) = (realism.subject_filter, realism.list_order);
    let hide_creating_id = realism.group_id_while_creating == GroupIdWhileCreating::Hidden;
    let max_size = u64::from(realism.max_page_size);
    let (index, size) = page(p, true, max_size)?.unwrap_or((1, 20));
    check_channel_type(p)?;
    let nonempty = |name: &str| p.get(name).filter(|v| !v.is_empty());
    let status = nonempty("GroupStatus");
    if let Some(s) = status {
        if !GROUP_STATUSES.contains(&s) {
            return Err(ApiError::invalid(
                "GroupStatus",
                format!(
                    "GroupStatus {s:?} is not one of {}.",
                    GROUP_STATUSES.join(", ")
                ),
            ));
        }
    }
    let subject = nonempty("Subject");
    let group_type = nonempty("GroupType");
    let group_link = nonempty("GroupLink");
    let matches = |g: &&Group| {
        status.is_none_or(|s| g.group_status == s)
            && subject.is_none_or(|s| {
                g.subject
                    .as_deref()
                    .is_some_and(|gs| subject_filter.matches(gs, s))
            })
            && group_type.is_none_or(|t| g.group_type == t)
            && group_link.is_none_or(|l| g.group_link.as_deref() == Some(l))
    };
    let Some(groups) = state.tenants.get_mut(cust_space_id) else {
        return Ok(fields([("Data", json!({ "Total": 0, "List": [] }))]));
    };
    let first = (business_number.to_string(), String::new());
    let mut gone = Vec::new();
    for (key, g) in groups
        .range_mut(first.clone()..)
        .take_while(|((bn, _), _)| bn == business_number)
    {
        g.settle(now_ms);
        if g.is_gone(now_ms) {
            gone.push(key.clone());
        }
    }
    for key in &gone {
        groups.remove(key);
    }
    let mut rows: Vec<&Group> = groups
        .range(first..)
        .take_while(|((bn, _), _)| bn == business_number)
        .map(|(_, g)| g)
        .filter(matches)
        .collect();
    match list_order {
        ListOrder::Created => rows.sort_unstable_by_key(|g| g.created_seq),
        ListOrder::NewestFirst => rows.sort_unstable_by_key(|g| std::cmp::Reverse(g.created_seq)),
    }
    let total = rows.len();
    let list: Vec<Value> = page_slice(rows.into_iter(), index, size)
        .into_iter()
        .map(|g| list_item(g, hide_creating_id))
        .collect();
    Ok(fields([("Data", json!({ "Total": total, "List": list }))]))
}

fn delete_chat_group(
    p: Params<'_>,
    state: &mut State,
    now_ms: i64,
) -> Result<Map<String, Value>, ApiError> {
    let r = group_ref(p)?;
    let delay_ms = state.realism_for(r.cust_space_id).delete_delay_ms;
    let group = find_mut(state, &r, now_ms)?;
    let deleted = fields([("Result", json!(1))]);
    if group.delete_at_ms.is_some() {
        // Already DELETING: accepted again, and the deletion keeps its time.
        return Ok(deleted);
    }
    if delay_ms == 0 {
        let key = (r.business_number.to_string(), r.group_id.to_string());
        if let Some(groups) = state.tenants.get_mut(r.cust_space_id) {
            groups.remove(&key);
        }
    } else {
        group.start_delete(
            now_ms,
            now_ms.saturating_add(i64::try_from(delay_ms).unwrap_or(i64::MAX)),
        );
    }
    Ok(deleted)
}

fn add_invite_link(
    p: Params<'_>,
    state: &mut State,
    now_ms: i64,
) -> Result<Map<String, Value>, ApiError> {
    let r = group_ref(p)?;
    let group = find_mut(state, &r, now_ms)?;
    // A new link every time: on a group that has one, the old link stops working.
    let link = new_invite_link();
    group.invite_link = Some(link.clone());
    group.touch(now_ms);
    Ok(fields([("InviteLink", json!(link))]))
}

fn delete_invite_link(
    p: Params<'_>,
    state: &mut State,
    now_ms: i64,
) -> Result<Map<String, Value>, ApiError> {
    let r = group_ref(p)?;
    let group = find_mut(state, &r, now_ms)?;
    let had = group.invite_link.take().is_some();
    group.touch(now_ms);
    Ok(fields([("Result", json!(i32::from(had)))]))
}

fn list_participants(
    p: Params<'_>,
    state: &mut State,
    now_ms: i64,
) -> Result<Map<String, Value>, ApiError> {
    let r = group_ref(p)?;
    let (index, size) = page(p, false, MAX_PAGE_SIZE)?.unwrap_or((1, 20));
    let group = find_mut(state, &r, now_ms)?;
    let list: Vec<Value> = page_slice(group.participants.iter(), index, size)
        .into_iter()
        .map(|n| json!({ "ParticipantNumber": n }))
        .collect();
    Ok(fields([(
        "Data",
        json!({ "Total": group.participants.len(), "List": list }),
    )]))
}

fn delete_participants(
    p: Params<'_>,
    state: &mut State,
    now_ms: i64,
) -> Result<Map<String, Value>, ApiError> {
    let r = group_ref(p)?;
    let raw = p.required("List")?;
    let invalid = |why: &str| {
        ApiError::invalid(
            "List",
            format!("List {raw:?} is not valid: {why}; expected [{{\"ParticipantNumber\":\"8613800000000\"}}]."),
        )
    };
    let Ok(Value::Array(items)) = serde_json::from_str::<Value>(raw) else {
        return Err(invalid("not a JSON array"));
    };
    if items.is_empty() {
        return Err(invalid("it is empty"));
    }
    let mut numbers = Vec::with_capacity(items.len());
    for item in &items {
        let number = match item.get("ParticipantNumber") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err(invalid("an item has no ParticipantNumber")),
        };
        numbers.push(number);
    }
    let group = find_mut(state, &r, now_ms)?;
    let before = group.participants.len();
    group.participants.retain(|n| !numbers.contains(n));
    let removed = before - group.participants.len();
    if removed > 0 {
        group.touch(now_ms);
    }
    Ok(fields([("Result", json!(removed))]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::GroupSeed;
    use std::time::Duration;

    fn state_with_group() -> State {
        let mut s = State::new(Duration::from_secs(900), 100);
        s.seed_group(
            GroupSeed {
                cust_space_id: "cs1".into(),
                business_number: "861".into(),
                group_id: Some("G1".into()),
                subject: Some("Old subject".into()),
                description: Some("Old description".into()),
                participants: vec!["8610".into(), "8611".into(), "8612".into()],
                ..Default::default()
            },
            1,
        );
        s
    }

    fn call(
        s: &mut State,
        action: &str,
        params: &[(&str, &str)],
    ) -> Result<Map<String, Value>, ApiError> {
        let owned: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        dispatch(action, Params(&owned), s, 1000)
    }

    fn code(r: Result<Map<String, Value>, ApiError>) -> String {
        r.unwrap_err().code
    }

    const ID: [(&str, &str); 3] = [
        ("BusinessNumber", "861"),
        ("CustSpaceId", "cs1"),
        ("GroupId", "G1"),
    ];

    fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        ID.iter().chain(extra).copied().collect()
    }

    fn group(s: &State) -> &Group {
        &s.tenants["cs1"][&("861".to_string(), "G1".to_string())]
    }

    #[test]
    fn update_changes_only_the_sent_fields() {
        let mut s = state_with_group();
        let out = call(
            &mut s,
            "UpdateChatGroup",
            &with(&[
                ("Subject", "New subject"),
                ("ChannelType", "WHATSAPP"),
                ("ProfilePictureFile", "https://cdn.example.com/a/b.JPEG?x=1"),
            ]),
        )
        .unwrap();
        assert_eq!(out["Result"], 1);
        let g = group(&s);
        assert_eq!(g.subject.as_deref(), Some("New subject"));
        assert_eq!(g.description.as_deref(), Some("Old description"));
        assert_eq!(
            g.profile_picture_file.as_deref(),
            Some("https://cdn.example.com/a/b.JPEG?x=1")
        );
        assert_eq!(g.gmt_modifier, 1000);
        // An empty description clears it.
        call(&mut s, "UpdateChatGroup", &with(&[("Description", "")])).unwrap();
        assert_eq!(group(&s).description.as_deref(), Some(""));
    }

    #[test]
    fn update_validation_codes() {
        let mut s = state_with_group();
        for missing in ["BusinessNumber", "CustSpaceId", "GroupId"] {
            let params: Vec<_> = ID.iter().filter(|(k, _)| *k != missing).copied().collect();
            let err = call(&mut s, "UpdateChatGroup", &params).unwrap_err();
            assert_eq!(err.code, "MissingParameter");
            assert!(err.message.contains(missing), "{}", err.message);
        }
        let unknown = [
            ("BusinessNumber", "861"),
            ("CustSpaceId", "cs1"),
            ("GroupId", "NOPE"),
        ];
        assert_eq!(
            code(call(&mut s, "UpdateChatGroup", &unknown)),
            "InvalidParameter.GroupNotExist"
        );
        let other_tenant = [
            ("BusinessNumber", "861"),
            ("CustSpaceId", "cs2"),
            ("GroupId", "G1"),
        ];
        assert_eq!(
            code(call(&mut s, "UpdateChatGroup", &other_tenant)),
            "InvalidParameter.GroupNotExist"
        );
        assert_eq!(
            code(call(
                &mut s,
                "UpdateChatGroup",
                &with(&[("ChannelType", "SMS")])
            )),
            "InvalidParameter.ChannelTypeNotSupport"
        );
        for bad in [
            "https://example.com/a.png",
            "https://example.com/a.jpg.png",
            "ftp://example.com/a.jpg",
            "https://example.com",
            "not a url",
            "https://example.com/a.png?x=.jpg",
        ] {
            let params = with(&[("ProfilePictureFile", bad)]);
            assert_eq!(
                code(call(&mut s, "UpdateChatGroup", &params)),
                "InvalidParameter.ProfilePictureFile",
                "{bad}"
            );
        }
        let long: &'static str = Box::leak("x".repeat(129).into_boxed_str());
        assert_eq!(
            code(call(&mut s, "UpdateChatGroup", &with(&[("Subject", long)]))),
            "InvalidParameter.Subject"
        );
        // 128 CJK characters are fine (characters, not bytes), and surrounding spaces are trimmed.
        let cjk: &'static str = Box::leak(format!("  {}  ", "中".repeat(128)).into_boxed_str());
        call(&mut s, "UpdateChatGroup", &with(&[("Subject", cjk)])).unwrap();
        let long_desc: &'static str = Box::leak("d".repeat(2049).into_boxed_str());
        assert_eq!(
            code(call(
                &mut s,
                "UpdateChatGroup",
                &with(&[("Description", long_desc)])
            )),
            "InvalidParameter.Description"
        );
        // Nothing was changed by the refused calls.
        assert_eq!(group(&s).description.as_deref(), Some("Old description"));
    }

    #[test]
    fn add_creates_a_group_and_returns_only_a_unique_code() {
        let mut s = state_with_group();
        let out = call(
            &mut s,
            "AddChatGroup",
            &[
                ("BusinessNumber", "861"),
                ("CustSpaceId", "cs9"),
                ("Subject", "Fresh"),
            ],
        )
        .unwrap();
        assert_eq!(out.len(), 1);
        let code_ = out["UniqueCode"].as_str().unwrap();
        let groups = &s.tenants["cs9"];
        assert_eq!(groups.len(), 1);
        let g = groups.values().next().unwrap();
        assert_eq!(g.unique_code, code_);
        assert_eq!(g.subject.as_deref(), Some("Fresh"));
        assert_eq!(g.group_status, "ACTIVE");
        assert!(g.group_id.starts_with("SIM"));
        // Twice creates two groups.
        call(
            &mut s,
            "AddChatGroup",
            &[("BusinessNumber", "861"), ("CustSpaceId", "cs9")],
        )
        .unwrap();
        assert_eq!(s.tenants["cs9"].len(), 2);
        assert_eq!(
            code(call(&mut s, "AddChatGroup", &[("BusinessNumber", "861")])),
            "MissingParameter"
        );
    }

    /// 25 groups of tenant `cs`: 23 of business number 861, every other one INACTIVE,
    /// `i % 3` participants.
    fn twenty_five_groups() -> State {
        let mut s = State::new(Duration::from_secs(900), 10);
        for i in 0..25 {
            s.seed_group(
                GroupSeed {
                    cust_space_id: "cs".into(),
                    business_number: if i < 23 { "861" } else { "862" }.into(),
                    group_id: Some(format!("G{i:02}")),
                    subject: Some(format!("subject {i}")),
                    group_status: Some(if i % 2 == 0 { "ACTIVE" } else { "INACTIVE" }.into()),
                    participants: vec!["1".into(); i % 3],
                    ..Default::default()
                },
                7,
            );
        }
        s
    }

    /// ListChatGroup of business number 861 in tenant `cs`, with `extra` parameters.
    fn list(s: &mut State, extra: &[(&str, &str)]) -> Result<Map<String, Value>, ApiError> {
        let mut params = vec![("BusinessNumber", "861"), ("CustSpaceId", "cs")];
        params.extend_from_slice(extra);
        call(s, "ListChatGroup", &params)
    }

    #[test]
    fn list_pages_and_filters() {
        let mut s = twenty_five_groups();
        let out = list(&mut s, &[("Page", r#"{"Index":1,"Size":20}"#)]).unwrap();
        assert_eq!(out["Data"]["Total"], 23);
        let items = out["Data"]["List"].as_array().unwrap();
        assert_eq!(items.len(), 20);
        let first = &items[0];
        assert_eq!(first["GroupId"], "G00");
        for key in [
            "BusinessNumber",
            "BusinessRole",
            "GmtModifier",
            "GroupId",
            "GroupStatus",
            "GroupType",
            "Subject",
            "TotalParticipantCount",
        ] {
            assert!(first.get(key).is_some(), "{key}");
        }
        assert_eq!(items[2]["TotalParticipantCount"], 2);
        let out = list(&mut s, &[("Page", r#"{"Index":2,"Size":20}"#)]).unwrap();
        assert_eq!(out["Data"]["List"].as_array().unwrap().len(), 3);
        let out = list(&mut s, &[("Page", r#"{"Index":9,"Size":20}"#)]).unwrap();
        assert_eq!(out["Data"]["List"].as_array().unwrap().len(), 0);
        let out = list(
            &mut s,
            &[
                ("Page", r#"{"Index":1,"Size":50}"#),
                ("GroupStatus", "ACTIVE"),
            ],
        )
        .unwrap();
        assert_eq!(out["Data"]["Total"], 12);
        let out = list(
            &mut s,
            &[
                ("Page", r#"{"Index":1,"Size":50}"#),
                ("Subject", "subject 1"),
            ],
        )
        .unwrap();
        // "subject 1", "subject 10" .. "subject 19"
        assert_eq!(out["Data"]["Total"], 11);
        // Unknown tenant: empty.
        let out = call(
            &mut s,
            "ListChatGroup",
            &[
                ("BusinessNumber", "861"),
                ("CustSpaceId", "nobody"),
                ("Page", r#"{"Index":1,"Size":20}"#),
            ],
        )
        .unwrap();
        assert_eq!(out["Data"]["Total"], 0);
    }

    #[test]
    fn list_refuses_bad_pages_channels_and_statuses() {
        let mut s = twenty_five_groups();
        let err = list(&mut s, &[]).unwrap_err();
        assert_eq!(err.code, "MissingParameter");
        assert!(err.message.contains("\"Page\""));
        for bad in [
            "1",
            "{}",
            r#"{"Index":0,"Size":20}"#,
            r#"{"Index":1,"Size":0}"#,
            r#"{"Index":1,"Size":101}"#,
            r#"{"Index":-1,"Size":10}"#,
            r#"{"Index":1.5,"Size":10}"#,
            "not json",
        ] {
            assert_eq!(
                code(list(&mut s, &[("Page", bad)])),
                "InvalidParameter.PageInvalid",
                "{bad}"
            );
        }
        assert_eq!(
            code(list(
                &mut s,
                &[("Page", r#"{"Index":1,"Size":1}"#), ("ChannelType", "x")]
            )),
            "InvalidParameter.ChannelTypeNotSupport"
        );
        assert_eq!(
            code(list(
                &mut s,
                &[("Page", r#"{"Index":1,"Size":1}"#), ("GroupStatus", "GONE")]
            )),
            "InvalidParameter.GroupStatus"
        );
    }

    #[test]
    fn delete_group() {
        let mut s = state_with_group();
        assert_eq!(call(&mut s, "DeleteChatGroup", &ID).unwrap()["Result"], 1);
        assert!(s.tenants["cs1"].is_empty());
        assert_eq!(
            code(call(&mut s, "DeleteChatGroup", &ID)),
            "InvalidParameter.GroupNotExist"
        );
        assert_eq!(
            code(call(&mut s, "DeleteChatGroup", &ID[..2])),
            "MissingParameter"
        );
    }

    #[test]
    fn invite_links() {
        let mut s = state_with_group();
        let out = call(&mut s, "AddChatGroupInviteLink", &ID).unwrap();
        let link = out["InviteLink"].as_str().unwrap().to_string();
        assert!(link.starts_with("https://chat.whatsapp.com/"));
        assert_eq!(group(&s).invite_link.as_deref(), Some(link.as_str()));
        let out = call(&mut s, "DeleteChatGroupInviteLink", &ID).unwrap();
        assert_eq!(out["Result"], 1);
        assert_eq!(group(&s).invite_link, None);
        let missing = [
            ("BusinessNumber", "861"),
            ("CustSpaceId", "cs1"),
            ("GroupId", "X"),
        ];
        assert_eq!(
            code(call(&mut s, "AddChatGroupInviteLink", &missing)),
            "InvalidParameter.GroupNotExist"
        );
        assert_eq!(
            code(call(&mut s, "DeleteChatGroupInviteLink", &missing)),
            "InvalidParameter.GroupNotExist"
        );
        assert_eq!(
            code(call(
                &mut s,
                "AddChatGroupInviteLink",
                &with(&[("ChannelType", "LINE")])
            )),
            "InvalidParameter.ChannelTypeNotSupport"
        );
    }

    #[test]
    fn participants() {
        let mut s = state_with_group();
        let out = call(&mut s, "ListChatGroupParticipants", &ID).unwrap();
        assert_eq!(out["Data"]["Total"], 3);
        assert_eq!(out["Data"]["List"][0]["ParticipantNumber"], "8610");
        let out = call(
            &mut s,
            "ListChatGroupParticipants",
            &with(&[("Page", r#"{"Index":2,"Size":2}"#)]),
        )
        .unwrap();
        assert_eq!(out["Data"]["List"].as_array().unwrap().len(), 1);
        assert_eq!(
            code(call(
                &mut s,
                "ListChatGroupParticipants",
                &with(&[("Page", r#"{"Index":0,"Size":2}"#)])
            )),
            "InvalidParameter.PageInvalid"
        );

        let out = call(
            &mut s,
            "DeleteChatGroupParticipants",
            &with(&[(
                "List",
                r#"[{"ParticipantNumber":"8610"},{"ParticipantNumber":"9999"}]"#,
            )]),
        )
        .unwrap();
        assert_eq!(out["Result"], 1);
        assert_eq!(group(&s).participants, ["8611", "8612"]);
        for bad in ["[]", "{}", "x", r#"[{"Number":"1"}]"#] {
            assert_eq!(
                code(call(
                    &mut s,
                    "DeleteChatGroupParticipants",
                    &with(&[("List", bad)])
                )),
                "InvalidParameter.List",
                "{bad}"
            );
        }
        let err = call(&mut s, "DeleteChatGroupParticipants", &ID).unwrap_err();
        assert_eq!(err.code, "MissingParameter");
        assert!(err.message.contains("\"List\""));
    }

    #[test]
    fn unknown_action() {
        let mut s = state_with_group();
        let err = call(&mut s, "SendChatappMessage", &ID).unwrap_err();
        assert_eq!(
            (err.code.as_str(), err.status),
            ("InvalidAction.NotFound", 404)
        );
    }
}

#[cfg(test)]
#[path = "actions_realism_tests.rs"]
mod realism_tests;

#[cfg(test)]
#[path = "actions_lifecycle_tests.rs"]
mod lifecycle_tests;

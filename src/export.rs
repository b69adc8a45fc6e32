//! `cams-operator export`: every group of a business number, listed page by page with
//! ListChatGroup, as `ChatGroup` manifests — a YAML stream sorted by GroupId, built from the
//! typed resource so it always matches the CRD. The invite link is never written.

use std::collections::{BTreeMap, HashSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use sha2::{Digest, Sha256};

use crate::cams::{CamsError, ChatGroupApi, Credentials, ListChatGroup, ListedGroup};
use crate::cli::ExportArgs;
use crate::resource::{ChannelType, ChatGroup, ChatGroupSpec, ManagementPolicy, SecretRef};

/// The longest `metadata.name` export writes (a DNS-1123 label).
pub const MAX_NAME: usize = 63;
/// The CRD's bounds on the fields export copies (characters).
const MAX_SUBJECT: usize = 128;
const MAX_DESCRIPTION: usize = 2048;
const MAX_PICTURE_URL: usize = 2048;

/// Why an export failed. Nothing is printed on stdout then.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A ListChatGroup call failed (already scrubbed of secrets).
    #[error("listing page {page} with ListChatGroup")]
    List {
        /// The page index that failed.
        page: u32,
        /// What CAMS or the connection answered.
        #[source]
        source: CamsError,
    },
    /// A full page held only groups already listed: CAMS ignored the page index.
    #[error("page {page} of ListChatGroup repeats groups already listed; stopping instead of listing forever")]
    NoProgress {
        /// The page index that repeated.
        page: u32,
    },
    /// Two groups would get the same `metadata.name` even with a hash of their GroupIds.
    #[error("groups {first:?} and {second:?} would both be named {name}")]
    NameCollision {
        /// The name.
        name: String,
        /// The GroupId that got it first.
        first: String,
        /// The GroupId that got it second.
        second: String,
    },
    /// A manifest could not be written as YAML.
    #[error("writing the manifests as YAML: {0}")]
    Yaml(String),
}

/// What every manifest names besides the group itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportOptions {
    /// `spec.businessNumber`.
    pub business_number: String,
    /// `spec.custSpaceId`.
    pub cust_space_id: String,
    /// `metadata.namespace`, when given.
    pub namespace: Option<String>,
    /// `spec.region`, when given.
    pub region: Option<String>,
    /// `spec.credentialsSecretRef.name`, when given.
    pub secret_ref: Option<String>,
    /// `spec.managementPolicy` (written only when Observe, Manage being the default).
    pub management_policy: ManagementPolicy,
}

impl From<&ExportArgs> for ExportOptions {
    fn from(args: &ExportArgs) -> Self {
        Self {
            business_number: args.business_number.clone(),
            cust_space_id: args.cust_space_id.clone(),
            namespace: args.namespace.clone(),
            region: args.region_given.then(|| args.cams.region.clone()),
            secret_ref: args.secret_ref.clone(),
            management_policy: args.management_policy,
        }
    }
}

/// Every group of one business number, as listed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Listing {
    /// The groups with a GroupId, each once, in the order listed.
    pub groups: Vec<ListedGroup>,
    /// Rows received over every page (with repeats and rows without a GroupId).
    pub received: usize,
    /// `Total` of the last page, when CAMS sent it.
    pub total: Option<u64>,
    /// Rows without a GroupId (they cannot be managed, so they are not exported).
    pub without_id: usize,
}

impl Listing {
    /// What a person should know about the listing: rows left out, or a Total not reached
    /// (groups deleted while listing).
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.without_id > 0 {
            warnings.push(format!(
                "{} listed rows have no GroupId and are left out",
                self.without_id
            ));
        }
        if let Some(total) = self.total.filter(|&t| (self.received as u64) < t) {
            warnings.push(format!(
                "CAMS reported {total} groups but {} were listed (groups changed while listing?)",
                self.received
            ));
        }
        warnings
    }
}

/// The progress line after a page: `listed 200/1234 groups` (or `listed 200 groups` when
/// CAMS sends no Total).
pub fn progress_line(received: usize, total: Option<u64>) -> String {
    match total {
        Some(total) => format!("listed {received}/{total} groups"),
        None => format!("listed {received} groups"),
    }
}

/// Lists every page from `first` on, until a short or empty page or until `Total` rows were
/// received, reporting a [`progress_line`] after each page.
pub async fn list_all(
    api: &dyn ChatGroupApi,
    region: Option<String>,
    credentials: &Credentials,
    first: ListChatGroup,
    mut progress: impl FnMut(String),
) -> Result<Listing, ExportError> {
    let mut listing = Listing::default();
    let mut seen = HashSet::new();
    let mut request = first;
    loop {
        let page = api
            .list_chat_group(region.clone(), credentials, &request)
            .await
            .map_err(|source| ExportError::List {
                page: request.page_index,
                source,
            })?;
        let rows = page.groups.len();
        let mut fresh = 0;
        for group in page.groups {
            match &group.group_id {
                None => listing.without_id += 1,
                Some(id) if seen.insert(id.clone()) => {
                    fresh += 1;
                    listing.groups.push(group);
                }
                Some(_) => {}
            }
        }
        listing.received += rows;
        listing.total = page.total;
        progress(progress_line(listing.received, listing.total));
        let short = rows < usize::try_from(request.page_size).unwrap_or(usize::MAX);
        let reached = page
            .total
            .is_some_and(|total| listing.received as u64 >= total);
        if short || reached || rows == 0 {
            return Ok(listing);
        }
        if fresh == 0 {
            return Err(ExportError::NoProgress {
                page: request.page_index,
            });
        }
        request = request.next_page();
    }
}

/// Manifests and what was left out of them.
#[derive(Clone, Debug, Default)]
pub struct Export {
    /// One ChatGroup per group, sorted by GroupId.
    pub objects: Vec<ChatGroup>,
    /// Fields left out because the CRD would refuse them, one line each.
    pub warnings: Vec<String>,
}

/// One manifest per group (groups without a GroupId are skipped), sorted by GroupId, each
/// with a unique name.
pub fn manifests(groups: &[ListedGroup], options: &ExportOptions) -> Result<Export, ExportError> {
    let mut sorted: Vec<(&str, &ListedGroup)> = groups
        .iter()
        .filter_map(|g| g.group_id.as_deref().map(|id| (id, g)))
        .collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut export = Export::default();
    let mut taken: BTreeMap<String, String> = BTreeMap::new();
    for (group_id, group) in sorted {
        let subject = group.subject.as_deref();
        let mut name = object_name(subject, group_id);
        if taken.contains_key(&name) {
            name = hashed_name(subject, group_id);
        }
        if let Some(first) = taken.get(&name) {
            return Err(ExportError::NameCollision {
                name,
                first: first.clone(),
                second: group_id.to_string(),
            });
        }
        taken.insert(name.clone(), group_id.to_string());
        export.objects.push(manifest(
            name,
            group_id,
            group,
            options,
            &mut export.warnings,
        ));
    }
    Ok(export)
}

/// The ChatGroup for one listed group: the listed subject, description and picture where
/// the CRD accepts them (anything else is left out, unmanaged, with a warning).
pub fn manifest(
    name: String,
    group_id: &str,
    group: &ListedGroup,
    options: &ExportOptions,
    warnings: &mut Vec<String>,
) -> ChatGroup {
    let mut keep = |value: Option<&str>, ok: fn(&str) -> bool, what: &str| match value {
        Some(v) if ok(v) => Some(v.to_string()),
        Some(_) => {
            warnings.push(format!("group {group_id}: {what}; left out (not managed)"));
            None
        }
        None => None,
    };
    let subject = keep(
        group.subject.as_deref().filter(|s| !s.trim().is_empty()),
        |s| fits(s, MAX_SUBJECT),
        "the subject is over 128 characters",
    );
    let description = keep(
        group.description.as_deref(),
        |s| fits(s, MAX_DESCRIPTION),
        "the description is over 2048 characters",
    );
    let profile_picture_url = keep(
        group
            .profile_picture_file
            .as_deref()
            .filter(|s| !s.is_empty()),
        is_picture_url,
        "the profile picture is not an absolute http(s) URL of at most 2048 characters",
    );
    let spec = ChatGroupSpec {
        business_number: options.business_number.clone(),
        cust_space_id: options.cust_space_id.clone(),
        group_id: Some(group_id.to_string()),
        deletion_policy: Default::default(),
        invite_link: None,
        channel_type: ChannelType::Whatsapp,
        subject,
        description,
        profile_picture_url,
        region: options.region.clone(),
        credentials_secret_ref: options.secret_ref.clone().map(|name| SecretRef { name }),
        management_policy: options.management_policy,
    };
    let mut object = ChatGroup::new(&name, spec);
    object.metadata = ObjectMeta {
        name: Some(name),
        namespace: options.namespace.clone(),
        ..ObjectMeta::default()
    };
    object
}

/// The manifests as a YAML stream, each document starting with `---`.
pub fn render(objects: &[ChatGroup]) -> Result<String, ExportError> {
    let mut out = String::new();
    for object in objects {
        out.push_str("---\n");
        out.push_str(
            &serde_saphyr::to_string(object).map_err(|e| ExportError::Yaml(e.to_string()))?,
        );
    }
    Ok(out)
}

fn fits(text: &str, max_chars: usize) -> bool {
    text.chars().count() <= max_chars
}

/// What the CRD accepts as `profilePictureUrl`: `^https?://`, a host right after the
/// scheme (CEL reads `https:///x` as having none), at most 2048 characters.
fn is_picture_url(text: &str) -> bool {
    let Some(rest) = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("https://"))
    else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    fits(text, MAX_PICTURE_URL)
        && !host.is_empty()
        && !host.starts_with(':')
        && reqwest::Url::parse(text).is_ok_and(|url| url.host_str().is_some_and(|h| !h.is_empty()))
}

/// Lower-case ASCII letters and digits; every run of anything else becomes one `-`; no `-`
/// at either end; at most `max` characters.
pub fn slug(text: &str, max: usize) -> String {
    let mut out = String::new();
    for c in text.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.truncate(max);
    out.trim_end_matches('-').to_string()
}

/// Whether `text` is a DNS-1123 label: 1 to 63 of `a-z 0-9 -`, alphanumeric at both ends.
pub fn is_dns1123_label(text: &str) -> bool {
    let bytes = text.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_NAME
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
}

/// Whether `text` is a DNS-1123 subdomain: at most 253 characters, dot-separated labels.
pub fn is_dns1123_subdomain(text: &str) -> bool {
    text.len() <= 253 && text.split('.').all(is_dns1123_label)
}

/// `metadata.name` of a group: the slug of its subject, `-`, its lower-cased GroupId
/// (sanitized the same way), at most 63 characters with the GroupId kept whole; just the
/// GroupId when there is no subject (or nothing of it fits).
pub fn object_name(subject: Option<&str>, group_id: &str) -> String {
    with_subject(subject, id_part(group_id))
}

/// The name a group gets when [`object_name`] is already taken (GroupIds that differ only
/// in case or punctuation): the GroupId part ends in 8 hex digits of its SHA-256.
pub fn hashed_name(subject: Option<&str>, group_id: &str) -> String {
    let hash = short_hash(group_id);
    let id = slug(&id_part(group_id), MAX_NAME - hash.len() - 1);
    let id = if id.is_empty() {
        hash
    } else {
        format!("{id}-{hash}")
    };
    with_subject(subject, id)
}

/// The subject's slug in the room `id` leaves, then `id`.
fn with_subject(subject: Option<&str>, id: String) -> String {
    let room = MAX_NAME.saturating_sub(id.len() + 1);
    let subject = slug(subject.unwrap_or_default(), room);
    if subject.is_empty() {
        id
    } else {
        format!("{subject}-{id}")
    }
}

/// The GroupId as a label: its slug, or when that is longer than 63 characters its first 54
/// and a hash; `g-<hash>` when nothing of it is a letter or digit.
fn id_part(group_id: &str) -> String {
    let id = slug(group_id, usize::MAX);
    if id.is_empty() {
        return format!("g-{}", short_hash(group_id));
    }
    if id.len() <= MAX_NAME {
        return id;
    }
    let hash = short_hash(group_id);
    format!("{}-{hash}", slug(&id, MAX_NAME - hash.len() - 1))
}

/// 8 hex digits of the SHA-256 of `text`.
fn short_hash(text: &str) -> String {
    hex::encode(&Sha256::digest(text.as_bytes())[..4])
}

#[cfg(test)]
#[path = "export_tests.rs"]
mod tests;

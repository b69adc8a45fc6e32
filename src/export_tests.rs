//! Names, manifests and the paging loop of `export`, with a mocked CAMS.

use std::sync::{Arc, Mutex};

use crate::cams::{GroupPage, MockChatGroupApi};

use super::*;

fn listed(group_id: &str, subject: Option<&str>) -> ListedGroup {
    ListedGroup {
        group_id: Some(group_id.into()),
        subject: subject.map(str::to_string),
        ..Default::default()
    }
}

/// ChatGroup has no `PartialEq`: compare what would be applied.
fn json(objects: &[ChatGroup]) -> serde_json::Value {
    serde_json::to_value(objects).unwrap()
}

fn options() -> ExportOptions {
    ExportOptions {
        business_number: "8613800001234".into(),
        cust_space_id: "cams-abc".into(),
        namespace: None,
        region: None,
        secret_ref: None,
        management_policy: ManagementPolicy::Manage,
    }
}

// --- names -------------------------------------------------------------------------------------

#[test]
fn slugs_are_lower_case_alphanumerics_with_single_dashes() {
    let cases = [
        ("VIP Support & Sales!", "vip-support-sales"),
        ("  --Hello__World--  ", "hello-world"),
        ("a   b", "a-b"),
        ("ABC123", "abc123"),
        ("中文", ""),
        ("Ünïcode Grüße", "n-code-gr-e"),
        ("", ""),
        ("---", ""),
    ];
    for (text, slug_) in cases {
        assert_eq!(slug(text, 63), slug_, "{text:?}");
    }
    // Truncation never leaves a dash at the end.
    assert_eq!(slug("abc def", 4), "abc");
    assert_eq!(slug("abcdef", 3), "abc");
}

#[test]
fn a_name_is_the_subject_slug_and_the_lower_cased_group_id() {
    assert_eq!(
        object_name(Some("VIP Support"), "EA303XYZ"),
        "vip-support-ea303xyz"
    );
    assert_eq!(object_name(None, "EA303XYZ"), "ea303xyz");
    assert_eq!(object_name(Some(""), "EA303XYZ"), "ea303xyz");
    assert_eq!(object_name(Some("中文 群"), "EA303XYZ"), "ea303xyz");
    assert_eq!(object_name(Some("VIP"), "EA_303.x"), "vip-ea-303-x");
    assert_eq!(object_name(None, "-EA_303-"), "ea-303");
}

#[test]
fn a_long_subject_is_cut_so_the_name_fits_in_63_with_the_group_id_whole() {
    let subject = "Customer support for the very important people of the northern region";
    let name = object_name(Some(subject), "EA303XYZ");
    assert!(name.len() <= MAX_NAME, "{name}");
    assert!(name.ends_with("-ea303xyz"), "{name}");
    assert!(name.starts_with("customer-support-for-the-very"), "{name}");
    assert!(!name.contains("--") && is_dns1123_label(&name), "{name}");
    // A cut that lands on a dash does not leave two.
    let id = "X".repeat(63 - 1 - 4);
    assert_eq!(
        object_name(Some("abc def"), &id),
        format!("abc-{}", "x".repeat(58))
    );
}

#[test]
fn odd_group_ids_still_give_valid_names() {
    // Nothing usable: a hash.
    let name = object_name(Some("VIP"), "___");
    assert!(
        name.starts_with("vip-g-") && name.len() == "vip-g-".len() + 8,
        "{name}"
    );
    // Longer than a label: cut, with a hash of the whole id.
    let long = "A".repeat(100);
    let name = object_name(Some("VIP"), &long);
    assert_eq!(name.len(), MAX_NAME, "{name}");
    assert!(
        name.starts_with("aaaa") && is_dns1123_label(&name),
        "{name}"
    );
    assert_ne!(name, object_name(Some("VIP"), &"A".repeat(101)));
    // No room left for the subject: just the id.
    let id = "b".repeat(62);
    assert_eq!(object_name(Some("VIP"), &id), id);
    for (subject, id) in [
        (Some("x"), "a"),
        (Some("Ω"), "-"),
        (None, "é"),
        (Some(&*"z".repeat(300)), "Q"),
        (Some("a b c"), &*"9-".repeat(40)),
    ] {
        for name in [object_name(subject, id), hashed_name(subject, id)] {
            assert!(is_dns1123_label(&name), "{subject:?} {id:?}: {name:?}");
        }
    }
}

#[test]
fn colliding_names_get_a_hash_of_the_group_id_and_the_first_by_group_id_keeps_its_name() {
    let groups = [
        listed("abc", Some("VIP")),
        listed("AbC", Some("VIP")),
        listed("a.b.c", None),
        listed("a_b_c", None),
    ];
    let export = manifests(&groups, &options()).unwrap();
    let names: Vec<_> = export
        .objects
        .iter()
        .map(|o| {
            (
                o.spec.group_id.as_deref().unwrap_or_default(),
                o.metadata.name.clone().unwrap(),
            )
        })
        .collect();
    // Sorted by GroupId in byte order: "AbC" < "a.b.c" < "a_b_c" < "abc".
    assert_eq!(names[0], ("AbC", "vip-abc".to_string()));
    assert_eq!(names[1], ("a.b.c", "a-b-c".to_string()));
    assert_eq!(names[2].0, "a_b_c");
    assert_eq!(names[2].1, hashed_name(None, "a_b_c"));
    assert_eq!(names[3].0, "abc");
    assert_eq!(names[3].1, hashed_name(Some("VIP"), "abc"));
    assert!(names[3].1.starts_with("vip-abc-") && names[3].1.len() == "vip-abc-".len() + 8);
    let unique: HashSet<_> = names.iter().map(|(_, n)| n).collect();
    assert_eq!(unique.len(), 4);
    // The same input gives the same names (re-exporting renames nothing).
    let again = manifests(&groups, &options()).unwrap();
    assert_eq!(json(&again.objects), json(&export.objects));
}

#[test]
fn dns_names_are_checked() {
    for ok in ["a", "team-a", "a1", &"a".repeat(63)] {
        assert!(is_dns1123_label(ok), "{ok}");
    }
    for bad in ["", "-a", "a-", "A", "a_b", "a.b", &"a".repeat(64)] {
        assert!(!is_dns1123_label(bad), "{bad}");
    }
    assert!(is_dns1123_subdomain("cams.credentials-1"));
    assert!(!is_dns1123_subdomain("cams..x"));
    assert!(!is_dns1123_subdomain(&"a.".repeat(127)));
}

// --- manifests ----------------------------------------------------------------------------------

#[test]
fn a_manifest_carries_the_listed_fields_and_the_given_settings_only() {
    let group = ListedGroup {
        group_id: Some("EA303XYZ".into()),
        subject: Some("VIP: Support #1".into()),
        description: Some(String::new()),
        profile_picture_file: Some("https://cdn.example.com/vip.jpg".into()),
        group_status: Some("ACTIVE".into()),
        invite_link: Some("https://chat.whatsapp.com/SECRETCODE".into()),
        total_participant_count: Some(5),
        ..Default::default()
    };
    let options = ExportOptions {
        namespace: Some("team-a".into()),
        region: Some("ap-southeast-1".into()),
        secret_ref: Some("cams-credentials".into()),
        management_policy: ManagementPolicy::Observe,
        ..options()
    };
    let export = manifests(&[group], &options).unwrap();
    assert!(export.warnings.is_empty(), "{:?}", export.warnings);
    let yaml = render(&export.objects).unwrap();
    assert_eq!(
        yaml,
        r#"---
apiVersion: cams.dev/v1alpha1
kind: ChatGroup
metadata:
  name: vip-support-1-ea303xyz
  namespace: team-a
spec:
  businessNumber: "8613800001234"
  custSpaceId: cams-abc
  groupId: EA303XYZ
  channelType: WHATSAPP
  subject: "VIP: Support #1"
  description: ""
  profilePictureUrl: https://cdn.example.com/vip.jpg
  region: ap-southeast-1
  credentialsSecretRef:
    name: cams-credentials
  managementPolicy: Observe
"#
    );
    assert!(!yaml.contains("SECRETCODE") && !yaml.contains("status"));
}

#[test]
fn defaults_and_unset_fields_are_left_out() {
    let export = manifests(&[listed("G1", Some("  "))], &options()).unwrap();
    let yaml = render(&export.objects).unwrap();
    assert_eq!(
        yaml,
        "---\napiVersion: cams.dev/v1alpha1\nkind: ChatGroup\nmetadata:\n  name: g1\nspec:\n  businessNumber: \"8613800001234\"\n  custSpaceId: cams-abc\n  groupId: G1\n  channelType: WHATSAPP\n"
    );
}

#[test]
fn values_the_crd_refuses_are_left_out_with_a_warning() {
    let group = ListedGroup {
        group_id: Some("G1".into()),
        subject: Some("s".repeat(129)),
        description: Some("d".repeat(2049)),
        profile_picture_file: Some("media-id-123".into()),
        ..Default::default()
    };
    let export = manifests(&[group], &options()).unwrap();
    let spec = &export.objects[0].spec;
    assert_eq!(
        (&spec.subject, &spec.description, &spec.profile_picture_url),
        (&None, &None, &None)
    );
    assert_eq!(export.warnings.len(), 3, "{:?}", export.warnings);
    assert!(export.warnings.iter().all(|w| w.starts_with("group G1: ")));
    // At the bounds they are kept; a URL without a host is not.
    let ok = ListedGroup {
        group_id: Some("G2".into()),
        subject: Some("ü".repeat(128)),
        description: Some("d".repeat(2048)),
        profile_picture_file: Some("http://x/p.jpg".into()),
        ..Default::default()
    };
    let export = manifests(&[ok], &options()).unwrap();
    assert!(export.warnings.is_empty(), "{:?}", export.warnings);
    assert!(!is_picture_url("https:///p.jpg"));
    assert!(!is_picture_url("ftp://x/p.jpg"));
}

#[test]
fn manifests_are_sorted_by_group_id_round_trip_and_skip_rows_without_one() {
    let groups = [
        listed("G3", Some("Three")),
        ListedGroup::default(),
        listed("G1", Some("One — ünïcode & \"quotes\": yes")),
        listed("G2", None),
    ];
    let export = manifests(&groups, &options()).unwrap();
    let ids: Vec<_> = export
        .objects
        .iter()
        .map(|o| o.spec.group_id.as_deref().unwrap_or_default())
        .collect();
    assert_eq!(ids, ["G1", "G2", "G3"]);
    let yaml = render(&export.objects).unwrap();
    let parsed: Vec<ChatGroup> = serde_saphyr::from_multiple(&yaml).unwrap();
    assert_eq!(json(&parsed), json(&export.objects));
    assert_eq!(
        parsed[0].spec.subject.as_deref(),
        Some("One — ünïcode & \"quotes\": yes")
    );
    assert_eq!(render(&[]).unwrap(), "");
}

// --- paging -------------------------------------------------------------------------------------

/// A mocked CAMS answering page `i` (from 1) with `pages[i - 1]`, and an empty page past
/// the end; records the page indexes asked for.
fn paged(pages: Vec<Result<GroupPage, CamsError>>) -> (MockChatGroupApi, Arc<Mutex<Vec<u32>>>) {
    let asked = Arc::new(Mutex::new(Vec::new()));
    let seen = asked.clone();
    let pages = Mutex::new(pages.into_iter().map(Some).collect::<Vec<_>>());
    let mut mock = MockChatGroupApi::new();
    mock.expect_list_chat_group()
        .returning(move |region, credentials, request| {
            assert_eq!(region.as_deref(), Some("ap-southeast-1"));
            assert_eq!(credentials.access_key_id, "AK");
            assert_eq!(request.business_number, "8613800001234");
            assert_eq!(request.page_size, 2);
            seen.lock().unwrap().push(request.page_index);
            let index = request.page_index as usize - 1;
            pages
                .lock()
                .unwrap()
                .get_mut(index)
                .and_then(Option::take)
                .unwrap_or_else(|| Ok(GroupPage::default()))
        });
    (mock, asked)
}

fn page(total: Option<u64>, ids: &[&str]) -> Result<GroupPage, CamsError> {
    Ok(GroupPage {
        total,
        groups: ids.iter().map(|id| listed(id, None)).collect(),
    })
}

async fn list(api: &MockChatGroupApi) -> (Result<Listing, ExportError>, Vec<String>) {
    let mut lines = Vec::new();
    let result = list_all(
        api,
        Some("ap-southeast-1".into()),
        &Credentials::new("AK", "secret"),
        ListChatGroup::first_page("8613800001234", "cams-abc", 2),
        |line| lines.push(line),
    )
    .await;
    (result, lines)
}

fn ids(listing: &Listing) -> Vec<&str> {
    listing
        .groups
        .iter()
        .filter_map(|g| g.group_id.as_deref())
        .collect()
}

#[tokio::test]
async fn pages_are_listed_until_a_short_page() {
    let (mock, asked) = paged(vec![
        page(Some(5), &["G1", "G2"]),
        page(Some(5), &["G3", "G4"]),
        page(Some(5), &["G5"]),
    ]);
    let (result, lines) = list(&mock).await;
    let listing = result.unwrap();
    assert_eq!(ids(&listing), ["G1", "G2", "G3", "G4", "G5"]);
    assert_eq!(*asked.lock().unwrap(), [1, 2, 3]);
    assert_eq!(
        lines,
        [
            "listed 2/5 groups",
            "listed 4/5 groups",
            "listed 5/5 groups"
        ]
    );
    assert!(listing.warnings().is_empty());
}

#[tokio::test]
async fn listing_stops_when_total_is_reached_on_a_full_page() {
    let (mock, asked) = paged(vec![
        page(Some(4), &["G1", "G2"]),
        page(Some(4), &["G3", "G4"]),
    ]);
    let (result, lines) = list(&mock).await;
    assert_eq!(ids(&result.unwrap()), ["G1", "G2", "G3", "G4"]);
    assert_eq!(*asked.lock().unwrap(), [1, 2]);
    assert_eq!(lines.last().map(String::as_str), Some("listed 4/4 groups"));
}

#[tokio::test]
async fn without_a_total_listing_stops_at_the_first_empty_page() {
    let (mock, asked) = paged(vec![page(None, &["G1", "G2"]), page(None, &["G3", "G4"])]);
    let (result, lines) = list(&mock).await;
    let listing = result.unwrap();
    assert_eq!(ids(&listing), ["G1", "G2", "G3", "G4"]);
    assert_eq!(*asked.lock().unwrap(), [1, 2, 3]);
    assert_eq!(
        lines,
        ["listed 2 groups", "listed 4 groups", "listed 4 groups"]
    );
}

#[tokio::test]
async fn repeated_groups_are_kept_once_and_rows_without_an_id_are_counted() {
    let mut with_blank = page(Some(7), &["G4"]).unwrap();
    with_blank.groups.insert(0, ListedGroup::default());
    let (mock, asked) = paged(vec![
        page(Some(7), &["G1", "G2"]),
        page(Some(7), &["G2", "G3"]),
        Ok(with_blank),
        page(Some(7), &["G5"]),
    ]);
    let listing = list(&mock).await.0.unwrap();
    assert_eq!(ids(&listing), ["G1", "G2", "G3", "G4", "G5"]);
    assert_eq!((listing.received, listing.without_id), (7, 1));
    assert_eq!(*asked.lock().unwrap(), [1, 2, 3, 4]);
    assert_eq!(
        listing.warnings(),
        ["1 listed rows have no GroupId and are left out"]
    );
}

#[tokio::test]
async fn a_page_index_cams_ignores_stops_the_listing() {
    let (mock, asked) = paged(vec![
        page(None, &["G1", "G2"]),
        page(None, &["G1", "G2"]),
        page(None, &["G1", "G2"]),
    ]);
    let err = list(&mock).await.0.unwrap_err();
    assert!(matches!(err, ExportError::NoProgress { page: 2 }), "{err}");
    assert_eq!(*asked.lock().unwrap(), [1, 2]);
}

#[tokio::test]
async fn a_failed_page_fails_the_listing_naming_the_page() {
    let (mock, _) = paged(vec![
        page(Some(9), &["G1", "G2"]),
        Err(CamsError::Timeout(std::time::Duration::from_secs(10))),
    ]);
    let err = list(&mock).await.0.unwrap_err();
    assert!(matches!(
        &err,
        ExportError::List {
            page: 2,
            source: CamsError::Timeout(_)
        }
    ));
    let line = format!("{:#}", anyhow::Error::from(err));
    assert_eq!(
        line,
        "listing page 2 with ListChatGroup: CAMS did not answer within 10s"
    );
}

#[test]
fn a_total_not_reached_is_reported() {
    let listing = Listing {
        received: 3,
        total: Some(5),
        ..Default::default()
    };
    assert_eq!(
        listing.warnings(),
        ["CAMS reported 5 groups but 3 were listed (groups changed while listing?)"]
    );
}

"""ChatGroups as the operator writes them, one or more per row of the contract's outcome
table (/work/shared/design/contract.md, "Outcomes"), with the answers the Argo CD health check
and kstatus must give. The condition shapes follow src/status.rs: every condition carries the
generation it speaks for; final outcomes (accepted, Stalled True) set status.observedGeneration,
retryable, freshness and paused outcomes leave it where it was."""

T0 = "2026-11-26T01:02:03Z"


def cond(type_, status, reason, message="", generation=1):
    return {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": T0,
        "observedGeneration": generation,
    }


def chatgroup(generation=1, status=None, annotations=None):
    obj = {
        "apiVersion": "cams.dev/v1alpha1",
        "kind": "ChatGroup",
        "metadata": {
            "name": "vip",
            "namespace": "team-a",
            "generation": generation,
            "uid": "0b9c2f0e-1111-4c3a-9d1e-2a7f5f0a0001",
        },
        "spec": {
            "businessNumber": "8613800001234",
            "custSpaceId": "cams-abc123",
            "groupId": "EA303XYZ",
            "channelType": "WHATSAPP",
            "subject": "VIP support",
        },
    }
    if annotations:
        obj["metadata"]["annotations"] = annotations
    if status is not None:
        obj["status"] = status
    return obj


def accepted_status(generation=1):
    msg = "CAMS accepted UpdateChatGroup (RequestId 90E63D28-E31D-1EB2-8939-A94866411B20)"
    return {
        "observedGeneration": generation,
        "conditions": [
            cond("Ready", "True", "Available", msg, generation),
            cond("Synced", "True", "ReconcileSuccess", msg, generation),
            cond("Stalled", "False", "ReconcileSuccess", "", generation),
        ],
        "success": True,
        "code": "OK",
        "message": "SUCCESS",
        "requestId": "90E63D28-E31D-1EB2-8939-A94866411B20",
        "result": 1,
        "lastSyncTime": T0,
        "appliedHash": "v1:3f9a",
    }


def retrying_status(reason, generation, observed=None, ready_true=False, code="Throttling.User"):
    """A retryable or freshness outcome for `generation`; `observed` is where
    observedGeneration was left; `ready_true`: the previous accepted spec is unchanged."""
    msg = f"CAMS answered {code}; attempt 2, next in 4.0s"
    status = accepted_status(observed) if ready_true else {"conditions": []}
    if observed is not None and not ready_true:
        status["observedGeneration"] = observed
    conditions = [c for c in status["conditions"] if c["type"] == "Ready"] if ready_true else [
        cond("Ready", "False", reason, msg, generation)
    ]
    conditions += [
        cond("Synced", "False", reason, msg, generation),
        cond("Stalled", "False", "Progressing", "retrying", generation),
    ]
    status["conditions"] = conditions
    status["code"] = code
    status["retry"] = {"attempts": 2, "nextRetryTime": "2026-11-26T01:02:07Z"}
    return status


def stalled_status(reason, generation=1, code=None):
    msg = f"CAMS answered {code or reason}; needs a person"
    status = {
        "observedGeneration": generation,
        "conditions": [
            cond("Ready", "False", reason, msg, generation),
            cond("Synced", "False", reason, msg, generation),
            cond("Stalled", "True", reason, msg, generation),
        ],
    }
    if code:
        status["code"] = code
    return status


def paused_status(generation, accepted_generation=None):
    msg = 'cams.dev/paused is "true": no CAMS calls until it is removed'
    if accepted_generation is not None:
        status = accepted_status(accepted_generation)
        ready = [c for c in status["conditions"] if c["type"] == "Ready"]
    else:
        status = {"conditions": []}
        ready = [cond("Ready", "False", "ReconcilePaused", "paused before CAMS accepted this spec", generation)]
    status["conditions"] = ready + [
        cond("Synced", "False", "ReconcilePaused", msg, generation),
        cond("Stalled", "False", "ReconcilePaused", "paused", generation),
    ]
    return status


PAUSED = {"cams.dev/paused": "true"}

# (name, object, Argo CD health, kstatus status)
SAMPLES = [
    # accepted (2xx, Code OK)
    ("accepted", chatgroup(1, accepted_status(1)), "Healthy", "Current"),
    ("accepted-after-edit", chatgroup(4, accepted_status(4)), "Healthy", "Current"),
    # retryable: Throttling*, x-acs-retry-after, 5xx, transport error, timeout, unknown code
    ("throttled-new", chatgroup(1, retrying_status("Throttled", 1)), "Progressing", "InProgress"),
    ("reconcile-error-new", chatgroup(1, retrying_status("ReconcileError", 1, code="InternalError")),
     "Progressing", "InProgress"),
    ("reconcile-error-after-edit", chatgroup(2, retrying_status("ReconcileError", 2, observed=1, code="ServiceUnavailable")),
     "Progressing", "InProgress"),
    # Ready stays True (unchanged spec, a forced re-apply is being retried): kstatus reads
    # Ready True at the observed generation as Current; Argo CD shows the retry.
    ("throttled-ready-unchanged", chatgroup(2, retrying_status("Throttled", 2, observed=2, ready_true=True)),
     "Progressing", "Current"),
    # credentials
    ("credentials-invalid", chatgroup(1, stalled_status("CredentialsInvalid", 1, "InvalidAccessKeyId.NotFound")),
     "Degraded", "Failed"),
    ("credentials-missing-secret", chatgroup(3, stalled_status("CredentialsInvalid", 3)), "Degraded", "Failed"),
    # forbidden
    ("forbidden", chatgroup(1, stalled_status("Forbidden", 1, "Forbidden.RAM")), "Degraded", "Failed"),
    # freshness
    ("clock-skew-new", chatgroup(1, retrying_status("ClockSkew", 1, code="InvalidTimeStamp.Expired")),
     "Progressing", "InProgress"),
    ("clock-skew-after-edit", chatgroup(2, retrying_status("ClockSkew", 2, observed=1, code="SignatureNonceUsed")),
     "Progressing", "InProgress"),
    # terminal
    ("invalid-spec", chatgroup(1, stalled_status("InvalidSpec", 1, "InvalidParameter.GroupNotExist")),
     "Degraded", "Failed"),
    # paused
    ("paused-new", chatgroup(1, paused_status(1), PAUSED), "Suspended", "InProgress"),
    ("paused-after-accept", chatgroup(1, paused_status(1, accepted_generation=1), PAUSED), "Suspended", "Current"),
    ("paused-edited-while-paused", chatgroup(2, paused_status(2, accepted_generation=1), PAUSED),
     "Suspended", "InProgress"),
    # two ChatGroups name the same group
    ("conflict", chatgroup(1, stalled_status("Conflict", 1)), "Degraded", "Failed"),
    # Not rows of the table, but states a GitOps tool sees in between.
    # No status yet: kstatus treats an object without conditions as Current (a known kstatus
    # rule for resources it has no specific rules for); Argo CD waits.
    ("no-status-yet", chatgroup(1), "Progressing", "Current"),
    ("edited-not-yet-reconciled", chatgroup(2, accepted_status(1)), "Progressing", "InProgress"),
    ("stalled-then-edited", chatgroup(2, stalled_status("InvalidSpec", 1, "InvalidParameter.Subject")),
     "Progressing", "InProgress"),
    ("unpaused-not-yet-reconciled", chatgroup(1, paused_status(1, accepted_generation=1)), "Progressing", "Current"),
]

"""charts/cams-operator rendered by the pinned helm (tests/helm/run.sh sets CAMS_HELM_BIN):
the CRD copy, RBAC with exactly the operator's verbs, the hardened pod, leader election,
credentials wiring, the optional objects, the values schema, and that every setting the
chart passes is a flag the operator binary knows."""

import os
import pathlib
import re
import subprocess

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "cams-operator"
HERE = pathlib.Path(__file__).resolve().parent
NS = "cams-system"

# Cluster-wide (the default): Secrets are only read, one by name, never listed or watched.
OPERATOR_RULES = [
    # patch: the operator's own annotations (cams.dev/create-pending, cams.dev/group-id) and
    # the finalizer cams.dev/delete-group, each with a resourceVersion precondition.
    {"apiGroups": ["cams.dev"], "resources": ["chatgroups"], "verbs": ["get", "list", "watch", "patch"]},
    {"apiGroups": ["cams.dev"], "resources": ["chatgroups/status"], "verbs": ["patch"]},
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]},
    {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create"]},
]
# watchNamespaces: a Role per namespace, where a Secret metadata watch is allowed.
NAMESPACED_RULES = [
    {**r, "verbs": ["get", "list", "watch"]} if r["resources"] == ["secrets"] else r
    for r in OPERATOR_RULES
]


def helm(*args, check=True):
    binary = os.environ.get("CAMS_HELM_BIN")
    if not binary:
        pytest.skip("CAMS_HELM_BIN is not set (run tests/helm/run.sh)")
    return subprocess.run([binary, *args], capture_output=True, text=True, check=check)


def render(*values_files, sets=(), release="cams"):
    args = ["template", release, str(CHART), "--namespace", NS]
    for f in values_files:
        args += ["-f", str(HERE / f)]
    for s in sets:
        args += ["--set", s]
    out = helm(*args).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def by_kind(docs, kind):
    return [d for d in docs if d["kind"] == kind]


def one(docs, kind):
    found = by_kind(docs, kind)
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def container(docs):
    (c,) = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    return c


def env(docs):
    return {e["name"]: e for e in container(docs)["env"]}


def env_value(docs, name):
    return env(docs)[name].get("value")


# --- the CRD -----------------------------------------------------------------------------------


def test_crd_is_the_same_bytes_as_crds():
    assert (CHART / "crds" / "chatgroups.cams.dev.yaml").read_bytes() == (
        ROOT / "crds" / "chatgroups.cams.dev.yaml"
    ).read_bytes(), "charts/cams-operator/crds/ differs from crds/: cp crds/chatgroups.cams.dev.yaml charts/cams-operator/crds/"


def test_crds_are_not_templates():
    # Helm installs crds/ first and never templates or upgrades it.
    docs = render()
    assert not by_kind(docs, "CustomResourceDefinition")


# --- default values ----------------------------------------------------------------------------


def test_default_objects():
    docs = render()
    kinds = sorted(d["kind"] for d in docs)
    assert kinds == sorted([
        "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding",
        "Service", "Deployment",
    ])
    for d in docs:
        if d["kind"] not in ("ClusterRole", "ClusterRoleBinding"):
            assert d["metadata"]["namespace"] == NS, d["metadata"]
        assert d["metadata"]["labels"]["app.kubernetes.io/instance"] == "cams"
    assert not by_kind(docs, "Secret"), "the chart never creates a Secret"


def test_default_rbac_is_exactly_the_operators_verbs():
    docs = render()
    assert one(docs, "ClusterRole")["rules"] == OPERATOR_RULES
    binding = one(docs, "ClusterRoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cams-cams-operator",
    }
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "cams-cams-operator", "namespace": NS}]
    # Leader election: a Role in the release namespace, get/update only on this release's Lease.
    role = one(docs, "Role")
    assert role["metadata"]["namespace"] == NS
    assert role["rules"] == [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
         "resourceNames": ["cams-cams-operator"], "verbs": ["get", "update"]},
    ]
    assert one(docs, "RoleBinding")["roleRef"]["name"] == role["metadata"]["name"]


def test_no_wildcards_anywhere():
    for values in ([], ["values-namespaced.yaml"]):
        for d in render(*values):
            for rule in d.get("rules", []):
                for key in ("apiGroups", "resources", "verbs"):
                    assert "*" not in rule[key], rule


def test_default_deployment():
    docs = render()
    dep = one(docs, "Deployment")
    spec = dep["spec"]["template"]["spec"]
    assert dep["spec"]["replicas"] == 2
    assert spec["serviceAccountName"] == "cams-cams-operator"
    c = container(docs)
    assert c["image"] == "cams-operator:0.1.0"
    assert "command" not in c and "args" not in c, "the image's entrypoint is `cams-operator run`"
    e = env(docs)
    assert e["POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert e["POD_NAMESPACE"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    # Two replicas: leader election on a Lease named after the release.
    assert env_value(docs, "CAMS_OPERATOR_LEADER_ELECT") == "true"
    assert env_value(docs, "CAMS_OPERATOR_LEADER_ELECTION_NAME") == "cams-cams-operator"
    assert env_value(docs, "CAMS_OPERATOR_LEND_CREDENTIALS_TO") == ""
    assert env_value(docs, "CAMS_OPERATOR_NAMESPACES") == ""
    assert env_value(docs, "CAMS_OPERATOR_REGION") == "ap-southeast-1"
    # Only the one documented CAMS endpoint unless the values list more.
    assert env_value(docs, "CAMS_OPERATOR_REGIONS") == "ap-southeast-1"
    assert env_value(docs, "CAMS_OPERATOR_METRICS_ADDR") == "0.0.0.0:8080"
    assert env_value(docs, "CAMS_OPERATOR_HEALTH_ADDR") == "0.0.0.0:8081"
    # Observation as the contract's defaults, listing paced apart from writes.
    assert {k: env_value(docs, k) for k in OBSERVE_DEFAULTS} == OBSERVE_DEFAULTS
    assert not any(n.startswith("ALIBABA_CLOUD_") for n in e), "no operator credentials by default"
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"metrics": 8080, "health": 8081}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}
    assert c["resources"]["requests"] and c["resources"]["limits"]["memory"]
    svc = one(docs, "Service")
    assert svc["spec"]["ports"] == [{"name": "metrics", "port": 8080, "targetPort": "metrics", "protocol": "TCP"}]
    assert svc["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"]


OBSERVE_DEFAULTS = {
    "CAMS_OPERATOR_OBSERVE_INTERVAL": "10m",
    "CAMS_OPERATOR_OBSERVE_MIN_INTERVAL": "15s",
    "CAMS_OPERATOR_SETTLE": "2m",
    "CAMS_OPERATOR_OBSERVE_PAGE_SIZE": "100",
    "CAMS_OPERATOR_LIST_QPS": "5",
    "CAMS_OPERATOR_LIST_BURST": "10",
}


def test_observation_can_be_turned_off():
    for value in ("0",):
        docs = render(sets=[f"observe.interval={value}"])
        assert env_value(docs, "CAMS_OPERATOR_OBSERVE_INTERVAL") == "0"


def test_hardened_pod():
    for values in ([], ["values-namespaced.yaml"], ["values-secret.yaml"], ["values-rrsa-manual.yaml"]):
        docs = render(*values)
        pod = one(docs, "Deployment")["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        sc = container(docs)["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["runAsNonRoot"] is True
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
        assert "hostNetwork" not in pod and "hostPID" not in pod


# --- non-default values ------------------------------------------------------------------------


def test_watch_namespaces_uses_roles_and_no_cluster_role():
    docs = render("values-namespaced.yaml")
    assert not by_kind(docs, "ClusterRole") and not by_kind(docs, "ClusterRoleBinding")
    roles = {(r["metadata"]["namespace"], r["metadata"]["name"]): r for r in by_kind(docs, "Role")}
    assert roles[("team-a", "cams")]["rules"] == NAMESPACED_RULES
    assert roles[("team-b", "cams")]["rules"] == NAMESPACED_RULES
    assert roles[(NS, "cams-leader-election")]["rules"][1]["resourceNames"] == ["cams-operator-blue"]
    bindings = {(b["metadata"]["namespace"], b["metadata"]["name"]): b for b in by_kind(docs, "RoleBinding")}
    assert set(bindings) == {("team-a", "cams"), ("team-b", "cams"), (NS, "cams-leader-election")}
    for b in bindings.values():
        assert b["subjects"] == [{"kind": "ServiceAccount", "name": "cams", "namespace": NS}]
    assert env_value(docs, "CAMS_OPERATOR_NAMESPACES") == "team-a,team-b"


def test_non_default_settings_reach_the_operator():
    docs = render("values-namespaced.yaml")
    want = {
        "CAMS_OPERATOR_REGION": "cn-hangzhou",
        "CAMS_OPERATOR_REGIONS": "cn-hangzhou,ap-southeast-1",
        "CAMS_OPERATOR_ENDPOINT": "https://cams-proxy.internal.example.com:8443",
        "CAMS_OPERATOR_SIGNATURE": "v1",
        "CAMS_OPERATOR_QPS": "2.5",
        "CAMS_OPERATOR_BURST": "5",
        "CAMS_OPERATOR_REQUEST_TIMEOUT": "30s",
        "CAMS_OPERATOR_CA_BUNDLE": "/etc/cams-operator/ca/bundle.pem",
        "CAMS_OPERATOR_LABEL_SELECTOR": "cams.dev/operator=blue",
        "CAMS_OPERATOR_LEND_CREDENTIALS_TO": "team-a",
        "CAMS_OPERATOR_CONCURRENCY": "4",
        "CAMS_OPERATOR_SHUTDOWN_GRACE": "40s",
        "CAMS_OPERATOR_LOG_FORMAT": "text",
        "CAMS_OPERATOR_METRICS_ADDR": "0.0.0.0:9090",
        "CAMS_OPERATOR_HEALTH_ADDR": "0.0.0.0:9091",
        "CAMS_OPERATOR_LEADER_ELECT": "true",
        "CAMS_OPERATOR_LEASE_DURATION": "30s",
        "CAMS_OPERATOR_STS_ENDPOINT": "sts-vpc.cn-hangzhou.aliyuncs.com",
        "CAMS_OPERATOR_OBSERVE_INTERVAL": "30m",
        "CAMS_OPERATOR_OBSERVE_MIN_INTERVAL": "1m",
        "CAMS_OPERATOR_SETTLE": "5m",
        "CAMS_OPERATOR_OBSERVE_PAGE_SIZE": "50",
        "CAMS_OPERATOR_LIST_QPS": "0.5",
        "CAMS_OPERATOR_LIST_BURST": "2",
        "RUST_LOG": "info,cams_operator=debug",
        "HTTPS_PROXY": "http://proxy.internal.example.com:3128",
    }
    assert {k: env_value(docs, k) for k in want} == want
    c = container(docs)
    assert c["image"].endswith("@sha256:" + "0123456789abcdef" * 4)
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    assert mounts["ca-bundle"] == "/etc/cams-operator/ca"


def test_optional_objects():
    docs = render("values-namespaced.yaml")
    sm = one(docs, "ServiceMonitor")
    assert sm["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert sm["spec"]["endpoints"][0]["port"] == "metrics"
    assert one(docs, "PodDisruptionBudget")["spec"]["minAvailable"] == 1
    np = one(docs, "NetworkPolicy")
    assert np["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert {p["port"] for p in np["spec"]["egress"][1]["ports"]} == {443, 6443, 8443}
    defaults = render()
    for kind in ("ServiceMonitor", "PodDisruptionBudget", "NetworkPolicy"):
        assert not by_kind(defaults, kind), f"{kind} is off by default"
    pdb = one(render(sets=["podDisruptionBudget.enabled=true"]), "PodDisruptionBudget")
    assert pdb["spec"] == {"maxUnavailable": 1, "selector": pdb["spec"]["selector"]}


def test_rrsa_through_the_ack_webhook():
    docs = render("values-namespaced.yaml")
    sa = one(docs, "ServiceAccount")
    assert sa["metadata"]["annotations"]["pod-identity.alibabacloud.com/role-name"] == "cams-operator"
    labels = one(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert labels["pod-identity.alibabacloud.com/injection"] == "on"
    # The webhook injects ALIBABA_CLOUD_ROLE_ARN etc.; the chart sets none of them itself.
    assert not any(n.startswith("ALIBABA_CLOUD_") for n in env(docs))


def test_rrsa_without_the_webhook():
    docs = render("values-rrsa-manual.yaml")
    e = env(docs)
    assert e["ALIBABA_CLOUD_ROLE_ARN"]["value"] == "acs:ram::1234567890123456:role/cams-operator"
    assert e["ALIBABA_CLOUD_OIDC_PROVIDER_ARN"]["value"].endswith(":oidc-provider/ack-rrsa-c0123456789")
    token_file = e["ALIBABA_CLOUD_OIDC_TOKEN_FILE"]["value"]
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    (vol,) = [v for v in pod["volumes"] if v["name"] == "rrsa-oidc-token"]
    source = vol["projected"]["sources"][0]["serviceAccountToken"]
    assert source == {"audience": "sts.aliyuncs.com", "expirationSeconds": 7200, "path": "token"}
    (mount,) = [m for m in container(docs)["volumeMounts"] if m["name"] == "rrsa-oidc-token"]
    assert token_file == mount["mountPath"] + "/token"
    # An existing ServiceAccount, no RBAC objects; leader election forced on with one replica.
    assert pod["serviceAccountName"] == "cams-operator-preexisting"
    assert not by_kind(docs, "ServiceAccount")
    assert not [d for d in docs if d["apiVersion"].startswith("rbac.")]
    assert env_value(docs, "CAMS_OPERATOR_LEADER_ELECT") == "true"


def test_credentials_from_an_existing_secret():
    docs = render("values-secret.yaml")
    e = env(docs)
    for name, key in [
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", "accessKeyId"),
        ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "accessKeySecret"),
        ("ALIBABA_CLOUD_SECURITY_TOKEN", "securityToken"),
    ]:
        assert e[name]["valueFrom"] == {"secretKeyRef": {"name": "cams-operator-credentials", "key": key}}
    assert env_value(docs, "CAMS_OPERATOR_LEND_CREDENTIALS_TO") == "*"
    # One replica: no leader election and no Lease permissions.
    assert "CAMS_OPERATOR_LEADER_ELECT" not in e
    assert not by_kind(docs, "Role") and not by_kind(docs, "RoleBinding")
    assert not by_kind(docs, "Service"), "metrics.service.enabled=false"


# --- the schema and the checks the schema cannot express ----------------------------------------


@pytest.mark.parametrize("sets,message", [
    (["unknownKey=1"], "additional properties 'unknownKey' not allowed"),
    (["cams.signature=v4"], "cams.signature"),
    (["cams.region=Mars"], "cams.region"),
    (["cams.regions={}"], "cams.regions"),
    (["cams.regions={ap-southeast-1,oss.example.com}"], "cams.regions"),
    (["cams.region=cn-hangzhou"], "cams.region cn-hangzhou must be one of cams.regions (ap-southeast-1)"),
    (["replicaCount=0"], "replicaCount"),
    (["credentials.mode=keys"], "credentials.mode"),
    (["watchNamespaces[0]=Team_A"], "watchNamespaces"),
    (["controller.retryMax=forever"], "controller.retryMax"),
    (["credentials.mode=secret"], "credentials.secret.name"),
    (["credentials.mode=rrsa"], "credentials.rrsa.roleName"),
    (["credentials.mode=rrsa", "credentials.rrsa.webhook=false", "credentials.rrsa.roleName=x"],
     "credentials.rrsa.roleArn"),
    (["lendCredentialsTo={*,team-a}"], "lendCredentialsTo"),
    (["serviceAccount.create=false"], "serviceAccount.name"),
    (["observe.pageSize=0"], "observe.pageSize"),
    (["observe.pageSize=1001"], "observe.pageSize"),
    (["observe.interval=forever"], "observe.interval"),
    (["observe.interval=5"], "observe.interval"),
    (["observe.minInterval=0"], "observe.minInterval"),
    (["observe.listQps=-1"], "observe.listQps"),
    (["observe.listBurst=0"], "observe.listBurst"),
])
def test_bad_values_are_refused(sets, message):
    args = ["template", "cams", str(CHART), "--namespace", NS]
    for s in sets:
        args += ["--set", s]
    result = helm(*args, check=False)
    assert result.returncode != 0, f"{sets} rendered: {result.stdout[:300]}"
    assert message in result.stderr.replace("/", "."), result.stderr


def _schema_properties(node, path=""):
    for key, sub in node.get("properties", {}).items():
        yield f"{path}{key}", sub
        yield from _schema_properties(sub, f"{path}{key}.")


def test_schema_is_strict_and_described():
    import json

    schema = json.loads((CHART / "values.schema.json").read_text())
    assert schema["additionalProperties"] is False
    for path, sub in _schema_properties(schema):
        assert sub.get("description"), f"{path} has no description"
        if sub.get("properties"):
            assert sub.get("additionalProperties") is False, f"{path} accepts unknown keys"
    # Every key of values.yaml is in the schema (and the other way round, at the top).
    values = yaml.safe_load((CHART / "values.yaml").read_text())

    def walk(v, s, path):
        for key, val in v.items():
            assert key in s.get("properties", {}), f"values.yaml {path}{key} is not in the schema"
            sub = s["properties"][key]
            if isinstance(val, dict) and sub.get("properties"):
                walk(val, sub, f"{path}{key}.")

    walk(values, schema, "")
    assert set(schema["properties"]) - {"global"} == set(values)


def test_every_setting_is_a_flag_of_the_operator():
    """Each CAMS_OPERATOR_* variable the chart sets is one `cams-operator run` reads."""
    binary = os.environ.get("CAMS_OPERATOR_BIN") or str(ROOT / "target" / "debug" / "cams-operator")
    if not os.access(binary, os.X_OK):
        pytest.skip(f"{binary} is not built")
    help_text = subprocess.run([binary, "run", "--help"], capture_output=True, text=True, check=True).stdout
    known = set(re.findall(r"\[env: (CAMS_OPERATOR_[A-Z_]+)=", help_text))
    used = set()
    for values in ([], ["values-namespaced.yaml"], ["values-secret.yaml"], ["values-rrsa-manual.yaml"]):
        used |= {n for n in env(render(*values)) if n.startswith("CAMS_OPERATOR_")}
    assert used - known == set(), f"the chart sets variables `cams-operator run --help` does not list: {sorted(used - known)}"

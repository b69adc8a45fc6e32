# shellcheck shell=bash
# Sourced by tests/node/run.sh inside its own network and mount namespaces: starts and stops
# the node tier's processes. Everything listens inside that network namespace only:
#   127.0.0.1            etcd, kube-apiserver (hack/localcluster/cluster.sh), kubelet
#   10.244.0.1/24        cni0, the pods' bridge and gateway; port 18080 is forwarded by socat
#                        to the CAMS simulator (which binds loopback only)
#   10.0.0.1:443         the `kubernetes` Service's ClusterIP (on lo), forwarded by socat to the
#                        API server (there is no kube-proxy; the API server's certificate
#                        names 10.0.0.1)
# Process ids go to $WORK/pids, so cleanup stops exactly what was started.

POD_GATEWAY=10.244.0.1
POD_SUBNET=10.244.0.0/24
SERVICE_IP=10.0.0.1
NODE_NAME=cams-node

# start NAME COMMAND…: runs COMMAND in the background, output in $WORK/NAME.log.
start() {
  local name=$1; shift
  "$@" >"$WORK/$name.log" 2>&1 &
  echo "$! $name" >>"$WORK/pids"
}

# Inside `unshare --net --mount`: a sysfs of this network namespace (so /sys/class/net shows
# our interfaces), keeping the host's cgroup mounts under it; loopback, the Service IP, the
# bridge.
node_network() {
  mkdir -p "$WORK/cgroup-keep"
  mount --rbind /sys/fs/cgroup "$WORK/cgroup-keep"
  mount -t sysfs sysfs /sys
  mount --move "$WORK/cgroup-keep" /sys/fs/cgroup
  ip link set lo up
  ip addr add "$SERVICE_IP/32" dev lo
  ip link add cni0 type bridge
  ip addr add "$POD_GATEWAY/24" dev cni0
  ip link set cni0 up
}

node_containerd() {
  mkdir -p "$WORK/containerd" "$WORK/cni/net.d" "$RUN"
  cat >"$WORK/cni/net.d/10-pods.conflist" <<JSON
{"cniVersion": "1.0.0", "name": "pods", "plugins": [
  {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_SUBNET", "gateway": "$POD_GATEWAY"}]],
            "routes": [{"dst": "0.0.0.0/0"}]}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}
JSON
  # restrict_oom_score_adj: a negative oom_score_adj is refused here, and runc then fails with
  # "can't get final child's PID from pipe". SystemdCgroup = false: no systemd.
  cat >"$WORK/containerd/config.toml" <<TOML
version = 2
root = "$WORK/containerd/root"
state = "$RUN/containerd-state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "$RUN/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "localhost/cams-pause:local"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$WORK/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "$(command -v runc)"
TOML
  start containerd containerd --config "$WORK/containerd/config.toml"
  local i
  for ((i = 0; i < 60; i++)); do
    ctr -a "$RUN/containerd.sock" version >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  tail -n 30 "$WORK/containerd.log" >&2
  fail "containerd did not start"
}

ctr_k8s() { ctr -a "$RUN/containerd.sock" -n k8s.io "$@"; }

node_control() {
  local kubeconfig=$WORK/cluster/kubeconfig
  start kube-controller-manager "$NODE_BIN/kube-controller-manager" \
    --kubeconfig="$kubeconfig" --authentication-kubeconfig="$kubeconfig" --authorization-kubeconfig="$kubeconfig" \
    --leader-elect=false --bind-address=127.0.0.1 --secure-port=10257 \
    --service-account-private-key-file="$WORK/cluster/sa.key" --root-ca-file="$WORK/cluster/certs/apiserver.crt" \
    --service-cluster-ip-range=10.0.0.0/24 --cluster-name="$NODE_NAME" --use-service-account-credentials=false
  start kube-scheduler "$NODE_BIN/kube-scheduler" \
    --kubeconfig="$kubeconfig" --authentication-kubeconfig="$kubeconfig" --authorization-kubeconfig="$kubeconfig" \
    --leader-elect=false --bind-address=127.0.0.1 --secure-port=10259
}

node_kubelet() {
  mkdir -p "$WORK/kubelet"
  cat >"$WORK/kubelet/config.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This machine: cgroup v1 (hybrid) without systemd, swap may be on, no QoS cgroup tree.
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
cgroupsPerQOS: false
enforceNodeAllocatable: []
containerRuntimeEndpoint: unix://$RUN/containerd.sock
address: 127.0.0.1
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication: {anonymous: {enabled: false}, webhook: {enabled: false}}
authorization: {mode: AlwaysAllow}
podLogsDir: $WORK/kubelet/pod-logs
volumePluginDir: $WORK/kubelet/volume-plugins
# The images are imported, never pulled: never garbage-collect them, and never evict a pod
# because the shared disk is fuller than a real node's thresholds.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "1Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
serializeImagePulls: false
syncFrequency: 10s
YAML
  start kubelet "$NODE_BIN/kubelet" --config="$WORK/kubelet/config.yaml" \
    --kubeconfig="$WORK/cluster/kubeconfig" --root-dir="$WORK/kubelet/root" \
    --hostname-override="$NODE_NAME" --node-ip="$POD_GATEWAY" --v=1
}

# Stops what `start` started (newest first), then the containers' shims and whatever the
# containers left: every process whose command line names this run's containerd socket.
node_stop() {
  [[ -f "$WORK/pids" ]] || return 0
  local pid name
  if [[ -S "$RUN/containerd.sock" ]]; then
    # Kill the pods' processes first, so no shim waits on them.
    while read -r id _; do
      ctr_k8s tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true
    done < <(ctr_k8s tasks ls -q 2>/dev/null | awk '{print $1}')
  fi
  tac "$WORK/pids" | while read -r pid name; do
    [[ $name == containerd ]] && continue
    stop_pid "$pid"
  done
  # The shims (children of containerd that outlive it) name our socket in their arguments.
  for pid in $(pgrep -f -- "-address $RUN/containerd.sock" || true); do stop_pid "$pid"; done
  while read -r pid name; do [[ $name == containerd ]] && stop_pid "$pid"; done <"$WORK/pids"
  for pid in $(pgrep -f -- "-address $RUN/containerd.sock" || true); do kill -KILL "$pid" 2>/dev/null || true; done
}

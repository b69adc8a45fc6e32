//go:build tools

// Package tools pins the node-tier commands built from this module so that `go mod tidy`
// keeps their dependencies in go.mod/go.sum. Built by hack/node/build.sh, e.g.
//
//	go build -trimpath -o kubelet k8s.io/kubernetes/cmd/kubelet
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
)

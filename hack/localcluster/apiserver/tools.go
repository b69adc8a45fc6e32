//go:build tools

// Package tools pins the commands built from this module so that `go mod tidy`
// keeps their dependencies in go.mod/go.sum. Build them with, e.g.
//
//	go build -trimpath -o kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver
//	go build -trimpath -o kubectl k8s.io/kubernetes/cmd/kubectl
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)

// Command kstatus prints the kstatus status (Current, InProgress, Failed, Terminating, …) of
// Kubernetes objects, computed by sigs.k8s.io/cli-utils/pkg/kstatus/status — the library
// Flux, kpt and `kubectl wait`-style tools use to decide whether a resource has reconciled.
//
// It reads JSON from stdin: one object, a List (`kubectl get … -o json`), or several objects
// one after another. For each object it prints one JSON line:
//
//	{"kind":"ChatGroup","namespace":"team-a","name":"vip","status":"Current","message":"Resource is Ready"}
//
// Exit status: 0 when every object was read, 1 on unreadable input.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

type line struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	Status    string `json:"status"`
	Message   string `json:"message"`
}

func main() {
	if len(os.Args) > 1 {
		fmt.Fprintln(os.Stderr, "usage: kstatus < objects.json  (one object, a List, or a stream of objects)")
		os.Exit(2)
	}
	dec := json.NewDecoder(os.Stdin)
	out := json.NewEncoder(os.Stdout)
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				return
			}
			fail("reading JSON: %v", err)
		}
		// The unstructured JSON scheme keeps integers as int64, as kstatus expects.
		obj, _, err := unstructured.UnstructuredJSONScheme.Decode(raw, nil, nil)
		if err != nil {
			fail("decoding an object: %v", err)
		}
		switch o := obj.(type) {
		case *unstructured.UnstructuredList:
			for i := range o.Items {
				emit(out, &o.Items[i])
			}
		case *unstructured.Unstructured:
			emit(out, o)
		default:
			fail("unexpected object type %T", obj)
		}
	}
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "kstatus: "+format+"\n", args...)
	os.Exit(1)
}

func emit(out *json.Encoder, u *unstructured.Unstructured) {
	l := line{Kind: u.GetKind(), Namespace: u.GetNamespace(), Name: u.GetName()}
	res, err := status.Compute(u)
	if err != nil {
		l.Status = "Error"
		l.Message = err.Error()
	} else {
		l.Status = res.Status.String()
		l.Message = res.Message
	}
	if err := out.Encode(l); err != nil {
		fail("writing: %v", err)
	}
}

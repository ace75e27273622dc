// Command gitops-judge asks the health engines of two GitOps tools what they make of
// Kubernetes objects, through the tools' own Go code:
//
//   - kstatus: status.Compute from sigs.k8s.io/cli-utils/pkg/kstatus/status, the
//     status library that Flux (kustomize-controller's health checks), kpt and
//     cli-utils' appliers wait on.
//   - Argo CD: health.GetResourceHealth from gitops-engine with
//     lua.ResourceHealthOverrides from argo-cd/v2/util/lua, the call Argo CD's
//     application controller makes for every live resource (controller/health.go),
//     with one resource override whose health Lua is the file named by -argocd-health-lua
//     (what argocd-cm's resource.customizations.health.<group>_<Kind> holds).
//
// Usage:
//
//	gitops-judge -argocd-health-lua deploy/argocd/siptrunk-health.lua < objects.json
//
// stdin is a JSON array of objects (each with apiVersion and kind); stdout is a JSON
// array with one result per object, in order:
//
//	{"kstatus": {"status": "Current", "message": "..."},
//	 "argocd":  {"status": "Healthy", "message": "..."}}
//
// An engine that returns an error adds "error" to its result (kstatus then has no
// status; Argo CD reports Unknown with the error as message, as its controller does).
// The exit code is 0 whenever the input could be read, 2 for a bad flag or bad input.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/argoproj/gitops-engine/pkg/health"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	appv1 "github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
	"github.com/argoproj/argo-cd/v2/util/lua"
)

// verdict is one engine's answer for one object.
type verdict struct {
	Status  string `json:"status"`
	Message string `json:"message"`
	Error   string `json:"error,omitempty"`
}

type judgement struct {
	Kstatus verdict `json:"kstatus"`
	Argocd  verdict `json:"argocd"`
}

func kstatus(obj *unstructured.Unstructured) verdict {
	res, err := status.Compute(obj)
	if err != nil {
		return verdict{Error: err.Error()}
	}
	return verdict{Status: string(res.Status), Message: res.Message}
}

func argocd(obj *unstructured.Unstructured, overrides lua.ResourceHealthOverrides) verdict {
	// GetResourceHealth works on the object in place only for reading; a copy keeps
	// the two engines independent all the same.
	hs, err := health.GetResourceHealth(obj.DeepCopy(), overrides)
	v := verdict{}
	if hs != nil {
		v.Status, v.Message = string(hs.Status), hs.Message
	}
	if err != nil {
		v.Error = err.Error()
	}
	return v
}

func run(stdin io.Reader, stdout io.Writer, healthLua string, group, kind string) error {
	var raw []json.RawMessage
	if err := json.NewDecoder(stdin).Decode(&raw); err != nil {
		return fmt.Errorf("reading a JSON array of objects from stdin: %w", err)
	}
	overrides := lua.ResourceHealthOverrides{}
	if healthLua != "" {
		key := group + "/" + kind
		if group == "" {
			key = kind
		}
		overrides[key] = appv1.ResourceOverride{HealthLua: healthLua}
	}
	out := make([]judgement, 0, len(raw))
	for i, item := range raw {
		// UnmarshalJSON decodes as client-go does (whole numbers become int64), so both
		// engines see what they would see from an informer's cache.
		obj := &unstructured.Unstructured{}
		if err := obj.UnmarshalJSON(item); err != nil {
			return fmt.Errorf("object %d: %w", i, err)
		}
		out = append(out, judgement{Kstatus: kstatus(obj), Argocd: argocd(obj, overrides)})
	}
	enc := json.NewEncoder(stdout)
	return enc.Encode(out)
}

func main() {
	luaPath := flag.String("argocd-health-lua", "",
		"file with the Argo CD health Lua for -group/-kind (without it, Argo CD's built-in checks only)")
	group := flag.String("group", "sip.bolna.ai", "API group the health Lua is installed for")
	kind := flag.String("kind", "SipTrunk", "kind the health Lua is installed for")
	flag.Parse()
	if flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: gitops-judge [-argocd-health-lua FILE] [-group G] [-kind K] < objects.json")
		os.Exit(2)
	}
	script := ""
	if *luaPath != "" {
		data, err := os.ReadFile(*luaPath)
		if err != nil {
			fmt.Fprintln(os.Stderr, "gitops-judge:", err)
			os.Exit(2)
		}
		script = string(data)
	}
	if err := run(os.Stdin, os.Stdout, script, *group, *kind); err != nil {
		fmt.Fprintln(os.Stderr, "gitops-judge:", err)
		os.Exit(2)
	}
}

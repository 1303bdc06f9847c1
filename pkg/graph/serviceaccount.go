package graph

import (
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/rgd-dev/rgd/pkg/metadata"
)

// serviceAccountField is the field path of the RGD's identity annotation in
// errors.
const serviceAccountField = "metadata.annotations[" + metadata.AnnotationServiceAccount + "]"

// ParseServiceAccount reads the form of the rgd.dev/service-account
// annotation (and of the engine's default): NAME, the ServiceAccount NAME in
// each instance's own namespace, or NAMESPACE/NAME. The name must be a
// DNS-1123 subdomain and the namespace a DNS-1123 label, as the API server
// requires of them.
func ParseServiceAccount(value string) (ServiceAccount, error) {
	if value == "" {
		return ServiceAccount{}, errors.New("empty: expected NAME or NAMESPACE/NAME")
	}
	parts := strings.Split(value, "/")
	var sa ServiceAccount
	switch len(parts) {
	case 1:
		sa.Name = parts[0]
	case 2:
		sa.Namespace, sa.Name = parts[0], parts[1]
		if sa.Namespace == "" {
			return ServiceAccount{}, fmt.Errorf("%q has an empty namespace: expected NAME or NAMESPACE/NAME", value)
		}
	default:
		return ServiceAccount{}, fmt.Errorf("%q has more than one '/': expected NAME or NAMESPACE/NAME", value)
	}
	var problems []string
	if sa.Namespace != "" {
		for _, msg := range validation.IsDNS1123Label(sa.Namespace) {
			problems = append(problems, fmt.Sprintf("namespace %q: %s", sa.Namespace, msg))
		}
	}
	if sa.Name == "" {
		problems = append(problems, "the name is empty")
	} else {
		for _, msg := range validation.IsDNS1123Subdomain(sa.Name) {
			problems = append(problems, fmt.Sprintf("name %q: %s", sa.Name, msg))
		}
	}
	if len(problems) > 0 {
		return ServiceAccount{}, fmt.Errorf("%q is not a valid service account: %s", value, strings.Join(problems, "; "))
	}
	return sa, nil
}

// compileServiceAccount reads the RGD's rgd.dev/service-account annotation
// (nil when absent). A NAME-only value needs namespaced instances: a
// cluster-scoped instance has no namespace to find NAME in.
func (c *compiler) compileServiceAccount() *ServiceAccount {
	value, has := c.rgd.Annotations[metadata.AnnotationServiceAccount]
	if !has {
		return nil
	}
	sa, err := ParseServiceAccount(value)
	if err != nil {
		c.errs.add("", serviceAccountField, "", "%v", err)
		return nil
	}
	if sa.Namespace == "" && c.instance != nil && !c.instance.Namespaced {
		c.errs.add("", serviceAccountField, "", "%q names no namespace, and instances of the cluster-scoped kind %s have none: expected NAMESPACE/NAME", value, c.instance.GVK.Kind)
		return nil
	}
	return &sa
}

// Describe says, for people, which ServiceAccount this is: "serviceaccount
// NAMESPACE/NAME", or "serviceaccount NAME in each instance's namespace".
func (s ServiceAccount) Describe() string {
	if s.Namespace == "" {
		return "serviceaccount " + s.Name + " in each instance's namespace"
	}
	return "serviceaccount " + s.Namespace + "/" + s.Name
}

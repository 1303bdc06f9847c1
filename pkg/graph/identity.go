package graph

import "fmt"

// ServiceAccount is the identity the children of an RGD's instances are
// written with, through impersonation (the RGD's rgd.dev/service-account
// annotation, or the engine's default). Namespace "" means the ServiceAccount
// Name in each instance's own namespace.
type ServiceAccount struct {
	Namespace string
	Name      string
}

// For returns the namespace and name of the ServiceAccount that acts for an
// instance in instanceNamespace ("" for a cluster-scoped instance, which
// needs a ServiceAccount with a namespace of its own).
func (s ServiceAccount) For(instanceNamespace string) (namespace, name string, err error) {
	if s.Namespace != "" {
		return s.Namespace, s.Name, nil
	}
	if instanceNamespace == "" {
		return "", "", fmt.Errorf("service account %q has no namespace, and a cluster-scoped instance has none to lend it: name it as NAMESPACE/NAME", s.Name)
	}
	return instanceNamespace, s.Name, nil
}

// String is the annotation's form: NAME or NAMESPACE/NAME.
func (s ServiceAccount) String() string {
	if s.Namespace == "" {
		return s.Name
	}
	return s.Namespace + "/" + s.Name
}

package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// The engine's ServiceAccount with --engine-identity=serviceaccount, as a
// deployed rgd has one (deploy/ names the same).
const (
	engineSANamespace = "rgd-system"
	engineSAName      = "rgd"
	// engineBinding binds engineSA to cluster-admin.
	engineBinding = "rgd-bench-cluster-admin"
	// tokenTTL is how long the tokens the harness requests are valid: far
	// longer than a 10,000-instance run.
	tokenTTL = 24 * time.Hour
)

// engineServiceAccount creates the engine's ServiceAccount, binds it to
// cluster-admin, and writes dir/rgd.kubeconfig with a token of it (the
// TokenRequest API; the devcluster's API server signs service-account
// tokens). It returns the kubeconfig's path and the identity the API server
// sees, once that identity may create CRDs.
func engineServiceAccount(ctx context.Context, cs kubernetes.Interface, admin *rest.Config, dir string) (path, who string, err error) {
	if err := ensureNamespace(ctx, cs, engineSANamespace); err != nil {
		return "", "", err
	}
	if err := ensureServiceAccount(ctx, cs, engineSANamespace, engineSAName); err != nil {
		return "", "", err
	}
	_, err = cs.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: engineBinding},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: engineSAName, Namespace: engineSANamespace}},
	}, metav1.CreateOptions{})
	if err != nil && !isAlreadyExists(err) {
		return "", "", fmt.Errorf("binding %s/%s to cluster-admin: %w", engineSANamespace, engineSAName, err)
	}
	token, err := serviceAccountToken(ctx, cs, engineSANamespace, engineSAName)
	if err != nil {
		return "", "", err
	}
	cfg := rest.AnonymousClientConfig(admin)
	cfg.BearerToken = token
	sa, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return "", "", err
	}
	crds := authorizationv1.ResourceAttributes{Verb: "create", Group: "apiextensions.k8s.io", Resource: "customresourcedefinitions"}
	if err := waitAllowed(ctx, sa, crds); err != nil {
		return "", "", fmt.Errorf("ServiceAccount %s/%s: %w", engineSANamespace, engineSAName, err)
	}
	if who, err = whoAmI(ctx, sa); err != nil {
		return "", "", err
	}
	path = filepath.Join(dir, "rgd.kubeconfig")
	return path, who, writeTokenKubeconfig(path, cfg.Host, token)
}

// ensureNamespace creates namespace ns unless it exists.
func ensureNamespace(ctx context.Context, cs kubernetes.Interface, ns string) error {
	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !isAlreadyExists(err) {
		return fmt.Errorf("namespace %s: %w", ns, err)
	}
	return nil
}

// ensureServiceAccount creates ServiceAccount ns/name unless it exists.
func ensureServiceAccount(ctx context.Context, cs kubernetes.Interface, ns, name string) error {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	_, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{})
	if err != nil && !isAlreadyExists(err) {
		return fmt.Errorf("ServiceAccount %s/%s: %w", ns, name, err)
	}
	return nil
}

// serviceAccountToken requests a token of ServiceAccount ns/name valid for
// tokenTTL.
func serviceAccountToken(ctx context.Context, cs kubernetes.Interface, ns, name string) (string, error) {
	seconds := int64(tokenTTL.Seconds())
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &seconds},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("a token of ServiceAccount %s/%s (TokenRequest): %w", ns, name, err)
	}
	if left := time.Until(tr.Status.ExpirationTimestamp.Time); left < time.Hour {
		return "", fmt.Errorf("the token of ServiceAccount %s/%s expires in %s, expected at least an hour (the API server's --service-account-max-token-expiration?)", ns, name, left.Round(time.Second))
	}
	return tr.Status.Token, nil
}

// waitAllowed waits until the client's identity may do what attrs say (RBAC
// sees a new binding moments after it is created).
func waitAllowed(ctx context.Context, cs kubernetes.Interface, attrs authorizationv1.ResourceAttributes) error {
	var reason string
	err := poll(ctx, 30*time.Second, func() (bool, error) {
		r, err := cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &attrs},
		}, metav1.CreateOptions{})
		if err != nil {
			reason = err.Error()
			return false, nil
		}
		reason = r.Status.Reason
		return r.Status.Allowed, nil
	})
	if err != nil {
		return fmt.Errorf("not allowed to %s %s.%s after 30 s (%s): %w", attrs.Verb, attrs.Resource, attrs.Group, reason, err)
	}
	return nil
}

// whoAmI returns the user name and groups the API server sees for the client.
func whoAmI(ctx context.Context, cs kubernetes.Interface) (string, error) {
	r, err := cs.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("SelfSubjectReview: %w", err)
	}
	u := r.Status.UserInfo
	return fmt.Sprintf("%s (groups %s)", u.Username, strings.Join(u.Groups, ", ")), nil
}

// writeTokenKubeconfig writes a kubeconfig for server with a bearer token
// (TLS verification skipped, as the devcluster's own kubeconfig does: its
// serving certificate is self-signed).
func writeTokenKubeconfig(path, server, token string) error {
	const name = "rgd-bench"
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[name] = &clientcmdapi.Cluster{Server: server, InsecureSkipTLSVerify: true}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name, Namespace: "default"}
	cfg.CurrentContext = name
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("writing kubeconfig %s: %w", path, err)
	}
	return nil
}

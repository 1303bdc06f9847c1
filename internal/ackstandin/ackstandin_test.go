package ackstandin_test

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/rgd-dev/rgd/internal/ackstandin"
	"github.com/rgd-dev/rgd/pkg/devcluster"
	"github.com/rgd-dev/rgd/pkg/devcluster/devclustertest"
)

func TestMain(m *testing.M) {
	devclustertest.Main(m, devcluster.Options{})
}

func eventually(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not true after %s: %v", what, timeout, err)
		}
		time.Sleep(100 * time.Millisecond) // poll interval, bounded by the deadline above
	}
}

func installTableCRD(t *testing.T) {
	t.Helper()
	data, err := os.ReadFile("testdata/tables-crd.yaml")
	require.NoError(t, err)
	var crd apiextensionsv1.CustomResourceDefinition
	require.NoError(t, yaml.Unmarshal(data, &crd))
	cs, err := apiextensionsclient.NewForConfig(devclustertest.Config())
	require.NoError(t, err)
	ctx := context.Background()
	_, err = cs.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, &crd, metav1.CreateOptions{})
	require.NoError(t, err)
	eventually(t, 30*time.Second, "Table CRD established", func() error {
		got, err := cs.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, crd.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, c := range got.Status.Conditions {
			if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
				return nil
			}
		}
		return errors.New("not established")
	})
}

// syncBuffer is an io.Writer safe for the stand-in's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

func TestTablesTurnActive(t *testing.T) {
	devclustertest.RequireCluster(t)
	dyn, err := dynamic.NewForConfig(devclustertest.Config())
	require.NoError(t, err)

	// Started before the CRD exists: the stand-in waits for it.
	ctx, cancel := context.WithCancel(context.Background())
	var log syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- ackstandin.Run(ctx, dyn, ackstandin.Options{Delay: 300 * time.Millisecond, APIPollInterval: 100 * time.Millisecond, Log: &log})
	}()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	installTableCRD(t)

	ns := devclustertest.Namespace(t)
	tables := dyn.Resource(ackstandin.TableResource).Namespace(ns)
	_, err = tables.Create(context.Background(), &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "dynamodb.services.k8s.aws/v1alpha1",
		"kind":       "Table",
		"metadata":   map[string]any{"name": "items"},
		"spec":       map[string]any{"tableName": "carts"},
	}}, metav1.CreateOptions{})
	require.NoError(t, err)

	var got *unstructured.Unstructured
	eventually(t, 30*time.Second, "table ACTIVE", func() error {
		got, err = tables.Get(context.Background(), "items", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if s, _, _ := unstructured.NestedString(got.Object, "status", "tableStatus"); s != "ACTIVE" {
			return errors.New("tableStatus " + s)
		}
		return nil
	})
	meta, _, _ := unstructured.NestedStringMap(got.Object, "status", "ackResourceMetadata")
	assert.Equal(t, map[string]string{
		"arn":            "arn:aws:dynamodb:us-west-2:000000000000:table/carts",
		"ownerAccountID": "000000000000",
		"region":         "us-west-2",
	}, meta)
	conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
	require.Len(t, conds, 1)
	cond := conds[0].(map[string]any)
	assert.Equal(t, "ACK.ResourceSynced", cond["type"])
	assert.Equal(t, "True", cond["status"])
	assert.NotEmpty(t, cond["lastTransitionTime"])
	spec, _, _ := unstructured.NestedMap(got.Object, "spec")
	assert.Equal(t, map[string]any{"tableName": "carts"}, spec, "spec untouched")

	var manager *metav1.ManagedFieldsEntry
	for i, mf := range got.GetManagedFields() {
		if mf.Manager == ackstandin.FieldManager {
			manager = &got.GetManagedFields()[i]
		}
	}
	require.NotNil(t, manager, "status written with field manager %s", ackstandin.FieldManager)
	assert.Equal(t, "status", manager.Subresource)
	assert.Contains(t, log.String(), "ACK stand-in (rgd dev): table "+ns+"/items is ACTIVE")

	// Someone resets the status: the stand-in writes it again.
	unstructured.SetNestedField(got.Object, "CREATING", "status", "tableStatus")
	_, err = tables.UpdateStatus(context.Background(), got, metav1.UpdateOptions{})
	require.NoError(t, err)
	eventually(t, 30*time.Second, "table ACTIVE again", func() error {
		again, err := tables.Get(context.Background(), "items", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if s, _, _ := unstructured.NestedString(again.Object, "status", "tableStatus"); s != "ACTIVE" {
			return errors.New("tableStatus " + s)
		}
		return nil
	})
}

func TestRunEndsWhileWaitingForTheCRD(t *testing.T) {
	devclustertest.RequireCluster(t)
	// A client for a group that is never installed: Run waits until ctx ends.
	dyn, err := dynamic.NewForConfig(devclustertest.Config())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	var log syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- ackstandin.Run(ctx, notFoundClient{dyn}, ackstandin.Options{APIPollInterval: 50 * time.Millisecond, Log: &log})
	}()
	eventually(t, 10*time.Second, "waiting message", func() error {
		if log.String() == "" {
			return errors.New("no log yet")
		}
		return nil
	})
	cancel()
	require.NoError(t, <-done)
	assert.Contains(t, log.String(), "waiting for the tables.dynamodb.services.k8s.aws CRD")
}

// notFoundClient sends every request to a group that no cluster serves.
type notFoundClient struct{ dynamic.Interface }

func (c notFoundClient) Resource(gvr schema.GroupVersionResource) dynamic.NamespaceableResourceInterface {
	gvr.Group = "never-installed.rgd.test"
	return c.Interface.Resource(gvr)
}

package ackstandin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// TableResource is the ACK DynamoDB Table resource the stand-in serves.
var TableResource = schema.GroupVersionResource{Group: "dynamodb.services.k8s.aws", Version: "v1alpha1", Resource: "tables"}

// FieldManager is the server-side apply field manager of the stand-in's status writes.
const FieldManager = "rgd-dev-ack-standin"

// ConditionResourceSynced is ACK's condition type for "the backend resource is in sync".
const ConditionResourceSynced = "ACK.ResourceSynced"

// Options tune the stand-in. Zero values take the defaults shown.
type Options struct {
	// Delay between first seeing a Table and reporting it ACTIVE (default 2s),
	// standing in for the time AWS takes to create a table.
	Delay time.Duration
	// Region written to ackResourceMetadata and the ARN (default us-west-2).
	Region string
	// AccountID written as ownerAccountID and into the ARN (default 000000000000).
	AccountID string
	// Log receives one line per Table turned ACTIVE; nil discards them.
	Log io.Writer
	// APIPollInterval is how often Run checks whether the Table CRD has been
	// installed yet (default 1s).
	APIPollInterval time.Duration
	// Workers is the number of concurrent status writers (default 2).
	Workers int
}

func (o Options) withDefaults() Options {
	if o.Delay == 0 {
		o.Delay = 2 * time.Second
	}
	if o.Region == "" {
		o.Region = "us-west-2"
	}
	if o.AccountID == "" {
		o.AccountID = "000000000000"
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.APIPollInterval == 0 {
		o.APIPollInterval = time.Second
	}
	if o.Workers <= 0 {
		o.Workers = 2
	}
	return o
}

// Run serves Tables until ctx ends, then returns nil. When the Table CRD is
// not installed yet it waits for it.
func Run(ctx context.Context, client dynamic.Interface, opts Options) error {
	opts = opts.withDefaults()
	s := &standin{client: client, opts: opts}
	if err := s.waitForAPI(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}

	factory := dynamicinformer.NewDynamicSharedInformerFactory(client, 0)
	informer := factory.ForResource(TableResource).Informer()
	s.indexer = informer.GetIndexer()
	s.queue = workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "rgd-dev-ack-standin"},
	)
	defer s.queue.ShutDown()
	if _, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    s.enqueue,
		UpdateFunc: func(_, obj any) { s.enqueue(obj) },
	}); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
		return nil // ctx ended
	}
	fmt.Fprintf(opts.Log, "ACK stand-in (rgd dev): serving %s, tables turn ACTIVE after %s\n", TableResource.GroupResource(), opts.Delay)

	var wg sync.WaitGroup
	for range opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s.processNext(ctx) {
			}
		}()
	}
	<-ctx.Done()
	s.queue.ShutDown()
	wg.Wait()
	return nil
}

type standin struct {
	client  dynamic.Interface
	opts    Options
	indexer cache.Indexer
	queue   workqueue.TypedRateLimitingInterface[string]
}

// waitForAPI polls until the Table resource is served.
func (s *standin) waitForAPI(ctx context.Context) error {
	ticker := time.NewTicker(s.opts.APIPollInterval)
	defer ticker.Stop()
	said := false
	for {
		_, err := s.client.Resource(TableResource).List(ctx, metav1.ListOptions{Limit: 1})
		if err == nil {
			return nil
		}
		if !apierrors.IsNotFound(err) && ctx.Err() == nil && !said {
			fmt.Fprintf(s.opts.Log, "ACK stand-in (rgd dev): cannot list %s yet: %v\n", TableResource.GroupResource(), err)
		}
		if !said {
			fmt.Fprintf(s.opts.Log, "ACK stand-in (rgd dev): waiting for the %s CRD\n", TableResource.GroupResource())
			said = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ticker.C:
		}
	}
}

// enqueue schedules a Table whose status is not yet what the stand-in reports.
func (s *standin) enqueue(obj any) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return
	}
	if _, differs := DesiredStatus(u, s.opts.Region, s.opts.AccountID, time.Now()); !differs {
		return
	}
	key, err := cache.MetaNamespaceKeyFunc(u)
	if err != nil {
		return
	}
	s.queue.AddAfter(key, s.opts.Delay)
}

func (s *standin) processNext(ctx context.Context) bool {
	key, quit := s.queue.Get()
	if quit {
		return false
	}
	defer s.queue.Done(key)
	if err := s.sync(ctx, key); err != nil {
		if ctx.Err() == nil {
			fmt.Fprintf(s.opts.Log, "ACK stand-in (rgd dev): table %s: %v (will retry)\n", key, err)
		}
		s.queue.AddRateLimited(key)
		return true
	}
	s.queue.Forget(key)
	return true
}

// sync writes the Table's status when it differs from what it should be.
func (s *standin) sync(ctx context.Context, key string) error {
	obj, exists, err := s.indexer.GetByKey(key)
	if err != nil || !exists {
		return err
	}
	table, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return errors.New("unexpected object in cache")
	}
	if table.GetDeletionTimestamp() != nil {
		return nil
	}
	status, differs := DesiredStatus(table, s.opts.Region, s.opts.AccountID, time.Now())
	if !differs {
		return nil
	}
	apply := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": table.GetAPIVersion(),
		"kind":       table.GetKind(),
		"metadata":   map[string]any{"name": table.GetName(), "namespace": table.GetNamespace()},
		"status":     status,
	}}
	_, err = s.client.Resource(TableResource).Namespace(table.GetNamespace()).
		ApplyStatus(ctx, table.GetName(), apply, metav1.ApplyOptions{FieldManager: FieldManager, Force: true})
	if apierrors.IsNotFound(err) {
		return nil // deleted meanwhile
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(s.opts.Log, "ACK stand-in (rgd dev): table %s is ACTIVE (%s)\n", key,
		status["ackResourceMetadata"].(map[string]any)["arn"])
	return nil
}

// DesiredStatus returns the status the stand-in reports for table and
// whether the table's current status differs from it. The condition
// ACK.ResourceSynced keeps its lastTransitionTime when it is already True;
// other conditions are kept as they are.
func DesiredStatus(table *unstructured.Unstructured, region, accountID string, now time.Time) (map[string]any, bool) {
	tableName, _, _ := unstructured.NestedString(table.Object, "spec", "tableName")
	if tableName == "" {
		tableName = table.GetName()
	}
	meta := map[string]any{
		"arn":            fmt.Sprintf("arn:aws:dynamodb:%s:%s:table/%s", region, accountID, tableName),
		"ownerAccountID": accountID,
		"region":         region,
	}
	differs := false
	if current, _, _ := unstructured.NestedString(table.Object, "status", "tableStatus"); current != "ACTIVE" {
		differs = true
	}
	for k, v := range meta {
		if current, _, _ := unstructured.NestedString(table.Object, "status", "ackResourceMetadata", k); current != v {
			differs = true
		}
	}

	synced := map[string]any{
		"type":               ConditionResourceSynced,
		"status":             "True",
		"reason":             "Synced",
		"message":            "rgd dev's ACK stand-in: no AWS here, the table is reported ACTIVE",
		"lastTransitionTime": now.UTC().Format(time.RFC3339),
	}
	conditions := []any{}
	found := false
	existing, _, _ := unstructured.NestedSlice(table.Object, "status", "conditions")
	for _, c := range existing {
		cond, ok := c.(map[string]any)
		if !ok {
			continue
		}
		if cond["type"] != ConditionResourceSynced {
			conditions = append(conditions, cond)
			continue
		}
		if found {
			differs = true // a duplicate is dropped
			continue
		}
		found = true
		if cond["status"] == "True" {
			if ltt, ok := cond["lastTransitionTime"].(string); ok && ltt != "" {
				synced["lastTransitionTime"] = ltt
			} else {
				differs = true
			}
		} else {
			differs = true
		}
	}
	if !found {
		differs = true
	}
	conditions = append(conditions, synced)
	return map[string]any{
		"tableStatus":         "ACTIVE",
		"ackResourceMetadata": meta,
		"conditions":          conditions,
	}, differs
}

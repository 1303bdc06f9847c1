package watch_test

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/rgd-dev/rgd/internal/watch"
)

// An owner (here an RGD) watches the children of its instances, lists one
// instance's children from the cache, and releases everything when it goes.
func Example() {
	client, err := dynamic.NewForConfig(&rest.Config{Host: "https://127.0.0.1:6443"})
	if err != nil {
		panic(err)
	}
	m := watch.NewManager(client, watch.Options{})
	defer m.Stop()

	queue := make(chan string, 100) // stands in for a workqueue
	key := watch.Key{
		GVR:      schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"},
		Selector: "kro.run/owned=true",
	}
	children, err := m.Watch(context.TODO(), "rgd-uid", key, func(ev watch.Event) {
		queue <- ev.Object.GetLabels()["kro.run/instance-id"]
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, d := range children.ByIndex(watch.IndexByInstance, "instance-uid") {
		fmt.Println(d.GetNamespace(), d.GetName()) // read-only: DeepCopy to change
	}
	m.ReleaseAll("rgd-uid")
}

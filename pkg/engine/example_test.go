package engine_test

import (
	"context"
	"fmt"
	"os/signal"
	"syscall"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/rgd-dev/rgd/pkg/engine"
	"github.com/rgd-dev/rgd/pkg/manifest"
)

// Run the engine inside your own program: it serves every
// ResourceGraphDefinition of the cluster until the context ends.
func Example() {
	cfg, err := clientcmd.BuildConfigFromFlags("", clientcmd.RecommendedHomeFile)
	if err != nil {
		fmt.Println(err)
		return
	}
	e, err := engine.New(cfg, engine.Options{Workers: 16})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := e.Start(ctx); err != nil {
		fmt.Println(err)
	}
}

// Compile and render an RGD without a cluster.
func ExampleRender() {
	docs, _ := manifest.ReadFile("../../examples/foreach/rgd.yaml")
	rgd, _ := docs[0].RGD()
	g, err := engine.Compile(context.Background(), rgd, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	out, err := engine.Render(g, map[string]any{
		"apiVersion": "kro.run/v1alpha1", "kind": g.Instance.GVK.Kind,
		"metadata": map[string]any{"name": "acme", "namespace": "team"},
		"spec":     map[string]any{"tenants": []any{"alpha", "beta"}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range out.Resources {
		for _, o := range r.Objects {
			fmt.Println(r.Resource.ID, o["metadata"].(map[string]any)["name"])
		}
	}
	// Output:
	// tenantConfigs acme-alpha
	// tenantConfigs acme-beta
}

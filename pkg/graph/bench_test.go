package graph

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rgd-dev/rgd/pkg/manifest"
	"github.com/rgd-dev/rgd/pkg/schemas"
)

// BenchmarkCompileCartsStack compiles the bundled CartsStack example (six
// resources, an ACK Table from a CRD file). kro needs 0.62-0.76 ms for a
// two-resource RGD on the same kind of machine.
func BenchmarkCompileCartsStack(b *testing.B) {
	crds, err := schemas.LoadCRDFiles("../../examples/cartsstack/table-crd.yaml")
	require.NoError(b, err)
	resolver := schemas.Chain(crds, schemas.Builtin())
	rgd := loadRGD(b, "../../examples/cartsstack/rgd.yaml")
	ctx := context.Background()
	_, err = Compile(ctx, rgd, Options{Resolver: resolver})
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(ctx, rgd, Options{Resolver: resolver}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompileTwentyPods compiles an RGD of 20 Pods, each naming the
// previous one; kro needs 4.2-5.7 ms for 20 Pods.
func BenchmarkCompileTwentyPods(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: pods
spec:
  schema:
    apiVersion: v1alpha1
    kind: PodChain
    spec:
      name: string | required=true
      image: string | default=nginx
  resources:
`)
	for i := 0; i < 20; i++ {
		name := "${schema.spec.name}-0"
		if i > 0 {
			name = fmt.Sprintf("${pod%d.metadata.name}-%d", i-1, i)
		}
		fmt.Fprintf(&sb, `  - id: pod%d
    template:
      apiVersion: v1
      kind: Pod
      metadata:
        name: %s
        labels:
          app: ${schema.spec.name}
      spec:
        containers:
        - name: main
          image: ${schema.spec.image}
          env:
          - name: INDEX
            value: "%d"
`, i, name, i)
	}
	docs, err := manifest.Read(strings.NewReader(sb.String()), "pods.yaml")
	require.NoError(b, err)
	rgd, err := docs[0].RGD()
	require.NoError(b, err)
	resolver := schemas.Builtin()
	ctx := context.Background()
	g, err := Compile(ctx, rgd, Options{Resolver: resolver})
	require.NoError(b, err)
	require.Len(b, g.Resources, 20)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(ctx, rgd, Options{Resolver: resolver}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompilePodAndConfigMap compiles the shape of kro's smallest
// builder benchmark: one Pod and one ConfigMap (kro: 0.62-0.76 ms).
func BenchmarkCompilePodAndConfigMap(b *testing.B) {
	docs, err := manifest.Read(strings.NewReader(`apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: small
spec:
  schema:
    apiVersion: v1alpha1
    kind: Small
    spec:
      name: string | required=true
      image: string | default=nginx
    status:
      phase: ${pod.status.?phase.orValue("")}
  resources:
  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.spec.name}
      data:
        image: ${schema.spec.image}
  - id: pod
    template:
      apiVersion: v1
      kind: Pod
      metadata:
        name: ${schema.spec.name}
      spec:
        containers:
        - name: main
          image: ${config.data.image}
`), "small.yaml")
	require.NoError(b, err)
	rgd, err := docs[0].RGD()
	require.NoError(b, err)
	ctx := context.Background()
	resolver := schemas.Builtin()
	_, err = Compile(ctx, rgd, Options{Resolver: resolver})
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(ctx, rgd, Options{Resolver: resolver}); err != nil {
			b.Fatal(err)
		}
	}
}

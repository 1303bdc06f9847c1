package graph

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
	"github.com/rgd-dev/rgd/pkg/manifest"
	"github.com/rgd-dev/rgd/pkg/schemas"
)

// BenchmarkCompileCartsStack compiles the bundled CartsStack example (six
// resources, an ACK Table from a CRD file). kro needs 0.62-0.76 ms for a
// two-resource RGD on the same kind of machine.
//
// Every iteration compiles with a new, empty Cache: this is the first
// compilation of the RGD in a process (the kinds' schemas are already
// resolved and the CEL libraries built, as in a running controller).
func BenchmarkCompileCartsStack(b *testing.B) {
	rgd, resolver := cartsStack(b)
	benchCold(b, rgd, resolver)
}

// BenchmarkCompileCartsStackWarm recompiles CartsStack with a Cache that
// earlier compilations of the same RGD filled: what the controller pays when
// it recompiles an RGD whose expressions and kinds did not change.
func BenchmarkCompileCartsStackWarm(b *testing.B) {
	rgd, resolver := cartsStack(b)
	benchWarm(b, rgd, resolver)
}

func cartsStack(b *testing.B) (*v1alpha1.ResourceGraphDefinition, schemas.Resolver) {
	crds, err := schemas.LoadCRDFiles("../../examples/cartsstack/table-crd.yaml")
	require.NoError(b, err)
	resolver := schemas.Chain(crds, schemas.Builtin())
	rgd := loadRGD(b, "../../examples/cartsstack/rgd.yaml")
	_, err = Compile(context.Background(), rgd, Options{Resolver: resolver, Cache: NewCache(0, 0)})
	require.NoError(b, err)
	return rgd, resolver
}

// benchCold compiles with a new, empty Cache per iteration.
func benchCold(b *testing.B, rgd *v1alpha1.ResourceGraphDefinition, resolver schemas.Resolver) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(ctx, rgd, Options{Resolver: resolver, Cache: NewCache(0, 0)}); err != nil {
			b.Fatal(err)
		}
	}
}

// benchWarm compiles with one Cache, filled before the timer starts.
func benchWarm(b *testing.B, rgd *v1alpha1.ResourceGraphDefinition, resolver schemas.Resolver) {
	ctx := context.Background()
	cache := NewCache(0, 0)
	_, err := Compile(ctx, rgd, Options{Resolver: resolver, Cache: cache})
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(ctx, rgd, Options{Resolver: resolver, Cache: cache}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompileTwentyPods compiles an RGD of 20 Pods, each naming the
// previous one; kro needs 4.2-5.7 ms for 20 Pods.
func BenchmarkCompileTwentyPods(b *testing.B) {
	benchCold(b, twentyPods(b), schemas.Builtin())
}

// BenchmarkCompileTwentyPodsWarm is BenchmarkCompileTwentyPods with a Cache
// that earlier compilations filled.
func BenchmarkCompileTwentyPodsWarm(b *testing.B) {
	benchWarm(b, twentyPods(b), schemas.Builtin())
}

func twentyPods(b *testing.B) *v1alpha1.ResourceGraphDefinition {
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
	g, err := Compile(context.Background(), rgd, Options{Resolver: schemas.Builtin(), Cache: NewCache(0, 0)})
	require.NoError(b, err)
	require.Len(b, g.Resources, 20)
	return rgd
}

// BenchmarkCompilePodAndConfigMap compiles the shape of kro's smallest
// builder benchmark: one Pod and one ConfigMap (kro: 0.62-0.76 ms).
func BenchmarkCompilePodAndConfigMap(b *testing.B) {
	benchCold(b, podAndConfigMap(b), schemas.Builtin())
}

// BenchmarkCompilePodAndConfigMapWarm is BenchmarkCompilePodAndConfigMap
// with a Cache that earlier compilations filled.
func BenchmarkCompilePodAndConfigMapWarm(b *testing.B) {
	benchWarm(b, podAndConfigMap(b), schemas.Builtin())
}

func podAndConfigMap(b *testing.B) *v1alpha1.ResourceGraphDefinition {
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
	_, err = Compile(context.Background(), rgd, Options{Resolver: schemas.Builtin(), Cache: NewCache(0, 0)})
	require.NoError(b, err)
	return rgd
}

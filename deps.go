//go:build tools

package deps
import (
 _ "k8s.io/api/core/v1"
 _ "k8s.io/apimachinery/pkg/apis/meta/v1"
 _ "k8s.io/client-go/dynamic"
 _ "k8s.io/apiserver/pkg/cel/library"
 _ "k8s.io/apiserver/pkg/cel/openapi/resolver"
 _ "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
 _ "github.com/google/cel-go/cel"
 _ "gonum.org/v1/gonum/graph/topo"
 _ "github.com/stretchr/testify/require"
 _ "github.com/spf13/cobra"
 _ "sigs.k8s.io/yaml"
 _ "github.com/gobuffalo/flect"
 _ "sigs.k8s.io/structured-merge-diff/v6/typed"
 _ "github.com/prometheus/client_golang/prometheus"
)

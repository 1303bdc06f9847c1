package crds

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestResourceGraphDefinitionsDecodes(t *testing.T) {
	crd, err := ResourceGraphDefinitions()
	require.NoError(t, err)
	require.Equal(t, "resourcegraphdefinitions.kro.run", crd.Name)
	require.Equal(t, []string{"rgd"}, crd.Spec.Names.ShortNames)
	require.Len(t, crd.Spec.Versions, 1)
	require.NotNil(t, crd.Spec.Versions[0].Subresources)
	require.NotNil(t, crd.Spec.Versions[0].Subresources.Status)
}

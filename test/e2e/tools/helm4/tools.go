//go:build tools

// Pins helm.sh/helm/v4 so `go build helm.sh/helm/v4/cmd/helm` resolves from this module.
package tools

import _ "helm.sh/helm/v4/cmd/helm"

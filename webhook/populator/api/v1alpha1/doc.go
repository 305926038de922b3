// Package v1alpha1 is the snaprestore.io/v1alpha1 API: BackupSource, the data
// source a PVC's dataSourceRef names to be populated from a Longhorn backup
// (issue #10). It holds types, deepcopy and scheme registration only; the CRD
// is charts/snaprestore/crds/snaprestore.io_backupsources.yaml and the
// controller is package webhook/populator. Entry point: AddToScheme.
package v1alpha1

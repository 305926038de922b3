// Package populator restores Longhorn backups into PVCs of any StorageClass
// through the volume populator mechanism (KEP-1495, issue #10): a PVC whose
// dataSourceRef names a snaprestore.io BackupSource gets a prime PVC and a
// short-lived populator pod running `snaprestore populate` in the controller's
// namespace, and the populated PV is rebound to it. The pure decision is
// decide (decide.go); Add wires the controller onto a manager; Populate is the
// pod's side. It never writes to the backupstore.
package populator

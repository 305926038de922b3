// Package webhook is the admission side of snaprestore: the validating rules of
// VolumeSnapshots, VolumeSnapshotContents, VolumeSnapshotClasses and restore PVCs, the
// mutation that turns a bare backup reference into the objects a restore needs, the
// orphan GC of what it created, and the wiring of the webhook process (NewManager,
// Setup). It restores no data; backups are read through package restore, and the
// in-cluster controllers live in packages of their own (webhook/verify).
//
// Files, by one scheme: a kind's name is its validating rule, mutate_* the mutation,
// gc* the orphan GC, the rest the shared core.
//
//	setup.go             NewScheme, NewManager, Setup: the process wiring (cmd and benchmark)
//	options.go           Options (flags, Validate), HandlerOptions, --longhorn-driver
//	handlers.go          NewValidatingHandlers, NewMutatingHandlers (instrumented)
//	adapter.go           the two admission adapters: decode, recover, deny, patch
//	metrics.go           admission metrics (instrument)
//	paths.go             URL paths and matchCondition expressions
//	objects.go           Objects: the cross-object facts, read through the cache
//	backups.go           Backups, Preflight, ValidateBackupFacts: the backupstore pre-flight
//	validate.go          Rules: dispatch of the validating rules
//	cel.go               the snapshot CRDs' CEL rules, repeated in their words
//	volumesnapshot.go, volumesnapshotcontent.go, volumesnapshotclass.go, pvc.go
//	                     the validating rule of each kind
//	mutate.go            annotations, the bare-reference grammar
//	mutate_volumesnapshot.go, mutate_pvc.go
//	                     the mutation of each kind
//	mutate_content.go    the VolumeSnapshotContent a bare reference needs
//	mutate_ensure.go     apiObjects: the one side effect, idempotent creates
//	mutate_metrics.go    metrics of the created objects
//	gc.go, gc_controller.go
//	                     the orphan GC policy and its controller
//
// A restore PVC's chain (PVC → VolumeSnapshot → content → backup) is resolved by
// package webhook/source for the rules here and for the verifier alike.
package webhook

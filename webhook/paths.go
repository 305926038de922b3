package webhook

// URL paths the webhook server answers on. The chart's and the tests' webhook
// configurations name the same paths.
const (
	PathValidateVolumeSnapshots        = "/validate/volumesnapshots"
	PathValidateVolumeSnapshotContents = "/validate/volumesnapshotcontents"
	PathValidateVolumeSnapshotClasses  = "/validate/volumesnapshotclasses"
	PathValidatePVCs                   = "/validate/persistentvolumeclaims"
	PathMutateVolumeSnapshots          = "/mutate/volumesnapshots"
	PathMutatePVCs                     = "/mutate/persistentvolumeclaims"
)

// CEL expressions of the webhooks' matchConditions, in the chart and in the tests'
// configurations: the API server calls a webhook only for the objects its handler acts
// on, so an outage cannot block ordinary claims and no call is spent on a no-op.
const (
	// MatchBackupAnnotation is true for an object carrying snaprestore.io/backup: the
	// mutating VolumeSnapshot webhook's condition (its handler leaves other snapshots
	// alone).
	MatchBackupAnnotation = "has(object.metadata.annotations) && '" + AnnotationBackup + "' in object.metadata.annotations"
	// MatchRestoresSnapshot is true for a claim whose dataSource or dataSourceRef is of kind
	// VolumeSnapshot (any apiGroup): the validating PVC webhook's condition.
	MatchRestoresSnapshot = "(has(object.spec.dataSource) && object.spec.dataSource.kind == 'VolumeSnapshot') || " +
		"(has(object.spec.dataSourceRef) && object.spec.dataSourceRef.kind == 'VolumeSnapshot')"
	// MatchBackupOrSnapshot is the mutating PVC webhook's condition: the claim carries
	// snaprestore.io/backup, or a CREATE restores a VolumeSnapshot (whose apiGroup the
	// mutating handler checks, because the API server drops a wrong one before validating
	// admission). UPDATEs of unannotated claims, e.g. the PV controller binding them, are
	// not sent: the handler leaves them alone.
	MatchBackupOrSnapshot = "(" + MatchBackupAnnotation + ") || " +
		"(request.operation == 'CREATE' && (" + MatchRestoresSnapshot + "))"
)

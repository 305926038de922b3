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

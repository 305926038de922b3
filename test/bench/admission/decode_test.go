package main

import (
	"testing"

	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kjson "k8s.io/apimachinery/pkg/util/json"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/snaprestore/snaprestore/test/bench/admission/cluster"
)

// BenchmarkDecode compares the two ways a handler can turn the object of a
// review into a typed struct: controller-runtime's admission.Decoder (the
// scheme's universal deserializer: a first JSON pass to find apiVersion and
// kind, then the decode) and a single case-sensitive JSON decode, the one the
// first ends with. The difference is what a handler that trusts the review's
// kind (the API server sends the kind the webhook registered for) could save.
//
//	go test -run '^$' -bench Decode ./test/bench/admission
func BenchmarkDecode(b *testing.B) {
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(snapv1.AddToScheme(scheme))
	dec := admission.NewDecoder(scheme)
	for _, tc := range []struct {
		name string
		obj  client.Object
		new  func() client.Object
	}{
		{"PersistentVolumeClaim", cluster.RestorePVC("ns", "pvc", "snap", "sc", pvcSize), func() client.Object { return &corev1.PersistentVolumeClaim{} }},
		{"VolumeSnapshot", cluster.Snapshot("ns", "snap", "content", "class"), func() client.Object { return &snapv1.VolumeSnapshot{} }},
		{"VolumeSnapshotContent", cluster.Content("content", "ns", "snap", "class", cluster.Handle("bench", 1)), func() client.Object { return &snapv1.VolumeSnapshotContent{} }},
	} {
		raw, err := kjson.Marshal(tc.obj)
		if err != nil {
			b.Fatalf("marshal %s: %v", tc.name, err)
		}
		b.Run(tc.name+"/admission.Decoder", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := dec.DecodeRaw(runtime.RawExtension{Raw: raw}, tc.new()); err != nil {
					b.Fatalf("decode %s: %v", tc.name, err)
				}
			}
		})
		b.Run(tc.name+"/json", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := kjson.Unmarshal(raw, tc.new()); err != nil {
					b.Fatalf("decode %s: %v", tc.name, err)
				}
			}
		})
	}
}

package restore

import "testing"

func TestSameBackupstore(t *testing.T) {
	t.Parallel()
	cases := []struct {
		a, b string
		same bool
	}{
		{"file:///mnt/backups", "vfs:///mnt/backups", true},
		{"file:///mnt/backups/", "file:///mnt/backups", true},
		{"file://localhost/mnt/backups", "vfs:///mnt//backups/", true},
		{"file:///mnt/backups", "file:///mnt/other", false},
		{"s3://bucket@us-east-1", "s3://bucket@us-east-1/", true},
		{"s3://bucket@us-east-1/", "s3://bucket@US-EAST-1/", true},
		{"s3://bucket@us-east-1/path/", "s3://bucket@us-east-1/path", true},
		{"s3://bucket@us-east-1/path", "s3://bucket@us-east-1/", false},
		{"s3://bucket@us-east-1/", "s3://bucket@eu-west-1/", false},
		{"s3://bucket@us-east-1/", "s3://other@us-east-1/", false},
		{"s3://bucket@us-east-1/", "file:///bucket", false},
		{"nfs://server:/export/", "nfs://server:/export", true},
	}
	for _, c := range cases {
		if got := SameBackupstore(c.a, c.b); got != c.same {
			t.Errorf("SameBackupstore(%q, %q) = %v, want %v", c.a, c.b, got, c.same)
		}
		if got := SameBackupstore(c.b, c.a); got != c.same {
			t.Errorf("SameBackupstore(%q, %q) = %v, want %v", c.b, c.a, got, c.same)
		}
	}
}

// TestStoreHolds: the region of an S3 store opened without "@region" comes from
// AWS_REGION, and a reference spelling it out names the same store.
func TestStoreHolds(t *testing.T) {
	t.Parallel()
	env := map[string]string{"AWS_REGION": "eu-west-1"}
	st, err := OpenStore("s3://bucket/backups/", StoreOptions{Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	for ref, want := range map[Reference]bool{
		{Volume: "v1", Backup: "b1"}: true,
		{Volume: "v1", Backup: "b1", Backupstore: "s3://bucket@eu-west-1/backups"}: true,
		{Volume: "v1", Backup: "b1", Backupstore: "s3://bucket@eu-west-1/"}:        false,
		{Volume: "v1", Backup: "b1", Backupstore: "s3://bucket@us-east-1/backups"}: false,
	} {
		if got := st.Holds(ref); got != want {
			t.Errorf("Store(s3://bucket/backups/, AWS_REGION eu-west-1).Holds(%+v) = %v, want %v", ref, got, want)
		}
	}
}

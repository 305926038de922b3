package main

import "testing"

func TestByteSize(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in     string
		want   int64
		str    string
		errMsg string
	}{
		{in: "64Mi", want: 64 << 20, str: "64Mi"},
		{in: "64MiB", want: 64 << 20, str: "64Mi"},
		{in: "64M", want: 64 << 20, str: "64Mi"},
		{in: "1Gi", want: 1 << 30, str: "1Gi"},
		{in: "512K", want: 512 << 10, str: "512Ki"},
		{in: "1000", want: 1000, str: "1000"},
		{in: "4096B", want: 4096, str: "4Ki"},
		{in: "0", want: 0, str: "0"},
		{in: "-1Mi", errMsg: `"-1Mi"; expected a number of bytes with an optional unit K, M or G (powers of 1024), such as 64Mi`},
		{in: "64MB", errMsg: `"64MB"; expected a number of bytes with an optional unit K, M or G (powers of 1024), such as 64Mi`},
		{in: "1.5Gi", errMsg: `"1.5Gi"; expected a number of bytes with an optional unit K, M or G (powers of 1024), such as 64Mi`},
		{in: "9999999999Gi", errMsg: `"9999999999Gi"; expected a number of bytes with an optional unit K, M or G (powers of 1024), such as 64Mi`},
	}
	for _, c := range cases {
		var b byteSize
		err := b.Set(c.in)
		switch {
		case c.errMsg != "":
			if err == nil || err.Error() != c.errMsg {
				t.Errorf("Set(%q) = %v; want %s", c.in, err, c.errMsg)
			}
		case err != nil || int64(b) != c.want || b.String() != c.str:
			t.Errorf("Set(%q) = %d (%s), %v; want %d (%s)", c.in, int64(b), b.String(), err, c.want, c.str)
		}
	}
}

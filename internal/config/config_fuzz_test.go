package config

import "testing"

// FuzzParsePrefixes feeds --trusted-proxies any text: it never panics, and
// what it accepts are valid, masked networks.
func FuzzParsePrefixes(f *testing.F) {
	for _, seed := range []string{"10.0.0.0/8,192.168.1.1", " ::1 , 2001:db8::/32", "10.0.0.1/40", "a,,b", "::ffff:10.1.2.3"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		prefixes, err := parsePrefixes(s)
		if err != nil {
			return
		}
		for _, p := range prefixes {
			if !p.IsValid() || p != p.Masked() {
				t.Fatalf("parsePrefixes(%q) gave %v", s, p)
			}
		}
	})
}

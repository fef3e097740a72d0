package session

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

func TestPassword(t *testing.T) {
	pw := []byte("0123456789abcdef")
	d := Digest(pw)
	// A fixed vector: the digest is durable in the replicated record.
	const want = "9f9f5111f7b27a781f1f1ddde5ebc2dd2b796bfc7365c9c28b548e564176929f"
	if got := hex.EncodeToString(d); got != want {
		t.Fatalf("Digest = %s, want %s", got, want)
	}
	if !CheckPassword(d, pw) {
		t.Fatal("CheckPassword rejects the right password")
	}
	other := bytes.Clone(pw)
	other[PasswordLen-1] ^= 1
	for _, tc := range []struct {
		name     string
		digest   []byte
		password []byte
	}{
		{"wrong password", d, other},
		{"short password", d, pw[:PasswordLen-1]},
		{"long password", d, append(bytes.Clone(pw), 0)},
		{"nil password", d, nil},
		{"short digest", d[:sha256.Size-1], pw},
		{"nil digest", nil, pw},
		{"digest of another", Digest(other), pw},
	} {
		if CheckPassword(tc.digest, tc.password) {
			t.Errorf("%s: CheckPassword accepted", tc.name)
		}
	}
}

func TestDigestWrongLengthPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Digest of a 15-byte password did not panic")
		}
	}()
	Digest(make([]byte, PasswordLen-1))
}

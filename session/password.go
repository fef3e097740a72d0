package session

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
)

// PasswordLen is the length in bytes of a session password: 128 random
// bits, drawn by the server from crypto/rand.
const PasswordLen = 16

// Digest returns the SHA-256 digest of a session password, the form kept
// in the replicated session record (CreateSession.PasswordDigest) so that
// neither the log nor a snapshot reveals the password. The password is
// random and long enough that an unsalted hash cannot be reversed by
// guessing. It panics if len(password) != PasswordLen: the server makes
// the password, so a wrong length is a bug.
func Digest(password []byte) []byte {
	if len(password) != PasswordLen {
		panic(fmt.Sprintf("session: password of %d bytes, want %d", len(password), PasswordLen))
	}
	d := sha256.Sum256(password)
	return d[:]
}

// CheckPassword reports whether password, as sent by a client resuming a
// session, matches the digest in the session record. It takes the same
// time whatever the bytes of the password, and returns false for a
// password of the wrong length or a malformed digest.
func CheckPassword(digest, password []byte) bool {
	if len(password) != PasswordLen || len(digest) != sha256.Size {
		return false
	}
	d := sha256.Sum256(password)
	return subtle.ConstantTimeCompare(digest, d[:]) == 1
}

package migrations

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
)

// Fingerprint is a hash of the embedded migrations, names and contents: two
// binaries with the same Fingerprint build the same schema. Tests name
// their template database by it (see package pgtest).
func Fingerprint() string {
	h := sha256.New()
	names, err := fs.Glob(files, "*.sql")
	if err != nil { // only for a malformed pattern
		panic(err)
	}
	for _, name := range names { // fs.Glob sorts them
		data, err := files.ReadFile(name)
		if err != nil {
			panic(err) // embedded files are always readable
		}
		h.Write([]byte(name))
		h.Write([]byte{0})
		h.Write(data)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

package console

import (
	"crypto/sha256"
	"crypto/subtle"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// users checks passwords. It is read-only after newUsers.
type users struct {
	byName map[string]User
}

func newUsers(list []User) *users {
	u := &users{byName: make(map[string]User, len(list))}
	for _, x := range list {
		u.byName[x.Name] = x
	}
	return u
}

// dummyHash is compared against for an unknown user, so that a wrong
// name costs what a wrong password does.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("no such user"), bcrypt.MinCost)

// check returns the user called name, and whether password is theirs.
func (u *users) check(name, password string) (User, bool) {
	x, ok := u.byName[name]
	if !ok {
		bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
		return User{}, false
	}
	return x, passwordMatches(x.Password, password)
}

// passwordMatches compares a given password with a configured one (a
// bcrypt hash, or the password itself) in constant time.
func passwordMatches(configured, given string) bool {
	if isBcrypt(configured) {
		return bcrypt.CompareHashAndPassword([]byte(configured), []byte(given)) == nil
	}
	a, b := sha256.Sum256([]byte(configured)), sha256.Sum256([]byte(given))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

func isBcrypt(s string) bool {
	for _, p := range []string{"$2a$", "$2b$", "$2y$"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

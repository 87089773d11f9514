package auth

import (
	"fmt"
	"net/mail"
	"strings"
	"unicode"

	"golang.org/x/net/idna"
	"golang.org/x/text/secure/precis"
	"golang.org/x/text/unicode/norm"

	"github.com/seshat-host/seshat/actors/agent"
)

// NormalizeEmail returns the stored form of an email, or an error
// wrapping agent.ErrInvalid saying why it is refused (see
// normalizeEmail). Whoever matches typed emails against accounts' (the
// invitations of the tenancy family) normalises them with it.
func NormalizeEmail(email string) (string, error) { return normalizeEmail(email) }

// normalizeEmail returns the one stored form of an address, so that two
// spellings of the same address are the same account, and refuses
// addresses made to pass for another:
//
//   - it trims, applies Unicode NFKC (full-width "ａｄａ" is "ada"), and
//     then PRECIS's UsernameCaseMapped profile (RFC 8265: width mapping,
//     lower case, NFC, the bidi rule), the IETF's rules for identifiers
//     people type;
//   - it refuses control, format and other invisible characters (zero-
//     width spaces and joiners, bidi overrides and marks), which PRECIS
//     disallows too, with a message that says so;
//   - it refuses a label (the parts between "@", "." and "+") that mixes
//     scripts, such as a Cyrillic "а" among Latin letters, except the
//     mixes a language writes (Han with kana or Hangul);
//   - it writes the domain in its Unicode form (IDNA, UTS #46), so that
//     a Punycode spelling is the same address and its labels meet the
//     same script check, and refuses a domain IDNA refuses.
//
// What is left must be a bare address (no display name), with a local
// part and a domain.
func normalizeEmail(email string) (string, error) {
	invalid := fmt.Errorf("%w: email must be a valid address such as name@example.com", agent.ErrInvalid)
	email = strings.TrimSpace(email)
	if email == "" || len(email) > maxEmail {
		return "", invalid
	}
	for _, r := range email {
		if invisible(r) {
			return "", fmt.Errorf("%w: email must not contain invisible, control or bidirectional characters (found %U)", agent.ErrInvalid, r)
		}
	}
	mapped, err := precis.UsernameCaseMapped.String(norm.NFKC.String(email))
	if err != nil {
		// Spaces, symbols and compatibility characters PRECIS disallows.
		return "", invalid
	}
	addr, err := mail.ParseAddress(mapped)
	if err != nil || addr.Name != "" || addr.Address != mapped {
		return "", invalid
	}
	local, domain, _ := strings.Cut(addr.Address, "@")
	if local == "" || domain == "" || strings.HasPrefix(domain, "[") {
		return "", invalid
	}
	// One spelling per domain: its Unicode form, so that "bücher.de" and
	// "xn--bcher-kva.de" are one address and a look-alike hidden in
	// Punycode meets the script check below.
	if domain, err = emailDomains.ToUnicode(domain); err != nil {
		return "", fmt.Errorf("%w: email's domain is not a valid domain name", agent.ErrInvalid)
	}
	mapped = local + "@" + domain
	for _, label := range strings.FieldsFunc(mapped, func(r rune) bool { return r == '@' || r == '.' || r == '+' }) {
		if mixedScripts(label) {
			return "", fmt.Errorf("%w: email mixes scripts in %q (look-alike letters such as Cyrillic among Latin)", agent.ErrInvalid, label)
		}
	}
	if len(mapped) > maxEmail {
		return "", invalid
	}
	return mapped, nil
}

// emailDomains maps and checks an email's domain as a resolver looks it
// up (UTS #46: IDNA2008 with its mapping, the bidi and joiner rules,
// hyphen rules, DNS lengths), leaving out only STD3's hostname
// character rule, which mail domains need not meet.
var emailDomains = idna.New(idna.MapForLookup(), idna.BidiRule(), idna.CheckHyphens(true), idna.CheckJoiners(true),
	idna.VerifyDNSLength(true), idna.StrictDomainName(false))

// invisible reports whether r renders as nothing or steers rendering:
// controls, format characters (which hold the zero-width and bidi ones),
// line and paragraph separators, private-use code points and the Hangul
// fillers.
func invisible(r rune) bool {
	switch r {
	case '\u115F', '\u1160', '\u3164', '\uFFA0':
		return true
	}
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs, unicode.Zl, unicode.Zp)
}

// scripts are the scripts a label's letters are checked against; Common
// and Inherited (digits, punctuation, combining marks) belong to none.
var scripts = func() map[string]*unicode.RangeTable {
	m := make(map[string]*unicode.RangeTable, len(unicode.Scripts))
	for name, t := range unicode.Scripts {
		if name != "Common" && name != "Inherited" {
			m[name] = t
		}
	}
	return m
}()

// mixedScripts reports whether label's letters come from more than one
// script, allowing only Han with Hiragana and Katakana (Japanese), with
// Hangul (Korean) or with Bopomofo (Chinese), as Unicode's "highly
// restrictive" level does (UTS #39).
func mixedScripts(label string) bool {
	seen := map[string]bool{}
	for _, r := range label {
		if r < unicode.MaxASCII {
			if unicode.IsLetter(r) {
				seen["Latin"] = true
			}
			continue
		}
		for name, t := range scripts {
			if unicode.Is(t, r) {
				seen[name] = true
				break
			}
		}
	}
	if len(seen) <= 1 {
		return false
	}
	for _, allowed := range [][]string{{"Han", "Hiragana", "Katakana"}, {"Han", "Hangul"}, {"Han", "Bopomofo"}} {
		n := 0
		for _, s := range allowed {
			if seen[s] {
				n++
			}
		}
		if n == len(seen) {
			return false
		}
	}
	return true
}

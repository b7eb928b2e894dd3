package layouts

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Initials returns up to two upper-case initials for the placeholder of a
// tile whose video is off: the first letter or digit of the first and of the
// last word of name ("Ada Lovelace" → "AL", "Jean-Luc Picard" → "JP", "ada"
// → "A", "山田 太郎" → "山太").
//
// Words are separated by spaces, hyphens, dots and underscores; text in
// parentheses or brackets ("Ada Lovelace (she/her)") is ignored, an e-mail
// address counts only up to its '@', punctuation and symbols are skipped and
// invalid UTF-8 is ignored. A name without letters or digits gives "".
func Initials(name string) string {
	if at := strings.IndexByte(name, '@'); at > 0 && !strings.ContainsFunc(name[:at], unicode.IsSpace) {
		name = name[:at]
	}
	var b strings.Builder
	depth := 0
	for _, r := range name {
		switch r {
		case '(', '[':
			depth++
			b.WriteByte(' ')
			continue
		case ')', ']':
			depth = max(depth-1, 0)
			b.WriteByte(' ')
			continue
		}
		if depth == 0 && r != utf8.RuneError {
			b.WriteRune(r)
		}
	}
	words := strings.FieldsFunc(b.String(), func(r rune) bool {
		return unicode.IsSpace(r) || r == '-' || r == '.' || r == '_'
	})
	var firsts []rune
	for _, w := range words {
		for _, r := range w {
			if unicode.IsLetter(r) || unicode.IsDigit(r) {
				firsts = append(firsts, unicode.ToUpper(r))
				break
			}
		}
	}
	switch len(firsts) {
	case 0:
		return ""
	case 1:
		return string(firsts[0])
	}
	return string([]rune{firsts[0], firsts[len(firsts)-1]})
}

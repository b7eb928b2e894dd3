package encode

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
)

// Options steer encoder selection; the zero value means "auto".
type Options struct {
	// Prefer is "" or "auto" (hardware families in the order of Families,
	// then software), "software" (only software encoders are considered),
	// or a hardware family ("nvenc", "va", "vaapi", "qsv") to try first,
	// followed by the rest of the default order.
	Prefer string
	// Force names the exact element factory to use (for example
	// "vaapih264enc"). It must be one this package knows for the codec, be
	// installed and pass READY; otherwise Select fails: there is no silent
	// fallback from a forced choice.
	Force string
}

// Attempt records a candidate Select did not choose, and why.
type Attempt struct {
	Element  string `json:"element"`
	Hardware bool   `json:"hardware"`
	Outcome  string `json:"outcome"`          // OutcomeAbsent, OutcomeReadyFailed or OutcomeSkipped
	Detail   string `json:"detail,omitempty"` // READY error text, or the option that skipped it
}

// Attempt outcomes.
const (
	OutcomeAbsent      = "absent"       // no such element factory registered
	OutcomeReadyFailed = "ready-failed" // present, but NULL→READY failed
	OutcomeSkipped     = "skipped"      // not considered because of Options.Prefer
)

func (a Attempt) String() string {
	if a.Detail == "" {
		return a.Element + ": " + a.Outcome
	}
	return a.Element + ": " + a.Outcome + " (" + a.Detail + ")"
}

// Choice is the outcome of Select; it is what the recording JSON reports as
// the encoder used for an encoding.
type Choice struct {
	Codec    string    `json:"codec"`
	Element  string    `json:"element"` // element factory name, e.g. "x264enc"
	Hardware bool      `json:"hardware"`
	Reason   string    `json:"reason"` // why this one (human-readable)
	Tried    []Attempt `json:"tried,omitempty"`
}

// Select picks the encoder element for codec (h264, h265, vp8, vp9, aac or
// opus): each candidate in order must be registered (reg.Has) and reach READY
// (reg.TryReady); the first that does wins. Rejected candidates are logged
// (absent at debug, READY failures at warn) and recorded in Choice.Tried; the
// choice is logged at info with its reason. log may be nil (slog.Default).
func Select(codec string, opts Options, reg Registry, log *slog.Logger) (Choice, error) {
	if log == nil {
		log = slog.Default()
	}
	known := append(slices.Clone(VideoCodecs), AudioCodecs...)
	if !slices.Contains(known, codec) {
		return Choice{}, &FieldError{Field: "codec", Value: quoted(codec), Reason: "unknown codec (want " + strings.Join(known, ", ") + ")"}
	}
	if opts.Force != "" {
		return selectForced(codec, opts.Force, reg, log)
	}
	order, err := ordered(codec, opts.Prefer)
	if err != nil {
		return Choice{}, err
	}

	var tried []Attempt
	reject := func(c candidate, outcome, detail string) {
		a := Attempt{Element: c.factory, Hardware: c.hardware(), Outcome: outcome, Detail: detail}
		tried = append(tried, a)
		level := slog.LevelDebug
		if outcome == OutcomeReadyFailed {
			level = slog.LevelWarn // installed but unusable: worth a look
		}
		log.Log(context.Background(), level, "encoder candidate rejected", "codec", codec, "element", c.factory, "outcome", outcome, "detail", detail)
	}
	for _, c := range order {
		if opts.Prefer == FamilySoftware && c.hardware() {
			reject(c, OutcomeSkipped, "prefer=software")
			continue
		}
		if !reg.Has(c.factory) {
			reject(c, OutcomeAbsent, "")
			continue
		}
		if err := reg.TryReady(c.factory); err != nil {
			reject(c, OutcomeReadyFailed, err.Error())
			continue
		}
		ch := Choice{Codec: codec, Element: c.factory, Hardware: c.hardware(), Reason: reason(c, opts, tried), Tried: tried}
		log.Info("encoder selected", "codec", codec, "element", ch.Element, "hardware", ch.Hardware, "reason", ch.Reason)
		return ch, nil
	}
	parts := make([]string, len(tried))
	for i, a := range tried {
		parts[i] = a.String()
	}
	err = fmt.Errorf("encode: %s: %w (tried %s)", codec, ErrNoEncoder, strings.Join(parts, "; "))
	log.Error("no encoder available", "codec", codec, "error", err)
	return Choice{}, err
}

// ordered returns the candidates for codec in the order Prefer asks for.
func ordered(codec, prefer string) ([]candidate, error) {
	all := candidatesFor(codec)
	switch prefer {
	case "", "auto", FamilySoftware:
		return all, nil
	}
	if !slices.Contains(Families, prefer) {
		return nil, &FieldError{Field: "Options.Prefer", Value: quoted(prefer), Reason: "unknown (want auto, " + strings.Join(Families, ", ") + ")"}
	}
	first := slices.DeleteFunc(slices.Clone(all), func(c candidate) bool { return c.family != prefer })
	rest := slices.DeleteFunc(slices.Clone(all), func(c candidate) bool { return c.family == prefer })
	return append(first, rest...), nil
}

// reason explains a non-forced choice.
func reason(c candidate, opts Options, tried []Attempt) string {
	switch {
	case c.hardware() && opts.Prefer == c.family:
		return "preferred " + c.family + " encoder present and passed READY"
	case c.hardware():
		return c.family + " hardware encoder present and passed READY"
	case opts.Prefer == FamilySoftware:
		return "software encoder preferred by configuration"
	}
	var hw []string
	for _, a := range tried {
		if a.Hardware {
			hw = append(hw, a.String())
		}
	}
	if len(hw) == 0 {
		return "software encoder (no hardware encoder exists for this codec)"
	}
	return "software fallback: no working hardware encoder (" + strings.Join(hw, "; ") + ")"
}

func selectForced(codec, factory string, reg Registry, log *slog.Logger) (Choice, error) {
	c, ok := lookup(factory)
	if !ok || c.codec != codec {
		return Choice{}, &FieldError{Field: "Options.Force", Value: quoted(factory), Reason: fmt.Sprintf("not a known %s encoder (want one of %s)", codec, strings.Join(factoriesFor(codec), ", ")), Err: ErrNoEncoder}
	}
	if !reg.Has(factory) {
		return Choice{}, &FieldError{Field: "Options.Force", Value: quoted(factory), Reason: "element is not installed (forced choice: no fallback)", Err: ErrNoEncoder}
	}
	if err := reg.TryReady(factory); err != nil {
		return Choice{}, &FieldError{Field: "Options.Force", Value: quoted(factory), Reason: "element failed to reach READY (forced choice: no fallback): " + err.Error(), Err: ErrNoEncoder}
	}
	ch := Choice{Codec: codec, Element: factory, Hardware: c.hardware(), Reason: "forced by configuration"}
	log.Info("encoder selected", "codec", codec, "element", ch.Element, "hardware", ch.Hardware, "reason", ch.Reason)
	return ch, nil
}

package layouts_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/streamline-media/streamline/layouts"
)

func ExampleCompute() {
	spec, err := layouts.ParseSpec([]byte(`{"template":"speaker","gap":8}`))
	if err != nil {
		panic(err)
	}
	start := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	participants := []layouts.Participant{
		{ID: "ada", Name: "Ada Lovelace", JoinedAt: start},
		{ID: "alan", Name: "Alan Turing", JoinedAt: start.Add(time.Minute), Speaking: true},
		{ID: "grace", Name: "Grace Hopper", JoinedAt: start.Add(2 * time.Minute)},
	}
	l, err := layouts.Compute(spec, participants, layouts.Frame{Width: 1280, Height: 720})
	if err != nil {
		panic(err)
	}
	for _, t := range l.Tiles {
		fmt.Printf("%-5s %-9s z=%d cell=%v content=%v\n", t.ParticipantID, t.Role, t.Z, t.Rect, t.Content)
	}
	// Output:
	// alan  stage     z=0 cell={8 8 1264 568} content={134 8 1010 568}
	// ada   filmstrip z=1 cell={410 584 226 128} content={410 584 226 128}
	// grace filmstrip z=1 cell={644 584 226 128} content={644 584 226 128}
}

func ExampleParseSpec() {
	_, err := layouts.ParseSpec([]byte(`{"template":"custom","regions":[{"x":0,"y":0,"w":0,"h":1}]}`))
	var fe *layouts.FieldError
	fmt.Println(err)
	fmt.Println(errors.Is(err, layouts.ErrInvalidSpec), errors.As(err, &fe) && fe.Field == "regions[0].w")
	// Output:
	// layout: regions[0].w: must be in (0,1], got 0
	// true true
}

func ExampleInitials() {
	fmt.Println(layouts.Initials("Ada Lovelace"), layouts.Initials("grace.hopper@example.com"))
	// Output: AL GH
}

// Package layouts computes where the compositor draws each participant's
// video. It is pure Go (standard library only, no GStreamer): given a layout
// Spec, the room's video tracks as Participants and the output Frame size,
// Compute returns a Layout of integer, even-aligned Tiles with a z-order,
// ready to become compositor pad properties (xpos, ypos, width, height,
// zorder).
//
// # The spec
//
// Spec is the JSON body of PUT /v1/rooms/{room}/layout:
//
//	{
//	  "template": "grid" | "speaker" | "presentation" | "pip" | "single" | "custom",
//	  "focus": "participant-id",
//	  "regions": [ {"id": "main", "x": 0, "y": 0, "w": 0.75, "h": 1, "z": 1,
//	                "max_tiles": 1, "participants": ["@focus"]}, ... ],
//	  "background": "#rrggbb",
//	  "gap": 4,
//	  "fit": "contain" | "cover",
//	  "labels": true,
//	  "position": "bottom" | "top" | "left" | "right" | "top_left" | ...
//	}
//
// Only "template" is required. ParseSpec decodes it strictly and validates
// it; every error wraps ErrInvalidSpec and is a *FieldError naming the field,
// e.g. "layout: regions[2].w: must be in (0,1]", which suits a 422 response.
// Compute validates again, so a Spec built in Go is checked as well.
//
// # Geometry
//
// Coordinates are output pixels with the origin at the top-left. Every cell
// and content rectangle has even X, Y, Width and Height (I420 and most
// encoders need it), is at least 2x2 and lies inside the frame (an odd frame
// side loses its last pixel). A Tile's cell is the area it owns; its Content
// is where the scaled video goes: letterboxed inside the cell with
// FitContain, the whole cell with FitCover (Crop then says which part of the
// source stays visible). Grid-like arrangements (the grid template,
// filmstrips, custom regions with room for several tiles) use equal cells of
// one aspect ratio, gap pixels apart and at least gap from the edges, centred,
// with a partial last row centred too. Stages (the large tile of speaker,
// presentation, pip and single, and one-tile custom regions) fill their area.
//
// Compute is deterministic: participants are ordered by JoinedAt with ties in
// input order, and nothing depends on map iteration or time. It does not
// panic; invalid input gives an error wrapping ErrInvalidSpec,
// ErrInvalidFrame, ErrInvalidParticipant or ErrFrameTooSmall.
//
// Initials gives the text for a placeholder tile when a video is off.
package layouts

package compositor

import "github.com/streamline-media/streamline/ingest"

// opusDecoder is the decoder a room's Opus tracks come with (ingest's codec
// table), so the tests mix what the server mixes.
var opusDecoder = func() string {
	c, err := ingest.LookupCodec("opus")
	if err != nil {
		panic(err)
	}
	return c.Decoder
}()

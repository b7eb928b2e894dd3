// Package encode turns raw mixed media into encoded outputs: it picks an
// encoder element for each codec by probing the GStreamer registry (hardware
// first, when present and able to reach READY; software otherwise), builds
// encoder bins with correctly typed element properties, and builds muxer
// branches (fragmented MP4, WebM, Matroska) that can be attached to a tee at
// runtime.
//
// The flow for one recording is
//
//	choice, err := encode.Select("h264", opts, encode.NewGstRegistry(0), log)
//	venc, err := encode.VideoEncoder(choice, encode.VideoSettings{...})
//	mux, err := encode.Muxer(encode.MuxSpec{Format: "mp4", Video: "h264", Audio: "aac", Location: path})
//
// then compositor ! venc.Bin ! tee ! mux.Bin (and more branches on the tee).
// Choice.Element is what the recording JSON reports as the encoder used.
//
// Hardware encoders are a runtime property of the machine (GSTREAMER.md
// pitfall 12): an element factory may be absent (plugin not built, no
// driver), or present but unable to open the device. Select therefore
// checks both, through the small Registry interface, so that selection order
// is unit-testable with FakeRegistry.
package encode

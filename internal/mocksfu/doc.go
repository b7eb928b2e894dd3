// Package mocksfu simulates an SFU forwarding real participants' media to a
// Streamline server, for tests and load generation (cmd/mocker is its CLI).
//
// It creates the room and the tracks through the REST API, then sends live
// GStreamer-encoded test media (VP8/VP9/H.264 video with a moving pattern and
// the participant's name, Opus sine tones at a distinct pitch per
// participant) as RTP over UDP, with RTCP, join/leave schedules, mutes and
// seeded network impairments.
//
// Use in a test:
//
//	sfu, err := mocksfu.New(mocksfu.Config{Server: srv.URL, Room: "r1", N: 2, Duration: 3 * time.Second})
//	if err != nil { ... }
//	if err := sfu.Run(ctx); err != nil { ... } // blocks; everything is torn down on return
//	st := sfu.Stats()                          // per-track counters, also while running
//
// # What the server sees
//
// Signalling (JSON over HTTP): POST /v1/rooms (409 -> GET /v1/rooms/{room}),
// POST /v1/rooms/{room}/tracks per track before its first packet, PATCH
// {"muted": bool} on mute changes, DELETE of the tracks when a participant
// leaves (after its last packet and its RTCP BYE), and with Record a
// "tracks" recording created after the initial participants are set up and
// DELETEd at the end before the participants leave.
//
// Transport: one UDP socket per participant stay carries RTP and RTCP of all
// its tracks (RFC 5761 multiplexing). A re-join uses a new socket (source
// port), new SSRCs, new random sequence numbers and timestamps, and the same
// track IDs as before. RTCP sent to the participant's source address is read:
// PLI and FIR (a repeated FIR sequence number is ignored, RFC 5104) force a
// keyframe; RR/SR report blocks are counted; a NACK resends the packets it
// names from the last 512 forwarded on that SSRC, unchanged, as an SFU
// without RTX does (Config.NoRetransmit ignores NACKs).
//
// RTP: payload type 96 (video, 90 kHz) / 111 (Opus, 48 kHz), datagrams of at
// most 1200 bytes, VP8/VP9 with 15-bit picture IDs, H.264 constrained
// baseline, one slice per frame, SPS/PPS in a STAP-A before every IDR, Opus in 20 ms frames
// (timestamp steps of 960). With DTX, silence sends a packet every ~400 ms and
// the first packet of a talk spurt has the marker bit. Keyframes come at the
// start, on PLI/FIR, after a resolution change and at most KeyframeInterval
// apart. ResolutionChange switches the encoded size without any signalling
// (new keyframe at the new size).
//
// Mutes behave like an SFU that stops forwarding: no RTP and no SR for the
// muted track; after unmute sequence numbers continue without a gap (rewritten
// as SFUs do), timestamps jump by the muted time, and video resumes with a
// keyframe.
//
// RTCP: every ~1 s per track a compound SR + SDES (one CNAME per participant
// stay). The SR maps NTP to RTP time from the capture times of the media
// (the live source's timestamps, as a browser's SR does); its packet/octet
// counts include packets later dropped by the loss impairment (the
// "network" is behind the SFU).
//
// Impairments (per participant or global) apply to RTP only: random loss,
// reordering (a packet is held behind the next 1-2 packets of its track),
// duplication (identical datagram twice) and jitter (a random delay that
// keeps packet order). With a Seed the decisions, SSRCs and offsets are
// reproducible.
package mocksfu

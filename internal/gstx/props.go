package gstx

/*
#cgo pkg-config: gstreamer-1.0
#include <stdlib.h>
#include <gst/gst.h>

static gboolean sl_set_structure(void *obj, const char *prop, const char *desc) {
	GstStructure *st = gst_structure_from_string(desc, NULL);
	if (st == NULL)
		return FALSE;
	g_object_set(G_OBJECT(obj), prop, st, NULL);
	gst_structure_free(st);
	return TRUE;
}
*/
import "C"

import (
	"fmt"
	"unsafe"

	"github.com/go-gst/go-gst/gst"
)

// SetPadStructure sets a GstStructure-typed property of a pad (such as a
// compositor pad's converter-config) from its string form.
func SetPadStructure(pad *gst.Pad, prop, structure string) error {
	cp, cs := C.CString(prop), C.CString(structure)
	defer C.free(unsafe.Pointer(cp))
	defer C.free(unsafe.Pointer(cs))
	if C.sl_set_structure(unsafe.Pointer(pad.Instance()), cp, cs) == 0 {
		return fmt.Errorf("%s: not a structure: %q", prop, structure)
	}
	return nil
}

//! Custom metas (`GstCustomMeta`: a registered name and a structure) read and written
//! through their C names, without the per-call string copies of the safe API.

use std::ffi::CStr;

use gst::meta::CustomMeta;

/// The structure of the custom meta `name` on `buffer`, if it carries one. The name is a
/// C string constant: `CustomMeta::from_buffer` copies a `&str` into a new C string on
/// every call, which the elements do on every frame.
pub fn custom_structure<'a>(
    buffer: &'a gst::BufferRef,
    name: &'static CStr,
) -> Option<&'a gst::StructureRef> {
    // SAFETY: `buffer` is a valid buffer for 'a and `name` a NUL-terminated string; the
    // meta and its structure live as long as the buffer holds the meta, and the shared
    // reference to the buffer keeps it from being removed for 'a.
    unsafe {
        let meta = gst::ffi::gst_buffer_get_custom_meta(buffer.as_mut_ptr(), name.as_ptr());
        if meta.is_null() {
            return None;
        }
        let s = gst::ffi::gst_custom_meta_get_structure(meta);
        Some(gst::StructureRef::from_glib_borrow(s))
    }
}

/// Adds the custom meta `name` (registered) to `buffer` and returns its structure to fill.
pub fn add_custom_structure<'a>(
    buffer: &'a mut gst::BufferRef,
    name: &'static CStr,
) -> Option<&'a mut gst::StructureRef> {
    // SAFETY: as above; the exclusive reference to the buffer makes the structure ours.
    unsafe {
        let meta = gst::ffi::gst_buffer_add_custom_meta(buffer.as_mut_ptr(), name.as_ptr());
        if meta.is_null() {
            return None;
        }
        let s = gst::ffi::gst_custom_meta_get_structure(meta);
        Some(gst::StructureRef::from_glib_borrow_mut(s))
    }
}

/// Registers the custom meta `name` (idempotent).
pub fn register(name: &str) {
    if !CustomMeta::is_registered(name) {
        CustomMeta::register(name, &[]);
    }
}

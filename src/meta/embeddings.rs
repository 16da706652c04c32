//! `FootfallEmbeddingMeta`: the embeddings `faceembedder` computed on a buffer (track id →
//! 128-d embedding + quality). A Rust-only meta, not a GstStructure, so embeddings never end
//! up in structure dumps, ROI params, bus messages or logs; `facecounter` removes it so it
//! does not travel further downstream.

use std::fmt;
use std::mem::ManuallyDrop;

use gst::glib;
use gst::prelude::*;

use crate::embed::embedder::Embedding;

/// One face's embedding on a buffer.
#[derive(Clone, PartialEq)]
pub struct FaceEmbedding {
    pub track_id: u64,
    pub embedding: Embedding,
    pub quality: f32,
}

// Never print embedding values, even in debug output.
impl fmt::Debug for FaceEmbedding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaceEmbedding")
            .field("track_id", &self.track_id)
            .field("quality", &self.quality)
            .finish_non_exhaustive()
    }
}

#[repr(transparent)]
pub struct EmbeddingMeta(imp::EmbeddingMeta);

// SAFETY: the meta only holds owned Rust data (a Vec of plain values).
unsafe impl Send for EmbeddingMeta {}
unsafe impl Sync for EmbeddingMeta {}

impl EmbeddingMeta {
    /// Attaches `items` to the buffer.
    pub fn add(
        buffer: &mut gst::BufferRef,
        items: Vec<FaceEmbedding>,
    ) -> gst::MetaRefMut<'_, Self, gst::meta::Standalone> {
        // SAFETY: gst_buffer_add_meta passes `params` to `init`, which moves the Vec out of it
        // (ManuallyDrop keeps it from being dropped twice).
        unsafe {
            let mut params = ManuallyDrop::new(imp::Params { items });
            let meta = gst::ffi::gst_buffer_add_meta(
                buffer.as_mut_ptr(),
                imp::meta_info(),
                &mut *params as *mut imp::Params as glib::ffi::gpointer,
            ) as *mut imp::EmbeddingMeta;
            Self::from_mut_ptr(buffer, meta)
        }
    }

    pub fn items(&self) -> &[FaceEmbedding] {
        &self.0.items
    }

    /// Fills `out` with every embedding on `buffer` (what the counter reads per frame, into
    /// a buffer it keeps: no allocation once it has grown).
    pub fn read_into(buffer: &gst::BufferRef, out: &mut Vec<FaceEmbedding>) {
        out.clear();
        for m in buffer.iter_meta::<EmbeddingMeta>() {
            out.extend_from_slice(m.items());
        }
    }

    /// All embeddings on a buffer (empty when it carries none), in a new `Vec`.
    pub fn read(buffer: &gst::BufferRef) -> Vec<FaceEmbedding> {
        buffer
            .iter_meta::<EmbeddingMeta>()
            .flat_map(|m| m.items().to_vec())
            .collect()
    }

    /// Removes every embedding meta from a buffer; returns how many embeddings were removed.
    pub fn strip(buffer: &mut gst::BufferRef) -> usize {
        let mut removed = 0;
        buffer.foreach_meta_mut(|mut meta| {
            if let Some(m) = meta.downcast_ref::<EmbeddingMeta>() {
                removed += m.items().len();
                std::ops::ControlFlow::Continue(gst::buffer::BufferMetaForeachAction::Remove)
            } else {
                std::ops::ControlFlow::Continue(gst::buffer::BufferMetaForeachAction::Keep)
            }
        });
        removed
    }
}

// SAFETY: `GstType` is the C layout registered with `meta_api()`.
unsafe impl MetaAPI for EmbeddingMeta {
    type GstType = imp::EmbeddingMeta;

    fn meta_api() -> glib::Type {
        imp::api_type()
    }
}

impl fmt::Debug for EmbeddingMeta {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.debug_struct("EmbeddingMeta")
            .field("faces", &self.items().len())
            .finish()
    }
}

mod imp {
    use std::ptr;
    use std::sync::OnceLock;

    use gst::glib;
    use gst::glib::translate::*;

    use super::FaceEmbedding;

    pub(super) struct Params {
        pub items: Vec<FaceEmbedding>,
    }

    #[repr(C)]
    pub struct EmbeddingMeta {
        parent: gst::ffi::GstMeta,
        pub(super) items: Vec<FaceEmbedding>,
    }

    pub(super) fn api_type() -> glib::Type {
        static TYPE: OnceLock<glib::Type> = OnceLock::new();
        *TYPE.get_or_init(|| unsafe {
            // No tags: the meta describes no aspect of the pixels, so elements that copy
            // tag-less metas (videoconvert, queues) keep it.
            let t = glib::Type::from_glib(gst::ffi::gst_meta_api_type_register(
                c"FootfallEmbeddingMetaAPI".as_ptr() as *const _,
                [ptr::null::<std::os::raw::c_char>()].as_ptr() as *mut *const _,
            ));
            assert_ne!(t, glib::Type::INVALID);
            t
        })
    }

    unsafe extern "C" fn init(
        meta: *mut gst::ffi::GstMeta,
        params: glib::ffi::gpointer,
        _buffer: *mut gst::ffi::GstBuffer,
    ) -> glib::ffi::gboolean {
        unsafe {
            let meta = &mut *(meta as *mut EmbeddingMeta);
            let items = if params.is_null() {
                Vec::new()
            } else {
                ptr::read(params as *const Params).items
            };
            ptr::write(&mut meta.items, items);
        }
        true.into_glib()
    }

    unsafe extern "C" fn free(meta: *mut gst::ffi::GstMeta, _buffer: *mut gst::ffi::GstBuffer) {
        unsafe {
            let meta = &mut *(meta as *mut EmbeddingMeta);
            ptr::drop_in_place(&mut meta.items);
        }
    }

    unsafe extern "C" fn transform(
        dest: *mut gst::ffi::GstBuffer,
        meta: *mut gst::ffi::GstMeta,
        _buffer: *mut gst::ffi::GstBuffer,
        _type: glib::ffi::GQuark,
        _data: glib::ffi::gpointer,
    ) -> glib::ffi::gboolean {
        unsafe {
            let meta = &*(meta as *mut EmbeddingMeta);
            super::EmbeddingMeta::add(gst::BufferRef::from_mut_ptr(dest), meta.items.clone());
        }
        true.into_glib()
    }

    pub(super) fn meta_info() -> *const gst::ffi::GstMetaInfo {
        struct Info(ptr::NonNull<gst::ffi::GstMetaInfo>);
        // SAFETY: the registered GstMetaInfo is immutable and lives for the process.
        unsafe impl Send for Info {}
        unsafe impl Sync for Info {}
        static INFO: OnceLock<Info> = OnceLock::new();
        INFO.get_or_init(|| unsafe {
            Info(
                ptr::NonNull::new(gst::ffi::gst_meta_register(
                    api_type().into_glib(),
                    c"FootfallEmbeddingMeta".as_ptr() as *const _,
                    std::mem::size_of::<EmbeddingMeta>(),
                    Some(init),
                    Some(free),
                    Some(transform),
                ) as *mut gst::ffi::GstMetaInfo)
                .expect("registering FootfallEmbeddingMeta"),
            )
        })
        .0
        .as_ptr()
    }
}
